//! The supervised gateway: the handle the rest of clawhost uses, and the actor behind it.
//!
//! One actor task owns every decision, so start, stop, restart and install are serialized and
//! concurrent calls can never spawn two gateways. A start hands the gateway to a run task
//! ([`super::run`]); the actor keeps the task's handle to stop it.

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;

use super::install_report::{InstallFailure, InstallSteps};
use super::launch::{Launch, Tool};
use super::logs::GatewayLogs;
use super::paths::Paths;
use super::process;
use super::run::{Ctx, RunHandle, spawn_run};
use super::runtime;
use super::status::{Credential, GatewayError, GatewayState, Progress, Status};
use crate::clock::{now_ms, rfc3339};
use crate::config::GatewayConfig;
use crate::egress::Egress;
use crate::secrets::SecretBox;
use crate::store::{self, SharedStore, Store, StoreError};

const INSTALL_TIMEOUT: Duration = Duration::from_mins(10);

type Reply = oneshot::Sender<Result<GatewayState, GatewayError>>;

enum Command {
    Start(Reply),
    Stop(Reply),
    Restart { rotate: bool, reply: Reply },
    Install { version: String, reply: Reply },
    Hold(oneshot::Sender<Result<bool, GatewayError>>),
    Release { start: bool, reply: Reply },
    Shutdown(oneshot::Sender<()>),
}

/// The handle the rest of clawhost uses.
pub(crate) struct Gateway {
    ctx: Arc<Ctx>,
    commands: mpsc::Sender<Command>,
    actor: std::sync::Mutex<Option<JoinHandle<()>>>,
}

pub(crate) struct GatewayDeps {
    pub(crate) paths: Paths,
    pub(crate) config: GatewayConfig,
    pub(crate) store: SharedStore,
    pub(crate) sealer: Arc<SecretBox>,
    pub(crate) logs: GatewayLogs,
    /// The only road to the provider, holding its key.
    pub(crate) egress: Arc<Egress>,
}

impl Gateway {
    /// Starts the supervisor; a gateway the owner wanted running is started again.
    pub(crate) async fn start_up(deps: GatewayDeps) -> Result<Arc<Self>, StoreError> {
        let home = super::launch::gateway_home(&deps.paths.data_dir);
        let ctx = Arc::new(Ctx {
            launch: Launch {
                paths: deps.paths,
                config: deps.config,
                home,
                store: deps.store,
                sealer: deps.sealer,
                logs: deps.logs,
                egress: deps.egress,
            },
            status: watch::Sender::new(Status::stopped()),
            progress: broadcast::Sender::new(256),
            credential: RwLock::new(None),
            generation: watch::Sender::new(0),
            http: process::ready_client(),
        });
        let paths = &ctx.launch.paths;
        process::stop_leftover(
            &paths.pid_file(),
            &paths.state_dir(),
            ctx.launch.config.stop_timeout,
        )
        .await;
        let (commands, receiver) = mpsc::channel(64);
        let actor = tokio::spawn(actor(ctx.clone(), receiver));
        let gateway = Arc::new(Self {
            ctx,
            commands,
            actor: std::sync::Mutex::new(Some(actor)),
        });
        let wanted = store::run(&gateway.ctx.launch.store, Store::gateway_wanted_running).await?;
        if wanted {
            tracing::info!("the gateway was running before; starting it again");
            if let Err(error) = gateway.start().await {
                tracing::warn!(%error, "could not start the gateway again");
            }
        }
        Ok(gateway)
    }

    async fn ask(&self, make: impl FnOnce(Reply) -> Command) -> Result<GatewayState, GatewayError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(make(reply))
            .await
            .map_err(|_| GatewayError::Gone)?;
        answer.await.map_err(|_| GatewayError::Gone)?
    }

    pub(crate) async fn start(&self) -> Result<GatewayState, GatewayError> {
        self.ask(Command::Start).await
    }

    pub(crate) async fn stop(&self) -> Result<GatewayState, GatewayError> {
        self.ask(Command::Stop).await
    }

    pub(crate) async fn restart(&self) -> Result<GatewayState, GatewayError> {
        self.ask(|reply| Command::Restart {
            rotate: false,
            reply,
        })
        .await
    }

    pub(crate) async fn rotate_credential(&self) -> Result<GatewayState, GatewayError> {
        self.ask(|reply| Command::Restart {
            rotate: true,
            reply,
        })
        .await
    }

    pub(crate) async fn install(&self, version: String) -> Result<GatewayState, GatewayError> {
        self.ask(|reply| Command::Install { version, reply }).await
    }

    /// Stops the gateway and keeps it stopped (every start refused) until [`Self::release`]:
    /// while a restore replaces its state. Says whether the owner wanted it running.
    pub(crate) async fn hold(&self) -> Result<bool, GatewayError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(Command::Hold(reply))
            .await
            .map_err(|_| GatewayError::Gone)?;
        answer.await.map_err(|_| GatewayError::Gone)?
    }

    /// Ends a hold, starting the gateway when `start`.
    pub(crate) async fn release(&self, start: bool) -> Result<GatewayState, GatewayError> {
        self.ask(|reply| Command::Release { start, reply }).await
    }

    /// Reports a step of work done around the gateway (an update) on its progress stream,
    /// and in its log.
    pub(crate) fn report(
        &self,
        phase: &'static str,
        started: Instant,
        timeout: Duration,
        detail: &str,
    ) {
        self.ctx.note(detail);
        self.ctx.progress(phase, started, timeout, detail);
    }

    /// The gateway's home and file locations, for a runtime other than the current one.
    pub(crate) fn tool_at(&self, dir: &std::path::Path) -> Result<Tool, runtime::RuntimeError> {
        let launch = &self.ctx.launch;
        Tool::at(dir, &launch.paths, &launch.home)
    }

    /// How long a start may take to be ready.
    pub(crate) fn ready_timeout(&self) -> Duration {
        self.ctx.launch.config.ready_timeout
    }

    /// `openclaw …` for a one-off command on the gateway's state (a backup, a restore).
    pub(crate) fn tool(&self) -> Result<Tool, runtime::RuntimeError> {
        let launch = &self.ctx.launch;
        Tool::locate(&launch.paths, &launch.config, &launch.home)
    }

    /// Stops the gateway gracefully (its wanted state is kept for the next start) and ends
    /// the supervisor.
    pub(crate) async fn shut_down(&self) {
        let (reply, done) = oneshot::channel();
        if self.commands.send(Command::Shutdown(reply)).await.is_ok() {
            let _ = done.await;
        }
        let actor = self
            .actor
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .take();
        if let Some(actor) = actor {
            let _ = actor.await;
        }
    }

    /// Forgets the last install's failure (the owner read it).
    pub(crate) fn dismiss_install_failure(&self) {
        self.ctx.status.send_modify(|s| s.install_failure = None);
    }

    pub(crate) fn status(&self) -> Status {
        self.ctx.status.borrow().clone()
    }

    pub(crate) fn watch_status(&self) -> watch::Receiver<Status> {
        self.ctx.status.subscribe()
    }

    pub(crate) fn subscribe_progress(&self) -> broadcast::Receiver<Progress> {
        self.ctx.progress.subscribe()
    }

    pub(crate) fn logs(&self) -> &GatewayLogs {
        &self.ctx.launch.logs
    }

    /// The running gateway's port and credential, for the proxy and the RPC client.
    pub(crate) fn credential(&self) -> Option<Credential> {
        self.ctx
            .credential
            .read()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
            .clone()
    }

    /// Changes whenever the gateway stops, restarts or gets a new credential.
    pub(crate) fn watch_generation(&self) -> watch::Receiver<u64> {
        self.ctx.generation.subscribe()
    }

    /// The number of the gateway's current run (see [`Self::watch_generation`]).
    pub(crate) fn generation(&self) -> u64 {
        *self.ctx.generation.borrow()
    }

    pub(crate) fn paths(&self) -> &Paths {
        &self.ctx.launch.paths
    }

    /// Resident memory of the gateway's process group, in bytes.
    pub(crate) async fn memory_rss_bytes(&self) -> Option<u64> {
        let pid = self.ctx.status.borrow().pid?;
        process::group_rss(pid).await
    }
}

async fn actor(ctx: Arc<Ctx>, mut commands: mpsc::Receiver<Command>) {
    let mut actor = Actor {
        ctx,
        run: None,
        install: None,
        held: false,
    };
    while let Some(command) = commands.recv().await {
        match command {
            Command::Start(reply) => {
                let _ = reply.send(actor.start().await);
            }
            Command::Stop(reply) => actor.stop(reply).await,
            Command::Restart { rotate, reply } => actor.restart(rotate, reply).await,
            Command::Install { version, reply } => {
                let _ = reply.send(actor.install(version));
            }
            Command::Hold(reply) => {
                let _ = reply.send(actor.hold().await);
            }
            Command::Release { start, reply } => {
                actor.held = false;
                let answer = if start {
                    actor.start().await
                } else {
                    Ok(actor.ctx.status.borrow().state)
                };
                let _ = reply.send(answer);
            }
            Command::Shutdown(reply) => {
                actor.shut_down().await;
                let _ = reply.send(());
                return;
            }
        }
    }
}

/// The actor's own state: the run task and the install task, when there are.
struct Actor {
    ctx: Arc<Ctx>,
    run: Option<RunHandle>,
    install: Option<JoinHandle<()>>,
    /// A restore is replacing the gateway's state: nothing starts it.
    held: bool,
}

impl Actor {
    fn installing(&self) -> bool {
        self.install
            .as_ref()
            .is_some_and(|task| !task.is_finished())
    }

    fn running(&self) -> bool {
        self.run.as_ref().is_some_and(RunHandle::active)
    }

    /// Records whether the owner wants the gateway running, for the next start of clawhost.
    async fn want_running(&self, running: bool) -> Result<(), StoreError> {
        store::run(&self.ctx.launch.store, move |s| {
            s.set_gateway_wanted_running(running)
        })
        .await
    }

    async fn start(&mut self) -> Result<GatewayState, GatewayError> {
        if self.installing() {
            return Err(busy_installing());
        }
        if self.held {
            return Err(busy_restoring());
        }
        if self.running() {
            return Ok(self.ctx.status.borrow().state);
        }
        self.ctx
            .launch
            .preflight()
            .map_err(GatewayError::Conflict)?;
        self.want_running(true)
            .await
            .map_err(|error| GatewayError::Conflict(error.to_string()))?;
        self.run = Some(spawn_run(&self.ctx, false));
        Ok(GatewayState::Starting)
    }

    /// Answers before waiting for the run to end.
    async fn stop(&mut self, reply: Reply) {
        if let Err(error) = self.want_running(false).await {
            tracing::warn!(%error, "could not record that the gateway should stay stopped");
        }
        match self.run.take() {
            Some(handle) if handle.active() => {
                self.ctx.set_state(GatewayState::Stopping);
                let _ = reply.send(Ok(GatewayState::Stopping));
                handle.stop().await;
            }
            _ => {
                if !self.installing() {
                    self.ctx.status.send_modify(|s| {
                        s.state = GatewayState::Stopped;
                        s.attention = None;
                    });
                }
                let _ = reply.send(Ok(self.ctx.status.borrow().state));
            }
        }
    }

    /// Answers once the restart is sure to happen, then stops the old run and starts anew
    /// (with the restart counters kept, and a new credential either way).
    async fn restart(&mut self, rotate: bool, reply: Reply) {
        if let Err(error) = self.may_restart(rotate) {
            let _ = reply.send(Err(error));
            return;
        }
        let _ = self.want_running(true).await;
        let _ = reply.send(Ok(GatewayState::Starting));
        if let Some(handle) = self.run.take() {
            self.ctx.set_state(GatewayState::Stopping);
            handle.stop().await;
        }
        if rotate {
            self.ctx.note("rotating the gateway credential");
        }
        self.run = Some(spawn_run(&self.ctx, true));
    }

    fn may_restart(&self, rotate: bool) -> Result<(), GatewayError> {
        if self.installing() {
            return Err(busy_installing());
        }
        if self.held {
            return Err(busy_restoring());
        }
        if rotate && !self.running() {
            return Err(GatewayError::Conflict(
                "The gateway is not running; its next start gets a new credential anyway.".into(),
            ));
        }
        self.ctx.launch.preflight().map_err(GatewayError::Conflict)
    }

    fn install(&mut self, version: String) -> Result<GatewayState, GatewayError> {
        if self.installing() {
            return Ok(GatewayState::Installing);
        }
        if self.held {
            return Err(busy_restoring());
        }
        if self.running() {
            return Err(GatewayError::Conflict(
                "Stop the gateway before installing OpenClaw.".into(),
            ));
        }
        self.ctx.set_state(GatewayState::Installing);
        self.install = Some(tokio::spawn(run_install(self.ctx.clone(), version)));
        Ok(GatewayState::Installing)
    }

    async fn hold(&mut self) -> Result<bool, GatewayError> {
        if self.installing() {
            return Err(busy_installing());
        }
        if self.held {
            return Err(busy_restoring());
        }
        let wanted = store::run(&self.ctx.launch.store, Store::gateway_wanted_running)
            .await
            .map_err(|error| GatewayError::Conflict(error.to_string()))?;
        self.held = true;
        if let Some(handle) = self.run.take() {
            if handle.active() {
                self.ctx.set_state(GatewayState::Stopping);
            }
            handle.stop().await;
        }
        self.ctx.status.send_modify(|s| {
            s.state = GatewayState::Stopped;
            s.attention = None;
        });
        Ok(wanted)
    }

    async fn shut_down(&mut self) {
        if let Some(handle) = self.run.take() {
            handle.stop().await;
        }
        if let Some(task) = self.install.take() {
            task.abort();
            let _ = task.await;
        }
    }
}

fn busy_restoring() -> GatewayError {
    GatewayError::Conflict(
        "A backup is being restored or OpenClaw updated; the gateway starts again when it is done."
            .into(),
    )
}

fn busy_installing() -> GatewayError {
    GatewayError::Conflict("OpenClaw is being installed; wait for it to finish.".into())
}

async fn run_install(ctx: Arc<Ctx>, version: String) {
    let started = Instant::now();
    ctx.status.send_modify(|s| s.install_failure = None);
    ctx.progress(
        "install",
        started,
        INSTALL_TIMEOUT,
        format!("Preparing to install OpenClaw {version}"),
    );
    let reporter = {
        let ctx = ctx.clone();
        let steps = std::sync::Mutex::new(InstallSteps::default());
        move |line: String| {
            ctx.launch.logs.push("install", &line);
            let report = steps
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .line(&line);
            if let Some((sentence, percent)) = report {
                ctx.progress_percent("install", started, INSTALL_TIMEOUT, sentence, percent);
            }
        }
    };
    match runtime::install(&ctx.launch.paths.runtime_dir, &version, &reporter).await {
        Ok(manifest) => {
            ctx.progress(
                "installed",
                started,
                INSTALL_TIMEOUT,
                format!("OpenClaw {} is installed", manifest.openclaw_version),
            );
        }
        Err(error) => {
            tracing::warn!(%error, "OpenClaw install failed");
            ctx.note(&format!("install failed: {error}"));
            let failure =
                InstallFailure::explain(&error, &ctx.launch.paths.runtime_dir, rfc3339(now_ms()));
            // The status first: a page reloading on the event below must find the failure.
            let reason = failure.reason.clone();
            ctx.status.send_modify(|s| {
                s.install_failure = Some(failure);
                s.state = GatewayState::Stopped;
            });
            ctx.progress("install_failed", started, INSTALL_TIMEOUT, reason);
        }
    }
    ctx.set_state(GatewayState::Stopped);
}
