//! Backups in the running server: one backup, restore or drill at a time, each in a task of
//! its own whose steps go out as events; the schedule, the retention, and the restore drill
//! that proves the newest backup restores.

use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use age::secrecy::SecretString;
use serde::{Deserialize, Serialize};
use tokio::sync::{OwnedMutexGuard, broadcast, watch};
use tokio::task::JoinHandle;

use super::commit::{self, CommitError};
use super::make::{self, Output};
use super::upload::Incoming;
use super::{BackupError, Instance, Kept, restore};
use crate::clock::{now_ms, rfc3339};
use crate::config::BackupConfig;
use crate::gateway::launch::Tool;
use crate::gateway::supervisor::Gateway;
use crate::store::{self, EventKind, NewEvent, Store};

/// A drill is due when the last one is older than this (or failed, or checked another file).
const DRILL_EVERY: Duration = Duration::from_hours(24 * 7);
/// With no backup yet, the first scheduled one comes this soon after start at the latest.
const FIRST_WITHIN: Duration = Duration::from_mins(10);
/// After a scheduled backup failed, the next try waits this long, doubling up to the schedule.
const RETRY_AFTER: Duration = Duration::from_mins(1);
const DRILL_FILE: &str = "drill.json";

/// Which kind of work an event is about.
#[derive(Debug, Clone, Copy, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Job {
    Backup,
    Restore,
    Drill,
}

/// One step of a job, or its end.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub(crate) struct JobEvent {
    /// `progress`, `done` or `failed`.
    pub(crate) kind: &'static str,
    pub(crate) job: Job,
    pub(crate) detail: String,
    pub(crate) elapsed_ms: u64,
    /// The backup made, restored or checked.
    pub(crate) id: Option<String>,
    /// What the owner should know (a restore's).
    pub(crate) warnings: Vec<String>,
}

/// The last restore drill: whether the newest backup restores.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq, utoipa::ToSchema)]
pub(crate) struct Drill {
    pub(crate) checked_at: String,
    pub(crate) id: String,
    pub(crate) ok: bool,
    pub(crate) detail: String,
}

pub(crate) struct Backups {
    instance: Instance,
    gateway: Arc<Gateway>,
    settings: BackupConfig,
    busy: Arc<tokio::sync::Mutex<()>>,
    /// One upload at a time.
    uploading: Arc<tokio::sync::Mutex<()>>,
    events: broadcast::Sender<JobEvent>,
    drill: Mutex<Option<Drill>>,
    running: Mutex<Option<Job>>,
    /// A restore that could not finish: nothing more runs until clawhost starts again.
    stuck: Mutex<Option<String>>,
    tasks: Mutex<Vec<JoinHandle<()>>>,
}

/// Says no job runs any more when dropped, however the job ended.
struct Running<'a>(&'a Backups);

impl Drop for Running<'_> {
    fn drop(&mut self) {
        self.0.set_running(None);
    }
}

impl Backups {
    pub(crate) fn new(instance: Instance, gateway: Arc<Gateway>, settings: BackupConfig) -> Self {
        let drill = std::fs::read(instance.backups_dir().join(DRILL_FILE))
            .ok()
            .and_then(|bytes| serde_json::from_slice(&bytes).ok());
        Self {
            instance,
            gateway,
            settings,
            busy: Arc::new(tokio::sync::Mutex::new(())),
            uploading: Arc::new(tokio::sync::Mutex::new(())),
            events: broadcast::Sender::new(64),
            drill: Mutex::new(drill),
            running: Mutex::new(None),
            stuck: Mutex::new(None),
            tasks: Mutex::new(Vec::new()),
        }
    }

    pub(crate) fn settings(&self) -> &BackupConfig {
        &self.settings
    }

    /// The backups kept, newest first.
    pub(crate) async fn list(&self) -> Result<Vec<Kept>, BackupError> {
        let dir = self.instance.backups_dir();
        tokio::task::spawn_blocking(move || super::list(&dir))
            .await
            .map_err(|e| BackupError::Io {
                what: "the backups directory".into(),
                reason: e.to_string(),
            })?
    }

    /// The backups made here (not the upload), newest first.
    async fn made(&self) -> Result<Vec<Kept>, BackupError> {
        let mut kept = self.list().await?;
        kept.retain(|k| !k.uploaded);
        Ok(kept)
    }

    /// Starts receiving a backup from elsewhere (one at a time); it is kept, replacing the
    /// upload before it, once [`Incoming::finish`] is called while the guard is held.
    pub(crate) async fn receive(&self) -> Result<(OwnedMutexGuard<()>, Incoming), BackupError> {
        let guard = self.uploading.clone().try_lock_owned().map_err(|_| {
            BackupError::Refused("another upload is under way; wait for it to finish".into())
        })?;
        Ok((guard, Incoming::begin(&self.instance.backups_dir()).await?))
    }

    /// The file of the kept backup `id`.
    pub(crate) fn path(&self, id: &str) -> Result<PathBuf, BackupError> {
        super::kept_path(&self.instance.backups_dir(), id)
    }

    pub(crate) fn last_drill(&self) -> Option<Drill> {
        self.drill
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    /// The job running now, if any.
    pub(crate) fn running(&self) -> Option<Job> {
        *self.running.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub(crate) fn subscribe(&self) -> broadcast::Receiver<JobEvent> {
        self.events.subscribe()
    }

    /// Starts a backup now; `event` is recorded when it is made.
    pub(crate) fn start_backup(
        self: &Arc<Self>,
        passphrase: Option<SecretString>,
        event: NewEvent,
    ) -> Result<(), BackupError> {
        let guard = self.claim(Job::Backup)?;
        let this = self.clone();
        self.spawn(async move {
            let _guard = guard;
            let _running = Running(&this);
            let _ = this.backup(passphrase, event).await;
        });
        Ok(())
    }

    /// Starts restoring the kept backup `id`: checked first, then the gateway stopped, the
    /// state replaced, and the gateway started again if it was wanted running.
    pub(crate) fn start_restore(
        self: &Arc<Self>,
        id: &str,
        passphrase: Option<SecretString>,
    ) -> Result<(), BackupError> {
        let path = self.path(id)?;
        let guard = self.claim(Job::Restore)?;
        let (this, id) = (self.clone(), id.to_owned());
        self.spawn(async move {
            let _guard = guard;
            let _running = Running(&this);
            let started = Instant::now();
            let progress = this.reporter(Job::Restore, started, Some(&id));
            match this.restore(&path, passphrase, &progress).await {
                Ok(warnings) => this.send(JobEvent {
                    kind: "done",
                    job: Job::Restore,
                    detail: "Restored. Every session ended: sign in again with the password of the backup's owner.".into(),
                    elapsed_ms: elapsed(started),
                    id: Some(id),
                    warnings,
                }),
                Err(error) => this.failed(Job::Restore, started, Some(id), &error),
            }
        });
        Ok(())
    }

    /// Starts the schedule, which runs until `stop` (or [`Self::shut_down`]).
    pub(crate) fn start_schedule(self: &Arc<Self>, stop: watch::Receiver<bool>) {
        self.spawn(self.clone().run_schedule(stop));
    }

    /// Runs the schedule until `stop`: a backup every `backup.schedule` after the newest,
    /// the oldest beyond `backup.keep` removed, and the drill when it is due.
    async fn run_schedule(self: Arc<Self>, mut stop: watch::Receiver<bool>) {
        let Some(every) = self.settings.schedule.0 else {
            return;
        };
        let started = now_ms();
        let mut retry: Option<(i64, Duration)> = None;
        loop {
            let newest = self
                .made()
                .await
                .ok()
                .and_then(|kept| kept.first().map(|k| k.made_ms));
            let mut due = newest.map_or_else(
                || started.saturating_add(millis(every.min(FIRST_WITHIN))),
                |newest| newest.saturating_add(millis(every)),
            );
            if let Some((failed_at, wait)) = retry {
                due = due.max(failed_at.saturating_add(millis(wait)));
            }
            let wait = Duration::from_millis(u64::try_from(due - now_ms()).unwrap_or(0));
            tokio::select! {
                () = tokio::time::sleep(wait) => {}
                _ = stop.changed() => return,
            }
            // Dropped at shutdown: what a job leaves half done, the next start removes.
            let made = tokio::select! {
                made = self.scheduled(every) => made,
                _ = stop.changed() => return,
            };
            retry = match (made, retry) {
                (true, _) => None,
                (false, None) => Some((now_ms(), RETRY_AFTER.min(every))),
                (false, Some((_, wait))) => Some((now_ms(), (wait * 2).min(every))),
            };
        }
    }

    /// One scheduled backup (once the instance is claimed) and the drill when it is due.
    /// Says whether it made one, or had nothing to do.
    async fn scheduled(&self, every: Duration) -> bool {
        let claimed = store::run(&self.instance.store, Store::owner).await;
        if !matches!(claimed, Ok(Some(_))) {
            // Nothing to keep before the claim.
            tokio::time::sleep(every.min(FIRST_WITHIN)).await;
            return true;
        }
        if self.stuck().is_some() {
            return false;
        }
        let _guard = self.busy.clone().lock_owned().await;
        self.set_running(Some(Job::Backup));
        let _running = Running(self);
        let passphrase = match &self.settings.passphrase_file {
            Some(file) => match super::passphrase_from_file(file) {
                Ok(passphrase) => Some(passphrase),
                Err(error) => {
                    self.failed(Job::Backup, Instant::now(), None, &error);
                    return false;
                }
            },
            None => None,
        };
        let event = NewEvent {
            at: now_ms(),
            kind: EventKind::BackupCreated,
            ip: None,
            user_agent: None,
            detail: Some("scheduled".into()),
        };
        if self.backup(passphrase.clone(), event).await.is_err() {
            return false;
        }
        if self.drill_due() {
            self.set_running(Some(Job::Drill));
            self.drill(passphrase).await;
        }
        true
    }

    /// Stops the schedule and every job (a restore cut short finishes at the next start, see
    /// [`super::commit::recover`]).
    pub(crate) async fn shut_down(&self) {
        let tasks: Vec<JoinHandle<()>> =
            std::mem::take(&mut *self.tasks.lock().unwrap_or_else(PoisonError::into_inner));
        for task in tasks {
            task.abort();
            let _ = task.await;
        }
    }

    fn stuck(&self) -> Option<String> {
        self.stuck
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone()
    }

    fn claim(&self, job: Job) -> Result<OwnedMutexGuard<()>, BackupError> {
        if let Some(why) = self.stuck() {
            return Err(BackupError::Refused(why));
        }
        let guard = self
            .busy
            .clone()
            .try_lock_owned()
            .map_err(|_| BackupError::Busy)?;
        self.set_running(Some(job));
        Ok(guard)
    }

    fn set_running(&self, job: Option<Job>) {
        *self.running.lock().unwrap_or_else(PoisonError::into_inner) = job;
    }

    fn spawn(&self, job: impl std::future::Future<Output = ()> + Send + 'static) {
        let mut tasks = self.tasks.lock().unwrap_or_else(PoisonError::into_inner);
        tasks.retain(|task| !task.is_finished());
        tasks.push(tokio::spawn(job));
    }

    fn send(&self, event: JobEvent) {
        let _ = self.events.send(event);
    }

    fn reporter(
        &self,
        job: Job,
        started: Instant,
        id: Option<&str>,
    ) -> impl Fn(&str) + Send + Sync + use<> {
        let (events, id) = (self.events.clone(), id.map(str::to_owned));
        move |step: &str| {
            let _ = events.send(JobEvent {
                kind: "progress",
                job,
                detail: step.to_owned(),
                elapsed_ms: elapsed(started),
                id: id.clone(),
                warnings: Vec::new(),
            });
        }
    }

    fn failed(&self, job: Job, started: Instant, id: Option<String>, error: &BackupError) {
        tracing::warn!(%error, ?job, "backup job failed");
        self.send(JobEvent {
            kind: "failed",
            job,
            detail: error.to_string(),
            elapsed_ms: elapsed(started),
            id,
            warnings: Vec::new(),
        });
    }

    fn tool(&self) -> Option<Tool> {
        self.gateway.tool().ok()
    }

    /// The instance to oneself, once any job under way is done: no backup, restore or drill
    /// runs until the guard goes (an update holds it from start to end).
    pub(crate) async fn exclusive(&self) -> Result<OwnedMutexGuard<()>, BackupError> {
        let guard = self.busy.clone().lock_owned().await;
        match self.stuck() {
            Some(why) => Err(BackupError::Refused(why)),
            None => Ok(guard),
        }
    }

    /// A backup now, by the holder of [`Self::exclusive`]: before an update, for one.
    /// Returns its name.
    pub(crate) async fn backup_held(
        &self,
        _held: &OwnedMutexGuard<()>,
        event: NewEvent,
    ) -> Result<String, BackupError> {
        self.set_running(Some(Job::Backup));
        let _running = Running(self);
        self.backup(None, event).await
    }

    /// One backup into `<data_dir>/backups`, then the retention. Returns its name.
    async fn backup(
        &self,
        passphrase: Option<SecretString>,
        mut event: NewEvent,
    ) -> Result<String, BackupError> {
        let started = Instant::now();
        let progress = self.reporter(Job::Backup, started, None);
        let tool = self.tool();
        let output = Output::Into(self.instance.backups_dir());
        match make::create(&self.instance, tool.as_ref(), output, passphrase, &progress).await {
            Ok(made) => {
                let id = file_id(&made.path);
                let why = event.detail.take().unwrap_or_else(|| "asked for".into());
                event.detail = Some(format!("{id} ({why})"));
                let _ = store::run(&self.instance.store, move |s| s.record_event(&event)).await;
                self.keep_newest().await;
                self.send(JobEvent {
                    kind: "done",
                    job: Job::Backup,
                    detail: format!("Backed up: {id} ({} bytes)", made.size),
                    elapsed_ms: elapsed(started),
                    id: Some(id.clone()),
                    warnings: Vec::new(),
                });
                Ok(id)
            }
            Err(error) => {
                self.failed(Job::Backup, started, None, &error);
                Err(error)
            }
        }
    }

    async fn keep_newest(&self) {
        let Ok(kept) = self.made().await else {
            return;
        };
        for old in kept.iter().skip(self.settings.keep) {
            let path = self.instance.backups_dir().join(&old.id);
            if let Err(error) = tokio::fs::remove_file(&path).await {
                tracing::warn!(%error, file = %path.display(), "could not remove an old backup");
            }
        }
    }

    async fn restore(
        &self,
        path: &std::path::Path,
        passphrase: Option<SecretString>,
        progress: &(dyn Fn(&str) + Send + Sync),
    ) -> Result<Vec<String>, BackupError> {
        let tool = self.tool();
        let checked =
            restore::check(&self.instance, tool.as_ref(), path, passphrase, progress).await?;
        progress("Stopping the gateway");
        let wanted = match self.gateway.hold().await {
            Ok(wanted) => wanted,
            Err(error) => {
                checked.discard();
                return Err(BackupError::Refused(error.to_string()));
            }
        };
        if let Err(error) =
            restore::stage(&self.instance, tool.as_ref(), &checked, wanted, progress).await
        {
            checked.discard();
            let _ = self.gateway.release(wanted).await;
            return Err(error);
        }
        let warnings = checked.warnings.clone();
        match commit::commit(&self.instance, checked, progress).await {
            Ok(_) => {
                if wanted {
                    progress("Starting the gateway again");
                }
                if let Err(error) = self.gateway.release(wanted).await {
                    tracing::warn!(%error, "the gateway did not start after the restore");
                }
                Ok(warnings)
            }
            // Nothing changed: the instance goes on as it was.
            Err(CommitError::Before(error)) => {
                let _ = self.gateway.release(wanted).await;
                Err(error)
            }
            // The journal stays, and the next start finishes the restore. Until then the
            // gateway stays stopped, and no other job runs on half of it.
            Err(CommitError::After(error)) => {
                let why = format!(
                    "A restore could not finish ({error}); restart clawhost, which finishes it."
                );
                *self.stuck.lock().unwrap_or_else(PoisonError::into_inner) = Some(why.clone());
                tracing::error!("{why}");
                Err(BackupError::Refused(why))
            }
        }
    }

    fn drill_due(&self) -> bool {
        self.last_drill().is_none_or(|drill| {
            !drill.ok
                || time::OffsetDateTime::parse(
                    &drill.checked_at,
                    &time::format_description::well_known::Rfc3339,
                )
                .map_or(true, |at| {
                    let age = time::OffsetDateTime::now_utc() - at;
                    age >= time::Duration::try_from(DRILL_EVERY.max(self.every()))
                        .unwrap_or(time::Duration::ZERO)
                })
        })
    }

    fn every(&self) -> Duration {
        self.settings.schedule.0.unwrap_or(DRILL_EVERY)
    }

    /// Restores the newest backup into a scratch directory, as a restore would, and keeps
    /// the verdict.
    async fn drill(&self, passphrase: Option<SecretString>) {
        let started = Instant::now();
        let Some(newest) = self.made().await.ok().and_then(|k| k.into_iter().next()) else {
            return;
        };
        let progress = self.reporter(Job::Drill, started, Some(&newest.id));
        let path = self.instance.backups_dir().join(&newest.id);
        let tool = self.tool();
        let verdict =
            restore::drill(&self.instance, tool.as_ref(), &path, passphrase, &progress).await;
        let drill = Drill {
            checked_at: rfc3339(now_ms()),
            id: newest.id.clone(),
            ok: verdict.is_ok(),
            detail: match &verdict {
                Ok(()) => "The newest backup restores.".into(),
                Err(error) => error.to_string(),
            },
        };
        if let Ok(bytes) = serde_json::to_vec(&drill) {
            let file = self.instance.backups_dir().join(DRILL_FILE);
            if let Err(error) = crate::fsutil::write_atomic(&file, &bytes) {
                tracing::warn!(%error, "could not keep the drill's result");
            }
        }
        match verdict {
            Ok(()) => self.send(JobEvent {
                kind: "done",
                job: Job::Drill,
                detail: drill.detail.clone(),
                elapsed_ms: elapsed(started),
                id: Some(newest.id),
                warnings: Vec::new(),
            }),
            Err(error) => self.failed(Job::Drill, started, Some(newest.id), &error),
        }
        *self.drill.lock().unwrap_or_else(PoisonError::into_inner) = Some(drill);
    }
}

fn file_id(path: &std::path::Path) -> String {
    path.file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default()
}

fn elapsed(started: Instant) -> u64 {
    u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX)
}

fn millis(duration: Duration) -> i64 {
    i64::try_from(duration.as_millis()).unwrap_or(i64::MAX)
}
