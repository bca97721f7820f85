//! Making a backup: each part copied into a private staging directory under
//! `<data_dir>/backups`, described in the manifest, written as one file, the staging
//! directory removed whatever happened.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use age::secrecy::SecretString;

use super::archive::{self, FORMAT, Manifest, ProviderNote, WhatsAppNote};
use super::{
    BackupError, CLAWHOST_CONFIG, DATABASE, Instance, OPENCLAW_ARCHIVE, OPENCLAW_CONFIG,
    SECRET_KEY, io_error, openclaw_json,
};
use crate::clock::{now_ms, rfc3339};

/// How a backup's staging directory in `<data_dir>/backups` begins.
pub(crate) const STAGING_PREFIX: &str = ".staging-";
use crate::crypto::{hex, random_bytes};
use crate::gateway::launch::Tool;
use crate::store::{self, DatabaseCopy};

/// Where a backup goes.
pub(crate) enum Output {
    /// A new file in this directory, named by its time.
    Into(PathBuf),
    /// This file (replaced if it exists).
    File(PathBuf),
}

/// A backup made.
#[derive(Debug)]
pub(crate) struct Made {
    pub(crate) path: PathBuf,
    pub(crate) manifest: Manifest,
    pub(crate) size: u64,
}

/// Makes a backup of `instance`, telling `progress` each step as it begins. With a
/// passphrase the file is encrypted and holds the secret key.
pub(crate) async fn create(
    instance: &Instance,
    tool: Option<&Tool>,
    output: Output,
    passphrase: Option<SecretString>,
    progress: &(dyn Fn(&str) + Send + Sync),
) -> Result<Made, BackupError> {
    let staging = new_staging(instance)?;
    let made = fill_and_write(instance, tool, output, passphrase, &staging, progress).await;
    let _ = tokio::fs::remove_dir_all(&staging).await;
    made
}

/// A private directory for one backup's parts, beside where backups go. Its name carries
/// this process's id: a start removes those whose process is gone.
fn new_staging(instance: &Instance) -> Result<PathBuf, BackupError> {
    let backups = instance.backups_dir();
    crate::fsutil::ensure_private_dir(&backups).map_err(|e| BackupError::Io {
        what: backups.display().to_string(),
        reason: e.to_string(),
    })?;
    let name = format!(
        "{STAGING_PREFIX}{}-{}",
        std::process::id(),
        hex(&random_bytes::<6>())
    );
    super::private_dir(&backups.join(name))
}

async fn fill_and_write(
    instance: &Instance,
    tool: Option<&Tool>,
    output: Output,
    passphrase: Option<SecretString>,
    staging: &Path,
    progress: &(dyn Fn(&str) + Send + Sync),
) -> Result<Made, BackupError> {
    let created = now_ms();
    progress("Copying clawhost's database");
    let database = staging.join(DATABASE);
    {
        let database = database.clone();
        store::run(&instance.store, move |s| {
            s.copy(DatabaseCopy::SnapshotInto(&database))
        })
        .await?;
    }
    let mut names = vec![DATABASE];

    let openclaw_version = openclaw_part(instance, tool, staging, progress).await?;
    if openclaw_version.is_some() {
        names.push(OPENCLAW_ARCHIVE);
    }

    progress("Copying the configuration");
    let config = instance.state_dir.join("openclaw.json");
    if copy_if_present(&config, &staging.join(OPENCLAW_CONFIG))? {
        names.push(OPENCLAW_CONFIG);
    }
    if let Some(file) = &instance.config_file
        && copy_if_present(file, &staging.join(CLAWHOST_CONFIG))?
    {
        names.push(CLAWHOST_CONFIG);
    }
    if passphrase.is_some() {
        std::fs::copy(&instance.secret_key_file, staging.join(SECRET_KEY))
            .map_err(io_error(instance.secret_key_file.display()))?;
        names.push(SECRET_KEY);
    }

    let (settings, wanted_running) = store::run(&instance.store, |s| {
        Ok((s.gateway_settings()?, s.gateway_wanted_running()?))
    })
    .await?;
    let whatsapp = super::whatsapp_changed_at(&instance.state_dir).map(|at| WhatsAppNote {
        credentials_changed_at: at,
    });

    let sealing_key = super::key_id(&instance.secret_key_file);
    progress("Writing the backup file");
    let encrypted = passphrase.is_some();
    let path = match output {
        Output::Into(dir) => dir.join(super::file_name(created, encrypted)),
        Output::File(path) => path,
    };
    let staging = staging.to_path_buf();
    let written = tokio::task::spawn_blocking(move || {
        let members = names
            .iter()
            .map(|name| archive::describe(name, &staging.join(name)))
            .collect::<Result<Vec<_>, _>>()
            .map_err(archive::ArchiveError::Io)?;
        let manifest = Manifest {
            format: FORMAT,
            created_at: rfc3339(created),
            clawhost_version: env!("CARGO_PKG_VERSION").to_owned(),
            openclaw_version,
            encrypted,
            sealing_key,
            provider: settings.map(|s| ProviderNote {
                provider: s.provider,
                model: s.model,
                key_set: s.api_key_sealed.is_some(),
            }),
            whatsapp,
            gateway_wanted_running: wanted_running,
            members,
        };
        let size = archive::write(&path, &manifest, &staging, passphrase.as_ref())?;
        Ok::<_, BackupError>(Made {
            path,
            manifest,
            size,
        })
    })
    .await
    .map_err(|e| BackupError::Io {
        what: "the backup file".into(),
        reason: e.to_string(),
    })??;
    Ok(written)
}

/// OpenClaw's state as OpenClaw backs it up, when there is any: the version that did.
async fn openclaw_part(
    instance: &Instance,
    tool: Option<&Tool>,
    staging: &Path,
    progress: &(dyn Fn(&str) + Send + Sync),
) -> Result<Option<String>, BackupError> {
    if !has_state(&instance.state_dir) {
        return Ok(None);
    }
    let tool = tool.ok_or_else(|| {
        BackupError::Refused(
            "OpenClaw's state is here but OpenClaw is not installed, and only OpenClaw can back it up: install it (the setup page, or 'clawhost install-openclaw'), then back up again".into(),
        )
    })?;
    progress("OpenClaw is backing up its state (openclaw backup create --verify)");
    let archive = staging.join(OPENCLAW_ARCHIVE);
    let args: [&OsStr; 6] = [
        "backup".as_ref(),
        "create".as_ref(),
        "--verify".as_ref(),
        "--json".as_ref(),
        "--output".as_ref(),
        archive.as_os_str(),
    ];
    openclaw_json(tool, &args, "OpenClaw's backup").await?;
    // A configured `gateway.command` reports no version of its own here.
    Ok(Some(
        tool.version.clone().unwrap_or_else(|| "unknown".into()),
    ))
}

/// Whether OpenClaw has left anything in its state directory.
fn has_state(state_dir: &Path) -> bool {
    std::fs::read_dir(state_dir).is_ok_and(|mut entries| entries.next().is_some())
}

fn copy_if_present(from: &Path, to: &Path) -> Result<bool, BackupError> {
    match std::fs::copy(from, to) {
        Ok(_) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(false),
        Err(e) => Err(io_error(from.display())(e)),
    }
}
