//! OpenClaw updates that roll themselves back.
//!
//! An update installs the new version beside the running one, checks the configuration with
//! it (`openclaw config validate`) and takes a backup, all while the gateway runs; only then
//! does it stop the gateway, keep a copy of OpenClaw's state, switch the runtime and start
//! again. The new version must become ready, answer `health` and `channels.status` over its
//! RPC within the readiness window; otherwise the runtime, `openclaw.json` and OpenClaw's
//! state go back to what they were, the old version starts, and the events say why (with the
//! end of its log). The runtime replaced stays as `previous`, for a rollback by hand.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::backup::service::Backups;
use crate::clock::{now_ms, rfc3339};
use crate::gateway::runtime;
use crate::gateway::supervisor::Gateway;
use crate::store::{self, EventKind, NewEvent, SharedStore};

mod checks;
mod snapshot;
mod versions;

pub(crate) use versions::Versions;

/// The most an update's steps before the switch may take (the install is most of it).
const PREPARE_TIMEOUT: Duration = Duration::from_mins(15);
/// OpenClaw's state as it was before the last switch, in the data directory.
const SNAPSHOT: &str = "before-update";

#[derive(Debug, thiserror::Error)]
pub(crate) enum UpdateError {
    #[error("{0}")]
    Refused(String),
    #[error("an update or a rollback is already under way")]
    Busy,
}

/// How the last update (or rollback) ended, for the dashboard.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub(crate) struct Outcome {
    pub(crate) at: String,
    pub(crate) from: String,
    pub(crate) to: String,
    /// `updated`, `refused` (nothing changed), `rolled_back` (the new version failed and the
    /// old one runs again), or `switched_back` (a rollback by hand).
    pub(crate) result: &'static str,
    pub(crate) detail: String,
    /// The end of the failed version's log.
    pub(crate) log_tail: Vec<String>,
}

pub(crate) struct Updater {
    gateway: Arc<Gateway>,
    backups: Arc<Backups>,
    store: SharedStore,
    runtime_dir: PathBuf,
    data_dir: PathBuf,
    busy: Arc<tokio::sync::Mutex<()>>,
    last: Mutex<Option<Outcome>>,
    pub(crate) versions: Versions,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
}

use checks::Failed;
use snapshot::{restore_state, snapshot_state};

impl Updater {
    pub(crate) fn new(
        gateway: Arc<Gateway>,
        backups: Arc<Backups>,
        store: SharedStore,
        runtime_dir: PathBuf,
        data_dir: PathBuf,
    ) -> Self {
        Self {
            gateway,
            backups,
            store,
            runtime_dir,
            data_dir,
            busy: Arc::new(tokio::sync::Mutex::new(())),
            last: Mutex::new(None),
            versions: Versions::default(),
            tasks: Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn runtime_dir(&self) -> &Path {
        &self.runtime_dir
    }

    pub(crate) fn last(&self) -> Option<Outcome> {
        self.last
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    pub(crate) fn updating(&self) -> bool {
        self.busy.try_lock().is_err()
    }

    /// The stable releases the npm registry offers, newest first, as last seen (looked up
    /// again in the background when an hour old), and why not when the lookup failed.
    pub(crate) fn available(self: &Arc<Self>) -> (Vec<String>, Option<String>) {
        let (known, stale) = self.versions.known();
        if stale && self.versions.start_asking() {
            let this = self.clone();
            self.spawn(async move { this.versions.ask().await });
        }
        known
    }

    /// Starts an update to `version`; its steps go out on the gateway's progress stream.
    pub(crate) fn start_update(
        self: &Arc<Self>,
        version: String,
        event: NewEvent,
    ) -> Result<(), UpdateError> {
        let guard = self
            .busy
            .clone()
            .try_lock_owned()
            .map_err(|_| UpdateError::Busy)?;
        let this = self.clone();
        self.spawn(async move {
            let _guard = guard;
            let outcome = this.update(&version, event).await;
            this.finish(outcome).await;
        });
        Ok(())
    }

    /// Goes back to the runtime the last update replaced, and to OpenClaw's state of then.
    pub(crate) fn start_rollback(self: &Arc<Self>, event: NewEvent) -> Result<(), UpdateError> {
        let Some(previous) = runtime::previous(&self.runtime_dir) else {
            return Err(UpdateError::Refused(
                "There is no earlier runtime to go back to: it is kept only after an update."
                    .into(),
            ));
        };
        let guard = self
            .busy
            .clone()
            .try_lock_owned()
            .map_err(|_| UpdateError::Busy)?;
        let this = self.clone();
        self.spawn(async move {
            let _guard = guard;
            let outcome = this.switch_back(&previous.openclaw_version, event).await;
            this.finish(outcome).await;
        });
        Ok(())
    }

    /// Runs an update to its end (the command line's `update-openclaw`): how it ended.
    pub(crate) async fn update_now(&self, version: &str, event: NewEvent) -> Outcome {
        let _guard = self.busy.clone().lock_owned().await;
        let outcome = self.update(version, event).await;
        self.finish(outcome.clone()).await;
        outcome
    }

    pub(crate) async fn shut_down(&self) {
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(PoisonError::into_inner));
        for task in tasks {
            task.abort();
            let _ = task.await;
        }
    }

    fn spawn(&self, job: impl std::future::Future<Output = ()> + Send + 'static) {
        let mut tasks = self.tasks.lock().unwrap_or_else(PoisonError::into_inner);
        tasks.retain(|task| !task.is_finished());
        tasks.push(tokio::spawn(job));
    }

    async fn finish(&self, outcome: Outcome) {
        let kind = match outcome.result {
            "updated" => EventKind::OpenclawUpdated,
            "switched_back" => EventKind::OpenclawSwitchedBack,
            "rolled_back" => EventKind::OpenclawRolledBack,
            _ => EventKind::OpenclawUpdateRefused,
        };
        let event = NewEvent {
            at: now_ms(),
            kind,
            ip: None,
            user_agent: None,
            detail: Some(
                format!("{} → {}: {}", outcome.from, outcome.to, outcome.detail)
                    .chars()
                    .take(1000)
                    .collect(),
            ),
        };
        if let Err(error) = store::run(&self.store, move |s| s.record_event(&event)).await {
            tracing::warn!(%error, "could not record the update's outcome");
        }
        let phase = if outcome.result == "updated" || outcome.result == "switched_back" {
            "updated"
        } else {
            "update_failed"
        };
        self.gateway
            .report(phase, Instant::now(), PREPARE_TIMEOUT, &outcome.detail);
        *self.last.lock().unwrap_or_else(PoisonError::into_inner) = Some(outcome);
    }

    async fn update(&self, version: &str, event: NewEvent) -> Outcome {
        let from = runtime::installed(&self.runtime_dir, None)
            .await
            .map(|(v, _)| v)
            .unwrap_or_default();
        if from == version {
            let detail = format!("OpenClaw {version} is already installed.");
            return outcome(&from, version, "refused", detail);
        }
        let started = Instant::now();
        let (staged, backup) = match self.prepare(&from, version, event, started).await {
            Ok(prepared) => prepared,
            Err(detail) => {
                return outcome(
                    &from,
                    version,
                    "refused",
                    format!("{detail} Nothing changed."),
                );
            }
        };
        let snapshot = self.data_dir.join(SNAPSHOT);
        let wanted = match self.switch(version, &staged, &snapshot, started).await {
            Ok(wanted) => wanted,
            Err(detail) => {
                let _ = tokio::fs::remove_dir_all(&staged).await;
                return outcome(
                    &from,
                    version,
                    "refused",
                    format!("{detail} Nothing changed."),
                );
            }
        };
        self.say(started, &format!("Starting OpenClaw {version}"));
        let checked = match self.gateway.release(true).await {
            Ok(_) => checks::check_running(&self.gateway, version).await,
            Err(error) => Err(Failed {
                reason: error.to_string(),
                log_tail: Vec::new(),
            }),
        };
        match checked {
            Ok(()) => {
                if !wanted {
                    let _ = self.gateway.stop().await;
                }
                let detail = format!(
                    "Updated to OpenClaw {version}; OpenClaw {from} is kept to go back to (backup {backup})."
                );
                outcome(&from, version, "updated", detail)
            }
            Err(failed) => {
                self.roll_back(&from, version, wanted, &snapshot, failed)
                    .await
            }
        }
    }

    fn say(&self, started: Instant, detail: &str) {
        self.gateway
            .report("update", started, PREPARE_TIMEOUT, detail);
    }

    /// Everything while the gateway runs: the new version installed beside it, the
    /// configuration checked with it, a backup. The staged runtime and the backup's name.
    async fn prepare(
        &self,
        from: &str,
        version: &str,
        mut event: NewEvent,
        started: Instant,
    ) -> Result<(PathBuf, String), String> {
        self.say(
            started,
            &format!("Installing OpenClaw {version} beside OpenClaw {from}"),
        );
        let progress = |line: String| self.gateway.logs().push("install", &line);
        let (staged, _) = runtime::stage(&self.runtime_dir, version, &progress)
            .await
            .map_err(|e| format!("OpenClaw {version} could not be installed: {e}."))?;
        self.say(
            started,
            &format!(
                "Checking the configuration with OpenClaw {version} (openclaw config validate)"
            ),
        );
        let checked = match checks::validate_with(&self.gateway, &staged).await {
            Ok(()) => {
                self.say(started, "Backing up first");
                event.kind = EventKind::BackupCreated;
                event.detail = Some(format!("before the update to OpenClaw {version}"));
                self.backups
                    .backup_now(event)
                    .await
                    .map_err(|e| format!("The backup before the update failed: {e}."))
            }
            Err(issues) => Err(format!(
                "OpenClaw {version} does not accept the configuration: {issues}."
            )),
        };
        match checked {
            Ok(backup) => Ok((staged, backup)),
            Err(detail) => {
                let _ = tokio::fs::remove_dir_all(&staged).await;
                Err(detail)
            }
        }
    }

    /// The gateway stopped and held, OpenClaw's state copied, the staged runtime in place.
    /// Whether the owner wanted the gateway running. On an error the gateway is as it was.
    async fn switch(
        &self,
        version: &str,
        staged: &Path,
        snapshot: &Path,
        started: Instant,
    ) -> Result<bool, String> {
        self.say(started, "Stopping the gateway");
        let wanted = self
            .gateway
            .hold()
            .await
            .map_err(|e| format!("The gateway could not be stopped: {e}."))?;
        self.say(started, "Keeping a copy of OpenClaw's state");
        let state = self.gateway.paths().state_dir();
        let switched = match snapshot_state(&state, snapshot).await {
            Ok(()) => runtime::promote(&self.runtime_dir, staged)
                .await
                .map_err(|e| format!("The runtime could not be switched to {version}: {e}.")),
            Err(error) => Err(format!("OpenClaw's state could not be copied: {error}.")),
        };
        if let Err(detail) = switched {
            let _ = self.gateway.release(wanted).await;
            return Err(detail);
        }
        Ok(wanted)
    }

    /// After a failed switch: the old runtime and state back, the old version started.
    async fn roll_back(
        &self,
        from: &str,
        version: &str,
        wanted: bool,
        snapshot: &Path,
        failed: Failed,
    ) -> Outcome {
        let started = Instant::now();
        self.gateway.report(
            "update",
            started,
            PREPARE_TIMEOUT,
            &format!(
                "OpenClaw {version} failed ({}); going back to OpenClaw {from}",
                failed.reason
            ),
        );
        let mut detail = format!(
            "OpenClaw {version} failed: {}. Rolled back to OpenClaw {from}",
            failed.reason
        );
        let _ = self.gateway.hold().await;
        let state = self.gateway.paths().state_dir();
        let back = async {
            runtime::swap_with_previous(&self.runtime_dir)
                .await
                .map_err(|e| e.to_string())?;
            restore_state(snapshot, &state).await
        }
        .await;
        match back {
            Ok(()) => {
                let _ = self.gateway.release(wanted).await;
                if wanted {
                    match checks::check_running(&self.gateway, from).await {
                        Ok(()) => detail.push_str(", which runs again."),
                        Err(again) => {
                            detail = format!(
                                "{detail}, which did not come back either: {}.",
                                again.reason
                            );
                        }
                    }
                } else {
                    detail.push('.');
                }
            }
            Err(error) => {
                let _ = self.gateway.release(false).await;
                detail = format!(
                    "OpenClaw {version} failed: {}, and going back failed too: {error}. Restore the backup taken before the update.",
                    failed.reason
                );
            }
        }
        let mut outcome = outcome(from, version, "rolled_back", detail);
        outcome.log_tail = failed.log_tail;
        outcome
    }

    /// Back to the runtime the last update replaced, with OpenClaw's state of before that
    /// update (a newer version may have moved the state on, which the older one cannot read);
    /// a backup first keeps what changed since.
    async fn switch_back(&self, to: &str, mut event: NewEvent) -> Outcome {
        let started = Instant::now();
        let from = runtime::installed(&self.runtime_dir, None)
            .await
            .map(|(v, _)| v)
            .unwrap_or_default();
        let snapshot = self.data_dir.join(SNAPSHOT);
        self.say(
            started,
            &format!("Going back from OpenClaw {from} to OpenClaw {to}; backing up first"),
        );
        event.kind = EventKind::BackupCreated;
        event.detail = Some(format!("before going back to OpenClaw {to}"));
        let backup = match self.backups.backup_now(event).await {
            Ok(id) => id,
            Err(error) => {
                let detail =
                    format!("The backup before going back failed: {error}. Nothing changed.");
                return outcome(&from, to, "refused", detail);
            }
        };
        let wanted = match self.gateway.hold().await {
            Ok(wanted) => wanted,
            Err(error) => {
                let detail = format!("The gateway could not be stopped: {error}. Nothing changed.");
                return outcome(&from, to, "refused", detail);
            }
        };
        let state = self.gateway.paths().state_dir();
        let switched = async {
            runtime::swap_with_previous(&self.runtime_dir)
                .await
                .map_err(|e| e.to_string())?;
            if snapshot.is_dir() {
                restore_state(&snapshot, &state).await?;
            }
            Ok::<(), String>(())
        }
        .await;
        if let Err(error) = switched {
            let _ = self.gateway.release(false).await;
            let detail = format!(
                "Going back to OpenClaw {to} failed: {error}. Restore the backup {backup}."
            );
            return outcome(&from, to, "refused", detail);
        }
        let _ = self.gateway.release(wanted).await;
        if wanted && let Err(failed) = checks::check_running(&self.gateway, to).await {
            let mut out = outcome(
                &from,
                to,
                "refused",
                format!(
                    "OpenClaw {to} did not come back: {}. Restore the backup {backup}.",
                    failed.reason
                ),
            );
            out.log_tail = failed.log_tail;
            return out;
        }
        let detail = format!(
            "Back to OpenClaw {to} with its state of before the update (what changed since is in the backup {backup}); OpenClaw {from} is kept to go forward again."
        );
        outcome(&from, to, "switched_back", detail)
    }
}

fn outcome(from: &str, to: &str, result: &'static str, detail: String) -> Outcome {
    Outcome {
        at: rfc3339(now_ms()),
        from: from.to_owned(),
        to: to.to_owned(),
        result,
        detail,
        log_tail: Vec::new(),
    }
}
