//! `clawhost backup` and `clawhost restore`: the same work as the settings page, from the
//! server's shell. A restore needs the server stopped (it holds the instance's lock).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::backup::make::{self, Output};
use crate::backup::{self, Instance, commit, restore};
use crate::config::Config;
use crate::gateway::launch::{Tool, gateway_home};
use crate::gateway::paths::Paths;
use crate::secrets::SecretBox;
use crate::store::{EventKind, NewEvent, SharedStore};

fn instance(config: &Config, store: SharedStore) -> anyhow::Result<(Instance, Option<Tool>)> {
    let default_key = config.data_dir.join("secret.key");
    let sealer = SecretBox::load_or_create(
        &config.secret_key_file,
        config.secret_key_file == default_key,
    )?;
    let paths = Paths {
        data_dir: config.data_dir.clone(),
        runtime_dir: config.runtime_dir.clone(),
    };
    let tool = Tool::locate(&paths, &config.gateway, &gateway_home(&config.data_dir)).ok();
    let instance = Instance {
        data_dir: config.data_dir.clone(),
        state_dir: paths.state_dir(),
        config_file: config.settings_file.clone(),
        secret_key_file: config.secret_key_file.clone(),
        store,
        sealer: Arc::new(sealer),
    };
    Ok((instance, tool))
}

fn passphrase(file: Option<&Path>) -> anyhow::Result<Option<age::secrecy::SecretString>> {
    Ok(file.map(backup::passphrase_from_file).transpose()?)
}

fn say(step: &str) {
    println!("{step}");
}

pub(super) fn backup(
    runtime: &tokio::runtime::Runtime,
    config: &Config,
    store: SharedStore,
    output: Option<PathBuf>,
    passphrase_file: Option<&Path>,
) -> anyhow::Result<()> {
    let passphrase = passphrase(passphrase_file)?;
    let (instance, tool) = instance(config, store)?;
    let into_kept = output.is_none();
    let output = match output {
        Some(file) => Output::File(file),
        None => Output::Into(instance.backups_dir()),
    };
    let made = runtime.block_on(make::create(
        &instance,
        tool.as_ref(),
        output,
        passphrase,
        &say,
    ))?;
    if into_kept {
        let kept = backup::list(&instance.backups_dir())?;
        for old in kept.iter().skip(config.backup.keep) {
            std::fs::remove_file(instance.backups_dir().join(&old.id))?;
        }
    }
    instance.store.record_event(&NewEvent {
        at: crate::clock::now_ms(),
        kind: EventKind::BackupCreated,
        ip: None,
        user_agent: None,
        detail: Some(format!("{} (command line)", made.path.display())),
    })?;
    if !made.manifest.encrypted {
        println!(
            "Not encrypted, so without the secret key: restored on another machine, it asks for the provider key again (give --passphrase-file to keep it)."
        );
    }
    println!("Backed up ({} bytes):", made.size);
    println!("{}", made.path.display());
    Ok(())
}

pub(super) fn restore(
    runtime: &tokio::runtime::Runtime,
    config: &Config,
    open_store: impl FnOnce() -> anyhow::Result<SharedStore>,
    file: &Path,
    passphrase_file: Option<&Path>,
) -> anyhow::Result<()> {
    let passphrase = passphrase(passphrase_file)?;
    crate::fsutil::ensure_private_dir(&config.data_dir)?;
    let _lock = crate::fsutil::lock_instance(&config.data_dir).map_err(|_| {
        anyhow::anyhow!(
            "clawhost is running with this data directory: restore from its settings page (Settings → Backups), or stop it first"
        )
    })?;
    runtime.block_on(async {
        if let Some(done) = commit::recover(&config.data_dir).await? {
            println!("{done}");
        }
        let store = open_store()?;
        let (instance, tool) = instance(config, store)?;
        let checked = restore::check(&instance, tool.as_ref(), file, passphrase, &say).await?;
        for warning in &checked.warnings {
            println!("Note: {warning}");
        }
        // The gateway of an instance with an owner runs after the restore as it did before;
        // a new instance takes the backup's word.
        let current = &instance.store;
        let wanted = if current.owner()?.is_some() {
            current.gateway_wanted_running()?
        } else {
            checked.manifest.gateway_wanted_running
        };
        if let Err(error) = restore::stage(&instance, tool.as_ref(), &checked, wanted, &say).await {
            checked.discard();
            return Err(error.into());
        }
        let before = commit::commit(&instance, checked, &say).await?;
        println!(
            "Restored. Every session ended; sign in with the password of the backup's owner. The instance as it was is in {}",
            before.display()
        );
        Ok(())
    })
}
