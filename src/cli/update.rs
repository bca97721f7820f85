//! `clawhost update-openclaw V`: the dashboard's update from the server's shell, with clawhost
//! stopped (it holds the instance): a supervisor of its own runs the same update, with the
//! same checks and rollback, prints each step, and stops the gateway when done (the next
//! `serve` starts it again if it was running).

use std::sync::Arc;

use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;

use crate::backup::service::Backups;
use crate::backup::{Instance, commit};
use crate::config::{self, Config};
use crate::secrets::SecretBox;
use crate::store::{EventKind, NewEvent, SharedStore};
use crate::update::Updater;

pub(super) fn update_openclaw(
    runtime: &tokio::runtime::Runtime,
    config: &Config,
    open_store: impl FnOnce() -> anyhow::Result<SharedStore>,
    version: &str,
) -> anyhow::Result<()> {
    if config.gateway.command.is_some() {
        anyhow::bail!(
            "clawhost runs the openclaw configured in gateway.command; update that install instead"
        );
    }
    let version = config::parse_version(version).map_err(|e| anyhow::anyhow!("{e}"))?;
    crate::fsutil::ensure_private_dir(&config.data_dir)?;
    let _lock = crate::fsutil::lock_instance(&config.data_dir).map_err(|_| {
        anyhow::anyhow!(
            "clawhost is running with this data directory: update from its dashboard, or stop it first"
        )
    })?;
    runtime.block_on(async {
        if let Some(done) = commit::recover(&config.data_dir).await? {
            println!("{done}");
        }
        let state = config.data_dir.join("openclaw");
        if let Some(done) =
            crate::update::recover(&config.data_dir, &config.runtime_dir, &state).await
        {
            println!("{done}");
        }
        let store = open_store()?;
        let default_key = config.data_dir.join("secret.key");
        let sealer = Arc::new(SecretBox::load_or_create(
            &config.secret_key_file,
            config.secret_key_file == default_key,
        )?);
        let (gateway, _egress) = crate::start_gateway(config, &store, &sealer).await?;
        let instance = Instance {
            data_dir: config.data_dir.clone(),
            state_dir: state.clone(),
            config_file: config.settings_file.clone(),
            secret_key_file: config.secret_key_file.clone(),
            store: store.clone(),
            sealer,
        };
        let backups = Arc::new(Backups::new(
            instance,
            gateway.clone(),
            config.backup.clone(),
        ));
        let updater = Updater::new(
            gateway.clone(),
            backups,
            store,
            config.runtime_dir.clone(),
            config.data_dir.clone(),
        );
        let mut steps = BroadcastStream::new(gateway.subscribe_progress());
        let printing = async {
            while let Some(step) = steps.next().await {
                if let Ok(step) = step {
                    println!("{}", step.detail);
                }
            }
        };
        let event = NewEvent {
            at: crate::clock::now_ms(),
            kind: EventKind::OpenclawUpdated,
            ip: None,
            user_agent: None,
            detail: Some("command line".into()),
        };
        let outcome = tokio::select! {
            outcome = updater.update_now(&version, event) => outcome,
            () = printing => unreachable_progress(),
        };
        gateway.shut_down().await;
        for line in &outcome.log_tail {
            println!("  {line}");
        }
        for line in &outcome.advice {
            println!("OpenClaw's doctor: {line}");
        }
        println!("{}", outcome.detail);
        if outcome.result == "updated" {
            Ok(())
        } else {
            anyhow::bail!("OpenClaw {version} was not installed ({})", outcome.result)
        }
    })
}

/// The progress stream ends only with the supervisor, which outlives the update.
fn unreachable_progress() -> crate::update::Outcome {
    crate::update::Outcome {
        at: String::new(),
        from: String::new(),
        to: String::new(),
        result: "refused",
        detail: "the supervisor ended during the update".into(),
        log_tail: Vec::new(),
        advice: Vec::new(),
    }
}
