//! The update itself: everything that can be done while the gateway runs, then the switch,
//! the check, and the way back. A journal (see [`super::journal`]) stands from just before the
//! switch until the new version proved itself or the old one is back.

use std::path::{Path, PathBuf};
use std::time::Instant;

use serde::Serialize;

use super::checks::Advice;
use super::checks::{self, Failed};
use super::journal::{JOURNAL, Journal, SNAPSHOT, SNAPSHOT_OF, SnapshotOf, installed};
use super::snapshot::{restore_state, snapshot_state};
use super::{Outcome, PREPARE_TIMEOUT, Updater, outcome};
use crate::gateway::config_history::{History, Why};
use crate::gateway::runtime;
use crate::store::{EventKind, NewEvent};

impl Updater {
    pub(super) async fn update(&self, version: &str, mut event: NewEvent) -> Outcome {
        let from = installed(&self.runtime_dir).await;
        if from == version {
            let detail = format!("OpenClaw {version} is already installed.");
            return outcome(&from, version, "refused", detail);
        }
        // No backup, restore or drill from here to the end.
        let held = match self.backups.exclusive().await {
            Ok(held) => held,
            Err(error) => return outcome(&from, version, "refused", error.to_string()),
        };
        let started = Instant::now();
        let prepared = tokio::time::timeout(PREPARE_TIMEOUT, async {
            let (staged, advice) = self.stage(&from, version, started).await?;
            self.say(started, "Backing up first");
            event.kind = EventKind::BackupCreated;
            event.detail = Some(format!("before the update to OpenClaw {version}"));
            match self.backups.backup_held(&held, event).await {
                Ok(backup) => Ok((staged, advice, backup)),
                Err(error) => {
                    let _ = tokio::fs::remove_dir_all(&staged).await;
                    Err(format!("The backup before the update failed: {error}."))
                }
            }
        })
        .await
        .unwrap_or_else(|_| Err("Preparing the update took longer than 15 minutes.".into()));
        let (staged, mut advice, backup) = match prepared {
            Ok(prepared) => prepared,
            Err(detail) => {
                let detail = format!("{detail} Nothing changed.");
                return outcome(&from, version, "refused", detail);
            }
        };
        let (wanted, retired) = match self.switch(&from, version, &staged, started).await {
            Ok(switched) => switched,
            Err(detail) => {
                let _ = tokio::fs::remove_dir_all(&staged).await;
                let detail = format!("{detail} Nothing changed.");
                return outcome(&from, version, "refused", detail);
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
                runtime::forget_retired(retired).await;
                self.end_journal();
                self.say(
                    started,
                    "Probing the plugins with the new version (openclaw doctor --post-upgrade)",
                );
                advice.extend(checks::post_upgrade(&self.gateway).await);
                if !wanted {
                    let _ = self.gateway.stop().await;
                }
                let detail = format!(
                    "Updated to OpenClaw {version}; OpenClaw {from} is kept to go back to (backup {backup})."
                );
                Outcome {
                    advice,
                    ..outcome(&from, version, "updated", detail)
                }
            }
            Err(failed) => Outcome {
                advice,
                ..self
                    .roll_back(&from, version, wanted, retired, failed)
                    .await
            },
        }
    }

    fn say(&self, started: Instant, detail: &str) {
        self.gateway
            .report("update", started, PREPARE_TIMEOUT, detail);
    }

    /// The new version installed beside the running one, and the configuration and state
    /// checked with it; where it is, and what OpenClaw's doctor advised.
    async fn stage(
        &self,
        from: &str,
        version: &str,
        started: Instant,
    ) -> Result<(PathBuf, Advice), String> {
        self.say(
            started,
            &format!("Installing OpenClaw {version} beside OpenClaw {from}"),
        );
        let progress = |line: String| self.gateway.logs().push("install", &line);
        let (staged, manifest) = runtime::stage(&self.runtime_dir, version, &progress)
            .await
            .map_err(|e| format!("OpenClaw {version} could not be installed: {e}."))?;
        let checked = if manifest.openclaw_version == version {
            self.check_with(version, &staged, started).await
        } else {
            Err(format!(
                "npm installed OpenClaw {} for {version}.",
                manifest.openclaw_version
            ))
        };
        match checked {
            Ok(advice) => Ok((staged, advice)),
            Err(detail) => {
                let _ = tokio::fs::remove_dir_all(&staged).await;
                Err(detail)
            }
        }
    }

    /// The staged `version`'s verdict on the configuration and the state.
    async fn check_with(
        &self,
        version: &str,
        staged: &Path,
        started: Instant,
    ) -> Result<Advice, String> {
        self.say(
            started,
            &format!(
                "Checking the configuration with OpenClaw {version} (openclaw config validate)"
            ),
        );
        checks::validate_with(&self.gateway, staged)
            .await
            .map_err(|issues| {
                format!("OpenClaw {version} does not accept the configuration: {issues}.")
            })?;
        self.say(
            started,
            &format!("Asking OpenClaw {version}'s doctor (openclaw doctor --lint)"),
        );
        checks::lint_with(&self.gateway, staged)
            .await
            .map_err(|errors| format!("OpenClaw {version}'s doctor finds what stops it: {errors}."))
    }

    /// The gateway stopped and held, OpenClaw's state copied, the journal written, the staged
    /// runtime in place. Whether the owner wanted the gateway running, and the runtime set
    /// aside. On an error the gateway is as it was.
    async fn switch(
        &self,
        from: &str,
        version: &str,
        staged: &Path,
        started: Instant,
    ) -> Result<(bool, Option<PathBuf>), String> {
        self.say(started, "Stopping the gateway");
        let wanted = self
            .gateway
            .hold()
            .await
            .map_err(|e| format!("The gateway could not be stopped: {e}."))?;
        self.say(started, "Keeping a copy of OpenClaw's state");
        let state = self.gateway.paths().state_dir();
        let switched = async {
            snapshot_state(&state, &self.data_dir.join(SNAPSHOT))
                .await
                .map_err(|e| format!("OpenClaw's state could not be copied: {e}."))?;
            self.write(
                SNAPSHOT_OF,
                &SnapshotOf {
                    version: from.to_owned(),
                },
            )?;
            self.write(
                JOURNAL,
                &Journal {
                    from: from.to_owned(),
                    to: version.to_owned(),
                },
            )?;
            runtime::promote(&self.runtime_dir, staged)
                .await
                .map_err(|e| format!("The runtime could not be switched to {version}: {e}."))
        }
        .await;
        match switched {
            Ok(retired) => Ok((wanted, retired)),
            Err(detail) => {
                self.end_journal();
                let _ = self.gateway.release(wanted).await;
                Err(detail)
            }
        }
    }

    fn write<T: Serialize>(&self, name: &str, value: &T) -> Result<(), String> {
        let bytes = serde_json::to_vec(value).map_err(|e| e.to_string())?;
        crate::fsutil::write_atomic(&self.data_dir.join(name), &bytes)
            .map_err(|e| format!("{name} could not be written: {e}."))
    }

    fn end_journal(&self) {
        let _ = std::fs::remove_file(self.data_dir.join(JOURNAL));
    }

    /// After a failed switch: the old runtime and state back, the old version started (if
    /// it was running).
    async fn roll_back(
        &self,
        from: &str,
        version: &str,
        wanted: bool,
        retired: Option<PathBuf>,
        failed: Failed,
    ) -> Outcome {
        let started = Instant::now();
        self.say(
            started,
            &format!(
                "OpenClaw {version} failed ({}); going back to OpenClaw {from}",
                failed.reason
            ),
        );
        let mut held = self.gateway.hold().await;
        if held.is_err() {
            tokio::time::sleep(std::time::Duration::from_secs(2)).await;
            held = self.gateway.hold().await;
        }
        let back = match held {
            Ok(_) => self.back_to(from, &self.data_dir.join(SNAPSHOT)).await,
            Err(error) => Err(format!("the gateway could not be stopped: {error}")),
        };
        let mut detail = format!(
            "OpenClaw {version} failed: {}. Rolled back to OpenClaw {from}",
            failed.reason
        );
        match back {
            Ok(()) => {
                runtime::restore_retired(&self.runtime_dir, retired).await;
                self.end_journal();
                let _ = self.gateway.release(true).await;
                match checks::check_running(&self.gateway, from).await {
                    Ok(()) => detail.push_str(", which runs again."),
                    Err(again) => {
                        detail = format!(
                            "{detail}, which did not come back either: {}.",
                            again.reason
                        );
                    }
                }
                if !wanted {
                    let _ = self.gateway.stop().await;
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
        let mut out = outcome(from, version, "rolled_back", detail);
        out.log_tail = failed.log_tail;
        out
    }

    /// The runtime kept as `previous` (which must be `to`) back as `current`, and the state
    /// kept for `to` back in place; the state left is kept for the version left.
    async fn back_to(&self, to: &str, snapshot: &Path) -> Result<(), String> {
        let kept = runtime::previous(&self.runtime_dir).map(|m| m.openclaw_version);
        if kept.as_deref() != Some(to) {
            return Err(format!("the runtime kept is not OpenClaw {to}"));
        }
        let leaving = installed(&self.runtime_dir).await;
        runtime::swap_with_previous(&self.runtime_dir)
            .await
            .map_err(|e| e.to_string())?;
        let snapshot_of: Option<SnapshotOf> = std::fs::read(self.data_dir.join(SNAPSHOT_OF))
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok());
        if snapshot.is_dir() && snapshot_of.is_some_and(|s| s.version == to) {
            let config = self.gateway.paths().config_file();
            let next = std::fs::read(snapshot.join("openclaw.json")).ok();
            if let Err(error) =
                History::new(&self.data_dir).keep(&config, next.as_deref(), Why::Rollback)
            {
                tracing::warn!(%error, "could not keep the configuration's history");
            }
            let state = self.gateway.paths().state_dir();
            restore_state(snapshot, &state).await?;
            self.write(SNAPSHOT_OF, &SnapshotOf { version: leaving })?;
        }
        Ok(())
    }

    /// Back to the runtime the last update replaced, with OpenClaw's state of before that
    /// update (a newer version may have moved the state on, which the older one cannot read);
    /// a backup first keeps what changed since.
    pub(super) async fn switch_back(&self, to: &str, mut event: NewEvent) -> Outcome {
        let started = Instant::now();
        let from = installed(&self.runtime_dir).await;
        let held = match self.backups.exclusive().await {
            Ok(held) => held,
            Err(error) => return outcome(&from, to, "refused", error.to_string()),
        };
        self.say(
            started,
            &format!("Going back from OpenClaw {from} to OpenClaw {to}; backing up first"),
        );
        event.kind = EventKind::BackupCreated;
        event.detail = Some(format!("before going back to OpenClaw {to}"));
        let backup = match self.backups.backup_held(&held, event).await {
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
        if let Err(error) = self.back_to(to, &self.data_dir.join(SNAPSHOT)).await {
            let _ = self.gateway.release(false).await;
            let detail = format!(
                "Going back to OpenClaw {to} failed: {error}. The gateway is stopped; restore the backup {backup} if it does not start."
            );
            return outcome(&from, to, "failed", detail);
        }
        let _ = self.gateway.release(wanted).await;
        if wanted && let Err(failed) = checks::check_running(&self.gateway, to).await {
            let detail = format!(
                "OpenClaw {to} did not come back: {}. Restore the backup {backup}.",
                failed.reason
            );
            let mut out = outcome(&from, to, "failed", detail);
            out.log_tail = failed.log_tail;
            return out;
        }
        let detail = format!(
            "Back to OpenClaw {to} with its state of before the update (what changed since is in the backup {backup}); OpenClaw {from} is kept to go forward again."
        );
        outcome(&from, to, "switched_back", detail)
    }
}
