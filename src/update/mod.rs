//! OpenClaw updates that roll themselves back.
//!
//! An update installs the new version beside the running one, checks the configuration and
//! the state with it (`openclaw config validate`, `openclaw doctor --lint`: its errors stop
//! the update, its warnings are shown) and takes a backup, all while the gateway runs; only then
//! does it stop the gateway, keep a copy of OpenClaw's state, switch the runtime and start
//! again. The new version must become ready, answer `health` and `channels.status` over its
//! RPC within the readiness window; otherwise the runtime, `openclaw.json` and OpenClaw's
//! state go back to what they were, the old version starts, and the events say why (with the
//! end of its log). Once it runs, `openclaw doctor --post-upgrade` probes its plugins (shown,
//! not stopping it). The runtime replaced stays as `previous`, for a rollback by hand.

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
mod journal;
mod snapshot;
mod switch;
mod versions;

pub(crate) use journal::recover;
pub(crate) use versions::{Versions, newer_than};

/// The most an update's steps before the switch may take (the install is most of it).
const PREPARE_TIMEOUT: Duration = Duration::from_mins(15);

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
    /// What OpenClaw's doctor said of the new version that did not stop the update
    /// (`doctor --lint` before the switch, `doctor --post-upgrade` after it).
    pub(crate) advice: Vec<String>,
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
        self.run_alone(move |this| async move { this.update(&version, event).await })
    }

    /// Goes back to the runtime the last update replaced, and to OpenClaw's state of then.
    pub(crate) fn start_rollback(self: &Arc<Self>, event: NewEvent) -> Result<(), UpdateError> {
        let Some(previous) = runtime::previous(&self.runtime_dir) else {
            return Err(UpdateError::Refused(
                "There is no earlier runtime to go back to: it is kept only after an update."
                    .into(),
            ));
        };
        self.run_alone(move |this| async move {
            this.switch_back(&previous.openclaw_version, event).await
        })
    }

    /// Runs `job` in a task of its own unless an update or a rollback is under way, and
    /// records how it ended.
    fn run_alone<F, Fut>(self: &Arc<Self>, job: F) -> Result<(), UpdateError>
    where
        F: FnOnce(Arc<Self>) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = Outcome> + Send + 'static,
    {
        let guard = self
            .busy
            .clone()
            .try_lock_owned()
            .map_err(|_| UpdateError::Busy)?;
        let this = self.clone();
        self.spawn(async move {
            let _guard = guard;
            let outcome = job(this.clone()).await;
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
}

pub(super) fn outcome(from: &str, to: &str, result: &'static str, detail: String) -> Outcome {
    Outcome {
        at: rfc3339(now_ms()),
        from: from.to_owned(),
        to: to.to_owned(),
        result,
        detail,
        log_tail: Vec::new(),
        advice: Vec::new(),
    }
}
