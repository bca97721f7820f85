//! The supervised gateway process.
//!
//! One actor task owns every decision, so start, stop, restart and install are serialized and
//! concurrent calls can never spawn two gateways. While the owner wants the gateway running,
//! a run task owns the child process: it writes and validates the config, spawns
//! `openclaw gateway run` in its own process group with a cleared environment (no shell),
//! waits for `/readyz`, restarts after a crash with exponential backoff, and gives up with
//! "needs attention" after a config error (exit 78) or five crashes in ten minutes.

use std::collections::VecDeque;
use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use http_body_util::Empty;
use hyper::body::Bytes;
use hyper_util::client::legacy::Client as HttpClient;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use serde::Serialize;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use tokio::sync::{broadcast, mpsc, oneshot, watch};
use tokio::task::JoinHandle;
use zeroize::Zeroizing;

use super::logs::GatewayLogs;
use super::openclaw_config::{self, TOKEN_ENV};
use super::providers;
use super::rpc::{RpcClient, RpcError};
use super::runtime::{self, Launcher};
use crate::auth::tokens::{hex, random_bytes, sha256};
use crate::clock::{now_ms, rfc3339};
use crate::config::GatewayConfig;
use crate::secrets::SecretBox;
use crate::store::{self, EventKind, NewEvent, SharedStore};

/// First pause before restarting a crashed gateway; doubles up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// This many crashes within [`CRASH_WINDOW`] stop the automatic restarts.
const CRASH_LIMIT: usize = 5;
const CRASH_WINDOW: Duration = Duration::from_secs(600);
/// A run that stayed up this long resets the backoff.
const STABLE_AFTER: Duration = Duration::from_secs(60);
/// OpenClaw's exit code for a configuration it refuses (EX_CONFIG).
const EXIT_CONFIG: i32 = 78;
const VALIDATE_TIMEOUT: Duration = Duration::from_secs(90);
const LOG_TAIL: usize = 50;
/// The purpose the provider key is sealed under (see secrets.rs).
pub const KEY_PURPOSE: &str = "clawhost/provider-api-key/v1";

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum State {
    Stopped,
    Installing,
    Starting,
    Running,
    Stopping,
    Backoff,
    NeedsAttention,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Exit {
    pub code: Option<i32>,
    pub signal: Option<i32>,
    pub at: String,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Attention {
    pub reason: String,
    pub log_tail: Vec<String>,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct Status {
    pub state: State,
    pub pid: Option<u32>,
    pub started_at: Option<String>,
    pub restarts: u32,
    pub last_exit: Option<Exit>,
    pub openclaw_version: Option<String>,
    pub attention: Option<Attention>,
}

impl Status {
    fn stopped() -> Self {
        Self {
            state: State::Stopped,
            pid: None,
            started_at: None,
            restarts: 0,
            last_exit: None,
            openclaw_version: None,
            attention: None,
        }
    }
}

/// One step of a start or an install, for the progress bar.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Progress {
    pub phase: &'static str,
    pub elapsed_ms: u64,
    pub timeout_ms: u64,
    pub detail: String,
}

#[derive(Debug, thiserror::Error)]
pub enum GatewayError {
    #[error("{0}")]
    Conflict(String),
    #[error("the gateway supervisor is not running")]
    Gone,
}

/// The credential of the running gateway: in memory only.
#[derive(Clone)]
pub struct Credential {
    pub port: u16,
    pub token: Arc<Zeroizing<String>>,
}

pub struct Paths {
    pub data_dir: PathBuf,
    pub runtime_dir: PathBuf,
}

impl Paths {
    pub fn state_dir(&self) -> PathBuf {
        self.data_dir.join("openclaw")
    }
    pub fn config_file(&self) -> PathBuf {
        self.state_dir().join("openclaw.json")
    }
    pub fn log_file(&self) -> PathBuf {
        self.state_dir().join("logs/openclaw.log")
    }
    /// The running gateway's pid (= its process group), so a gateway left behind by a
    /// clawhost that was killed can be found and stopped at the next start.
    pub fn pid_file(&self) -> PathBuf {
        // In clawhost's own directory: OpenClaw manages its state directory itself.
        self.data_dir.join("gateway.pid")
    }
}

/// What the actor and the run task share.
struct Ctx {
    paths: Paths,
    config: GatewayConfig,
    home: PathBuf,
    store: SharedStore,
    sealer: Arc<SecretBox>,
    logs: GatewayLogs,
    status: watch::Sender<Status>,
    progress: broadcast::Sender<Progress>,
    credential: RwLock<Option<Credential>>,
    /// Bumped whenever the running gateway or its credential goes away.
    generation: watch::Sender<u64>,
    http: HttpClient<HttpConnector, Empty<Bytes>>,
}

impl Ctx {
    fn set_state(&self, state: State) {
        self.status.send_modify(|status| status.state = state);
    }

    fn progress(
        &self,
        phase: &'static str,
        started: Instant,
        timeout: Duration,
        detail: impl Into<String>,
    ) {
        let _ = self.progress.send(Progress {
            phase,
            elapsed_ms: started.elapsed().as_millis() as u64,
            timeout_ms: timeout.as_millis() as u64,
            detail: detail.into(),
        });
    }

    fn note(&self, text: &str) {
        self.logs.push("clawhost", text);
    }

    fn set_credential(&self, credential: Option<Credential>) {
        *self.credential.write().unwrap_or_else(|p| p.into_inner()) = credential;
        self.generation.send_modify(|g| *g += 1);
    }
}

enum Command_ {
    Start(oneshot::Sender<Result<State, GatewayError>>),
    Stop(oneshot::Sender<Result<State, GatewayError>>),
    Restart {
        rotate: bool,
        reply: oneshot::Sender<Result<State, GatewayError>>,
    },
    Install {
        version: String,
        reply: oneshot::Sender<Result<State, GatewayError>>,
    },
    Shutdown(oneshot::Sender<()>),
}

/// The handle the rest of clawhost uses.
pub struct Gateway {
    ctx: Arc<Ctx>,
    commands: mpsc::Sender<Command_>,
    actor: std::sync::Mutex<Option<JoinHandle<()>>>,
}

pub struct GatewayDeps {
    pub paths: Paths,
    pub config: GatewayConfig,
    pub store: SharedStore,
    pub sealer: Arc<SecretBox>,
    pub logs: GatewayLogs,
}

impl Gateway {
    /// Starts the supervisor; a gateway the owner wanted running is started again.
    pub async fn start_up(deps: GatewayDeps) -> Result<Arc<Self>, store::StoreError> {
        let home = std::env::var_os("HOME")
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .unwrap_or_else(|| deps.paths.data_dir.clone());
        let ctx = Arc::new(Ctx {
            paths: deps.paths,
            config: deps.config,
            home,
            store: deps.store,
            sealer: deps.sealer,
            logs: deps.logs,
            status: watch::Sender::new(Status::stopped()),
            progress: broadcast::Sender::new(256),
            credential: RwLock::new(None),
            generation: watch::Sender::new(0),
            http: HttpClient::builder(TokioExecutor::new()).build_http(),
        });
        stop_leftover(&ctx).await;
        let (commands, receiver) = mpsc::channel(64);
        let actor = tokio::spawn(actor(ctx.clone(), receiver));
        let gateway = Arc::new(Self {
            ctx,
            commands,
            actor: std::sync::Mutex::new(Some(actor)),
        });
        let wanted = store::run(&gateway.ctx.store, |s| s.gateway_wanted_running()).await?;
        if wanted {
            tracing::info!("the gateway was running before; starting it again");
            if let Err(error) = gateway.start().await {
                tracing::warn!(%error, "could not start the gateway again");
            }
        }
        Ok(gateway)
    }

    async fn ask(
        &self,
        make: impl FnOnce(oneshot::Sender<Result<State, GatewayError>>) -> Command_,
    ) -> Result<State, GatewayError> {
        let (reply, answer) = oneshot::channel();
        self.commands
            .send(make(reply))
            .await
            .map_err(|_| GatewayError::Gone)?;
        answer.await.map_err(|_| GatewayError::Gone)?
    }

    pub async fn start(&self) -> Result<State, GatewayError> {
        self.ask(Command_::Start).await
    }

    pub async fn stop(&self) -> Result<State, GatewayError> {
        self.ask(Command_::Stop).await
    }

    pub async fn restart(&self) -> Result<State, GatewayError> {
        self.ask(|reply| Command_::Restart {
            rotate: false,
            reply,
        })
        .await
    }

    pub async fn rotate_credential(&self) -> Result<State, GatewayError> {
        self.ask(|reply| Command_::Restart {
            rotate: true,
            reply,
        })
        .await
    }

    pub async fn install(&self, version: String) -> Result<State, GatewayError> {
        self.ask(|reply| Command_::Install { version, reply }).await
    }

    /// Stops the gateway gracefully (its wanted state is kept for the next start) and ends
    /// the supervisor.
    pub async fn shut_down(&self) {
        let (reply, done) = oneshot::channel();
        if self.commands.send(Command_::Shutdown(reply)).await.is_ok() {
            let _ = done.await;
        }
        let actor = self.actor.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(actor) = actor {
            let _ = actor.await;
        }
    }

    pub fn status(&self) -> Status {
        self.ctx.status.borrow().clone()
    }

    pub fn watch_status(&self) -> watch::Receiver<Status> {
        self.ctx.status.subscribe()
    }

    pub fn subscribe_progress(&self) -> broadcast::Receiver<Progress> {
        self.ctx.progress.subscribe()
    }

    pub fn logs(&self) -> &GatewayLogs {
        &self.ctx.logs
    }

    /// The running gateway's port and credential, for the proxy and the RPC client.
    pub fn credential(&self) -> Option<Credential> {
        self.ctx
            .credential
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Changes whenever the gateway stops, restarts or gets a new credential.
    pub fn watch_generation(&self) -> watch::Receiver<u64> {
        self.ctx.generation.subscribe()
    }

    pub fn paths(&self) -> &Paths {
        &self.ctx.paths
    }

    /// Resident memory of the gateway's process group, in bytes.
    pub async fn memory_rss_bytes(&self) -> Option<u64> {
        let pid = self.ctx.status.borrow().pid?;
        tokio::task::spawn_blocking(move || group_rss_bytes(pid as i32))
            .await
            .ok()
            .flatten()
    }
}

struct RunHandle {
    task: JoinHandle<()>,
    cancel: watch::Sender<bool>,
}

impl RunHandle {
    fn active(&self) -> bool {
        !self.task.is_finished()
    }

    async fn stop(self) {
        let _ = self.cancel.send(true);
        let _ = self.task.await;
    }
}

async fn actor(ctx: Arc<Ctx>, mut commands: mpsc::Receiver<Command_>) {
    let mut run: Option<RunHandle> = None;
    let mut install: Option<JoinHandle<()>> = None;
    while let Some(command) = commands.recv().await {
        let installing = install.as_ref().is_some_and(|task| !task.is_finished());
        let running = run.as_ref().is_some_and(RunHandle::active);
        match command {
            Command_::Start(reply) => {
                if installing {
                    let _ = reply.send(Err(busy_installing()));
                    continue;
                }
                if running {
                    let _ = reply.send(Ok(ctx.status.borrow().state));
                    continue;
                }
                if let Err(reason) = preflight(&ctx) {
                    let _ = reply.send(Err(GatewayError::Conflict(reason)));
                    continue;
                }
                if let Err(error) =
                    store::run(&ctx.store, |s| s.set_gateway_wanted_running(true)).await
                {
                    let _ = reply.send(Err(GatewayError::Conflict(error.to_string())));
                    continue;
                }
                run = Some(spawn_run(&ctx, false));
                let _ = reply.send(Ok(State::Starting));
            }
            Command_::Stop(reply) => {
                if let Err(error) =
                    store::run(&ctx.store, |s| s.set_gateway_wanted_running(false)).await
                {
                    tracing::warn!(%error, "could not record that the gateway should stay stopped");
                }
                match run.take() {
                    Some(handle) if handle.active() => {
                        ctx.set_state(State::Stopping);
                        let _ = reply.send(Ok(State::Stopping));
                        handle.stop().await;
                    }
                    _ => {
                        if !installing {
                            ctx.status.send_modify(|s| {
                                s.state = State::Stopped;
                                s.attention = None;
                            });
                        }
                        let _ = reply.send(Ok(ctx.status.borrow().state));
                    }
                }
            }
            Command_::Restart { rotate, reply } => {
                if installing {
                    let _ = reply.send(Err(busy_installing()));
                    continue;
                }
                if rotate && !running {
                    let _ = reply.send(Err(GatewayError::Conflict(
                        "The gateway is not running; its next start gets a new credential anyway."
                            .into(),
                    )));
                    continue;
                }
                if let Err(reason) = preflight(&ctx) {
                    let _ = reply.send(Err(GatewayError::Conflict(reason)));
                    continue;
                }
                let _ = store::run(&ctx.store, |s| s.set_gateway_wanted_running(true)).await;
                let _ = reply.send(Ok(State::Starting));
                if let Some(handle) = run.take() {
                    ctx.set_state(State::Stopping);
                    handle.stop().await;
                }
                if rotate {
                    ctx.note("rotating the gateway credential");
                }
                run = Some(spawn_run(&ctx, true));
            }
            Command_::Install { version, reply } => {
                if installing {
                    let _ = reply.send(Ok(State::Installing));
                    continue;
                }
                if running {
                    let _ = reply.send(Err(GatewayError::Conflict(
                        "Stop the gateway before installing OpenClaw.".into(),
                    )));
                    continue;
                }
                ctx.set_state(State::Installing);
                let _ = reply.send(Ok(State::Installing));
                install = Some(tokio::spawn(run_install(ctx.clone(), version)));
            }
            Command_::Shutdown(reply) => {
                if let Some(handle) = run.take() {
                    handle.stop().await;
                }
                if let Some(task) = install.take() {
                    task.abort();
                    let _ = task.await;
                }
                let _ = reply.send(());
                return;
            }
        }
    }
}

fn busy_installing() -> GatewayError {
    GatewayError::Conflict("OpenClaw is being installed; wait for it to finish.".into())
}

/// What must be in place before a start is even attempted, with what to do about it.
fn preflight(ctx: &Ctx) -> Result<(), String> {
    runtime::locate(&ctx.paths.runtime_dir, ctx.config.command.as_deref())
        .map_err(|e| e.to_string())?;
    Ok(())
}

fn spawn_run(ctx: &Arc<Ctx>, keep_counters: bool) -> RunHandle {
    let (cancel, cancelled) = watch::channel(false);
    ctx.status.send_modify(|status| {
        status.state = State::Starting;
        status.attention = None;
        if !keep_counters {
            status.restarts = 0;
        }
    });
    let task = tokio::spawn(supervise(ctx.clone(), cancelled));
    RunHandle { task, cancel }
}

async fn run_install(ctx: Arc<Ctx>, version: String) {
    let started = Instant::now();
    let timeout = Duration::from_secs(600);
    ctx.progress(
        "install",
        started,
        timeout,
        format!("installing OpenClaw {version}"),
    );
    let reporter = {
        let ctx = ctx.clone();
        move |line: String| {
            ctx.logs.push("install", &line);
            ctx.progress("install", started, timeout, line);
        }
    };
    match runtime::install(&ctx.paths.runtime_dir, &version, &reporter).await {
        Ok(manifest) => {
            ctx.progress(
                "installed",
                started,
                timeout,
                format!("OpenClaw {} is installed", manifest.openclaw_version),
            );
        }
        Err(error) => {
            tracing::warn!(%error, "OpenClaw install failed");
            ctx.note(&format!("install failed: {error}"));
            ctx.progress("install_failed", started, timeout, error.to_string());
        }
    }
    ctx.set_state(State::Stopped);
}

/// How one run of the gateway process ended.
enum Ended {
    /// The owner (or clawhost's shutdown) stopped it.
    Stopped,
    /// It cannot work until the owner changes something.
    Attention(String),
    /// It exited or never became ready: restart after a pause.
    Crashed(String),
}

/// The restart policy: exponential backoff, and giving up after too many crashes in a window.
struct Restarts {
    crashes: VecDeque<Instant>,
    backoff: Duration,
}

#[derive(Debug, PartialEq, Eq)]
enum AfterCrash {
    RestartIn(Duration),
    GiveUp,
}

impl Restarts {
    fn new() -> Self {
        Self {
            crashes: VecDeque::new(),
            backoff: FIRST_BACKOFF,
        }
    }

    /// A run that began at `began` crashed at `now`.
    fn crashed(&mut self, began: Instant, now: Instant) -> AfterCrash {
        self.crashes.push_back(now);
        while self
            .crashes
            .front()
            .is_some_and(|at| now.duration_since(*at) > CRASH_WINDOW)
        {
            self.crashes.pop_front();
        }
        if self.crashes.len() >= CRASH_LIMIT {
            return AfterCrash::GiveUp;
        }
        if now.duration_since(began) >= STABLE_AFTER {
            self.backoff = FIRST_BACKOFF;
        }
        let wait = self.backoff;
        self.backoff = (self.backoff * 2).min(MAX_BACKOFF);
        AfterCrash::RestartIn(wait)
    }
}

async fn supervise(ctx: Arc<Ctx>, mut cancelled: watch::Receiver<bool>) {
    let mut restarts = Restarts::new();
    loop {
        let began = Instant::now();
        let ended = run_once(&ctx, &mut cancelled).await;
        ctx.set_credential(None);
        ctx.status.send_modify(|s| s.pid = None);
        let reason = match ended {
            Ended::Stopped => {
                ctx.status.send_modify(|s| {
                    s.state = State::Stopped;
                    s.started_at = None;
                });
                ctx.note("the gateway is stopped");
                return;
            }
            Ended::Attention(reason) => {
                attention(&ctx, reason);
                return;
            }
            Ended::Crashed(reason) => reason,
        };
        let wait = match restarts.crashed(began, Instant::now()) {
            AfterCrash::GiveUp => {
                attention(
                    &ctx,
                    format!(
                        "The gateway failed {CRASH_LIMIT} times in 10 minutes; the last time: {reason}"
                    ),
                );
                return;
            }
            AfterCrash::RestartIn(wait) => wait,
        };
        ctx.note(&format!("{reason}; restarting in {} s", wait.as_secs()));
        ctx.status.send_modify(|s| {
            s.state = State::Backoff;
            s.restarts += 1;
            s.started_at = None;
        });
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = stop_requested(&mut cancelled) => {
                ctx.set_state(State::Stopped);
                return;
            }
        }
        ctx.set_state(State::Starting);
    }
}

/// Resolves once a stop is requested (the guard is dropped before any other await).
async fn stop_requested(cancelled: &mut watch::Receiver<bool>) {
    let _ = cancelled.wait_for(|stop| *stop).await;
}

fn attention(ctx: &Ctx, reason: String) {
    tracing::warn!(%reason, "the gateway needs attention");
    ctx.note(&format!("needs attention: {reason}"));
    let log_tail = ctx
        .logs
        .tail(LOG_TAIL)
        .into_iter()
        .map(|l| l.text)
        .collect();
    ctx.status.send_modify(|s| {
        s.state = State::NeedsAttention;
        s.started_at = None;
        s.attention = Some(Attention { reason, log_tail });
    });
}

/// Everything the gateway process needs to start, read fresh at each start.
struct Prepared {
    launcher: Launcher,
    env: Vec<(String, Zeroizing<String>)>,
    port: u16,
    token: Arc<Zeroizing<String>>,
    installed_version: Option<String>,
}

async fn prepare(ctx: &Ctx, started: Instant) -> Result<Prepared, String> {
    let timeout = ctx.config.ready_timeout;
    let (launcher, manifest) =
        runtime::locate(&ctx.paths.runtime_dir, ctx.config.command.as_deref())
            .map_err(|e| e.to_string())?;
    let settings = store::run(&ctx.store, |s| s.gateway_settings())
        .await
        .map_err(|e| e.to_string())?
        .ok_or("Choose an LLM provider in the setup first.")?;
    let provider = providers::find(&settings.provider).ok_or_else(|| {
        format!(
            "Unknown provider '{}'; choose one again in the setup.",
            settings.provider
        )
    })?;
    let key = match (
        super::settings::open_key(&ctx.sealer, &settings)?,
        provider.needs_key,
    ) {
        (Some(key), true) => Some(key),
        (None, true) => {
            return Err(format!(
                "Enter the {} API key in the setup first.",
                provider.name
            ));
        }
        _ => None,
    };

    let port = pick_port(ctx.config.port)?;
    let state_dir = ctx.paths.state_dir();
    crate::fsutil::ensure_private_dir(&state_dir).map_err(|e| e.to_string())?;
    let config_file = ctx.paths.config_file();
    let existing = openclaw_config::read(&config_file).map_err(|e| e.to_string())?;
    let config = openclaw_config::apply(
        existing,
        &openclaw_config::Owned {
            port,
            provider,
            model: &settings.model,
            base_url: settings.base_url.as_deref(),
            log_file: ctx.paths.log_file(),
        },
    );
    openclaw_config::write(&config_file, &config).map_err(|e| e.to_string())?;
    ctx.progress(
        "config_written",
        started,
        timeout,
        config_file.display().to_string(),
    );

    let token = Arc::new(Zeroizing::new(hex(&random_bytes::<32>())));
    let mut secrets = vec![token.as_str().to_owned()];
    let mut env = base_env(ctx, &launcher, &token);
    if let (Some(name), Some(key)) = (provider.key_env, key) {
        secrets.push(key.as_str().to_owned());
        env.push((name.to_string(), key));
    }
    ctx.logs.set_secrets(secrets);

    validate(ctx, &launcher, &env).await?;
    ctx.progress(
        "validated",
        started,
        timeout,
        "OpenClaw accepted the configuration",
    );

    let fingerprint = sha256(token.as_bytes());
    let event = NewEvent {
        at: now_ms(),
        kind: EventKind::GatewayCredentialIssued,
        ip: None,
        user_agent: None,
        detail: Some(format!("sha256:{}", &hex(&fingerprint)[..16])),
    };
    store::run(&ctx.store, move |s| {
        s.record_gateway_credential(fingerprint, &event)
    })
    .await
    .map_err(|e| e.to_string())?;
    Ok(Prepared {
        launcher,
        env,
        port,
        token,
        installed_version: manifest.map(|m| m.openclaw_version),
    })
}

/// The child's whole environment: nothing is inherited.
fn base_env(
    ctx: &Ctx,
    launcher: &Launcher,
    token: &Zeroizing<String>,
) -> Vec<(String, Zeroizing<String>)> {
    let plain = |name: &str, value: String| (name.to_string(), Zeroizing::new(value));
    let mut env = vec![
        plain("PATH", launcher.path_env()),
        plain("HOME", ctx.home.display().to_string()),
        plain(
            "LANG",
            std::env::var("LANG").unwrap_or_else(|_| "C.UTF-8".into()),
        ),
        plain(
            "OPENCLAW_STATE_DIR",
            ctx.paths.state_dir().display().to_string(),
        ),
        (
            TOKEN_ENV.to_string(),
            Zeroizing::new(token.as_str().to_owned()),
        ),
        plain("OPENCLAW_NO_RESPAWN", "1".into()),
        plain("OPENCLAW_SUPERVISOR_MODE", "external".into()),
        plain("OPENCLAW_NO_AUTO_UPDATE", "1".into()),
        plain("OPENCLAW_DISABLE_BONJOUR", "1".into()),
    ];
    env.extend(network_env(|name| std::env::var(name).ok()));
    if ctx.config.node_heap_mb > 0 && matches!(launcher, Launcher::Command(_)) {
        env.push(plain(
            "NODE_OPTIONS",
            format!("--max-old-space-size={}", ctx.config.node_heap_mb),
        ));
    }
    env
}

/// How this host reaches the internet: its proxy and its extra CA certificates. The gateway
/// needs them for LLM providers and for npm when it installs a plugin; nothing else of
/// clawhost's environment is passed on.
pub const NETWORK_ENV: &[&str] = &[
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "NO_PROXY",
    "no_proxy",
    "NODE_EXTRA_CA_CERTS",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
];

fn network_env(
    lookup: impl Fn(&str) -> Option<String>,
) -> impl Iterator<Item = (String, Zeroizing<String>)> {
    NETWORK_ENV.iter().filter_map(move |name| {
        let value = lookup(name).filter(|v| !v.is_empty())?;
        Some((name.to_string(), Zeroizing::new(value)))
    })
}

fn command(ctx: &Ctx, launcher: &Launcher, env: &[(String, Zeroizing<String>)]) -> Command {
    let (program, lead) = launcher.program();
    let mut command = Command::new(program);
    if ctx.config.node_heap_mb > 0 && matches!(launcher, Launcher::Installed { .. }) {
        command.arg(format!("--max-old-space-size={}", ctx.config.node_heap_mb));
    }
    command
        .args(lead)
        .env_clear()
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .current_dir(ctx.paths.state_dir())
        .stdin(Stdio::null());
    command
}

/// `openclaw config validate --json`; an invalid file is reported with its offending paths.
async fn validate(
    ctx: &Ctx,
    launcher: &Launcher,
    env: &[(String, Zeroizing<String>)],
) -> Result<(), String> {
    let mut validate = command(ctx, launcher, env);
    validate
        .args(["config", "validate", "--json"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let output = tokio::time::timeout(VALIDATE_TIMEOUT, validate.output())
        .await
        .map_err(|_| "OpenClaw did not finish checking its configuration in 90 s".to_string())?
        .map_err(|e| format!("cannot run OpenClaw to check its configuration: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let report: Option<serde_json::Value> = serde_json::from_str(stdout.trim()).ok();
    match report {
        Some(report) if report["valid"] == true => {
            for warning in report["warnings"].as_array().into_iter().flatten() {
                ctx.note(&format!("config warning: {}", issue_text(warning)));
            }
            Ok(())
        }
        Some(report) => {
            let issues: Vec<String> = report["issues"]
                .as_array()
                .into_iter()
                .flatten()
                .map(issue_text)
                .collect();
            Err(format!(
                "{} is invalid: {}",
                ctx.paths.config_file().display(),
                if issues.is_empty() {
                    "no details given".to_string()
                } else {
                    issues.join("; ")
                }
            ))
        }
        None => {
            let stderr = String::from_utf8_lossy(&output.stderr);
            for line in stderr.lines().chain(stdout.lines()) {
                ctx.logs.push("stderr", line);
            }
            Err(format!(
                "OpenClaw could not check its configuration ({})",
                output.status
            ))
        }
    }
}

fn issue_text(issue: &serde_json::Value) -> String {
    match (issue["path"].as_str(), issue["message"].as_str()) {
        (Some(path), Some(message)) if !path.is_empty() => format!("{path}: {message}"),
        (_, Some(message)) => message.to_string(),
        _ => issue.to_string(),
    }
}

/// The configured port, checked free; or any free loopback port when configured as 0.
fn pick_port(configured: u16) -> Result<u16, String> {
    let probe = std::net::TcpListener::bind(("127.0.0.1", configured));
    match probe {
        Ok(listener) => listener
            .local_addr()
            .map(|a| a.port())
            .map_err(|e| e.to_string()),
        Err(_) => Err(format!(
            "Port {configured} on 127.0.0.1 is already in use by another program; stop it, or set gateway.port to a free port (0 picks one)."
        )),
    }
}

async fn run_once(ctx: &Arc<Ctx>, cancelled: &mut watch::Receiver<bool>) -> Ended {
    let started = Instant::now();
    let timeout = ctx.config.ready_timeout;
    ctx.set_state(State::Starting);
    let prepared = tokio::select! {
        prepared = prepare(ctx, started) => prepared,
        () = stop_requested(cancelled) => return Ended::Stopped,
    };
    let prepared = match prepared {
        Ok(prepared) => prepared,
        Err(reason) => return Ended::Attention(reason),
    };

    let mut gateway = command(ctx, &prepared.launcher, &prepared.env);
    gateway
        .args([
            "gateway",
            "run",
            "--port",
            &prepared.port.to_string(),
            "--bind",
            "loopback",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let mut child = match gateway.spawn() {
        Ok(child) => child,
        Err(e) => return Ended::Attention(format!("cannot start OpenClaw: {e}")),
    };
    let Some(pid) = child.id() else {
        return Ended::Crashed("the gateway exited at once".into());
    };
    let readers = [
        child
            .stdout
            .take()
            .map(|out| spawn_reader(ctx, "stdout", out)),
        child
            .stderr
            .take()
            .map(|err| spawn_reader(ctx, "stderr", err)),
    ];
    ctx.status.send_modify(|s| s.pid = Some(pid));
    if let Err(error) =
        crate::fsutil::write_atomic(&ctx.paths.pid_file(), pid.to_string().as_bytes())
    {
        tracing::warn!(%error, "cannot record the gateway's pid");
    }
    ctx.note(&format!(
        "started the gateway (pid {pid}, port {})",
        prepared.port
    ));
    ctx.progress("spawned", started, timeout, format!("pid {pid}"));

    let ended = watch_child(ctx, &prepared, &mut child, pid, started, cancelled).await;
    let _ = std::fs::remove_file(ctx.paths.pid_file());
    for reader in readers.into_iter().flatten() {
        // A helper that kept the pipe open must not hold the supervisor.
        if tokio::time::timeout(Duration::from_secs(3), reader)
            .await
            .is_err()
        {
            tracing::debug!("a gateway output reader outlived the process");
        }
    }
    ended
}

async fn watch_child(
    ctx: &Arc<Ctx>,
    prepared: &Prepared,
    child: &mut Child,
    pid: u32,
    started: Instant,
    cancelled: &mut watch::Receiver<bool>,
) -> Ended {
    let timeout = ctx.config.ready_timeout;
    let group = Pid::from_raw(pid as i32);
    // Wait for readiness, reporting progress every second.
    let mut poll = tokio::time::interval(Duration::from_millis(250));
    let mut last_report = Instant::now();
    ctx.progress(
        "waiting_for_readiness",
        started,
        timeout,
        "waiting for /readyz",
    );
    loop {
        tokio::select! {
            status = child.wait() => {
                return exited(ctx, group, status, "before it was ready");
            }
            () = stop_requested(cancelled) => {
                stop_group(ctx, child, group).await;
                return Ended::Stopped;
            }
            _ = poll.tick() => {}
        }
        if ready(ctx, prepared.port).await {
            break;
        }
        if started.elapsed() > timeout {
            stop_group(ctx, child, group).await;
            return Ended::Crashed(format!(
                "the gateway was not ready within {} s",
                timeout.as_secs()
            ));
        }
        if last_report.elapsed() >= Duration::from_secs(1) {
            last_report = Instant::now();
            ctx.progress(
                "waiting_for_readiness",
                started,
                timeout,
                "waiting for /readyz",
            );
        }
    }

    ctx.set_credential(Some(Credential {
        port: prepared.port,
        token: prepared.token.clone(),
    }));
    let version = server_version(prepared.port, &prepared.token)
        .await
        .or_else(|| prepared.installed_version.clone());
    ctx.status.send_modify(|s| {
        s.state = State::Running;
        s.started_at = Some(rfc3339(now_ms()));
        s.openclaw_version = version;
    });
    ctx.progress(
        "ready",
        started,
        timeout,
        format!("the gateway is running on port {}", prepared.port),
    );
    ctx.note("the gateway is ready");

    tokio::select! {
        status = child.wait() => exited(ctx, group, status, "while running"),
        () = stop_requested(cancelled) => {
            stop_group(ctx, child, group).await;
            Ended::Stopped
        }
    }
}

fn exited(ctx: &Ctx, group: Pid, status: std::io::Result<ExitStatus>, when: &str) -> Ended {
    // Helpers left in the group go with it.
    let _ = killpg(group, Signal::SIGKILL);
    let status = match status {
        Ok(status) => status,
        Err(e) => return Ended::Crashed(format!("lost track of the gateway: {e}")),
    };
    ctx.status.send_modify(|s| {
        s.last_exit = Some(Exit {
            code: status.code(),
            signal: status.signal(),
            at: rfc3339(now_ms()),
        })
    });
    match (status.code(), status.signal()) {
        (Some(EXIT_CONFIG), _) => Ended::Attention(format!(
            "OpenClaw refused its configuration (exit 78) {when}; see the log lines below, fix {} and start again",
            ctx.paths.config_file().display()
        )),
        (Some(code), _) => Ended::Crashed(format!("the gateway exited with code {code} {when}")),
        (None, Some(signal)) => {
            Ended::Crashed(format!("the gateway was killed by signal {signal} {when}"))
        }
        _ => Ended::Crashed(format!("the gateway ended {when}")),
    }
}

/// SIGTERM to the whole group, then SIGKILL after the stop timeout; nothing of it survives.
async fn stop_group(ctx: &Ctx, child: &mut Child, group: Pid) {
    ctx.set_state(State::Stopping);
    ctx.set_credential(None);
    let _ = killpg(group, Signal::SIGTERM);
    let status = match tokio::time::timeout(ctx.config.stop_timeout, child.wait()).await {
        Ok(status) => status.ok(),
        Err(_) => {
            ctx.note(&format!(
                "the gateway did not stop within {} s; killing it",
                ctx.config.stop_timeout.as_secs()
            ));
            let _ = killpg(group, Signal::SIGKILL);
            child.wait().await.ok()
        }
    };
    let _ = killpg(group, Signal::SIGKILL);
    if let Some(status) = status {
        ctx.status.send_modify(|s| {
            s.last_exit = Some(Exit {
                code: status.code(),
                signal: status.signal(),
                at: rfc3339(now_ms()),
            })
        });
    }
}

async fn ready(ctx: &Ctx, port: u16) -> bool {
    let Ok(uri) = format!("http://127.0.0.1:{port}/readyz").parse::<hyper::Uri>() else {
        return false;
    };
    match tokio::time::timeout(Duration::from_secs(2), ctx.http.get(uri)).await {
        Ok(Ok(response)) => response.status().is_success(),
        _ => false,
    }
}

/// The version the gateway reports in its handshake (it may still be finishing start-up).
async fn server_version(port: u16, token: &str) -> Option<String> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        match RpcClient::connect(port, token, Duration::from_secs(5)).await {
            Ok(client) => {
                let version = client.server_version.clone();
                client.close().await;
                return version;
            }
            Err(RpcError::Starting | RpcError::Closed) => {
                tokio::time::sleep(Duration::from_millis(500)).await;
            }
            Err(error) => {
                tracing::debug!(%error, "could not ask the gateway for its version");
                return None;
            }
        }
    }
    None
}

fn spawn_reader(
    ctx: &Arc<Ctx>,
    stream: &'static str,
    pipe: impl tokio::io::AsyncRead + Unpin + Send + 'static,
) -> JoinHandle<()> {
    let logs = ctx.logs.clone();
    tokio::spawn(async move {
        let mut lines = BufReader::new(pipe).lines();
        while let Ok(Some(line)) = lines.next_line().await {
            logs.push(stream, &line);
        }
    })
}

/// Stops a gateway that a previous clawhost left running (it was killed before it could stop
/// its child). Only a process group led by the recorded pid whose environment names this
/// instance's state directory is touched.
async fn stop_leftover(ctx: &Ctx) {
    let pid_file = ctx.paths.pid_file();
    let Ok(text) = std::fs::read_to_string(&pid_file) else {
        return;
    };
    let _ = std::fs::remove_file(&pid_file);
    let Ok(pid) = text.trim().parse::<i32>() else {
        return;
    };
    let marker = format!("OPENCLAW_STATE_DIR={}", ctx.paths.state_dir().display());
    let ours = std::fs::read(format!("/proc/{pid}/environ"))
        .map(|environ| {
            environ
                .split(|b| *b == 0)
                .any(|entry| entry == marker.as_bytes())
        })
        .unwrap_or(false);
    if !ours {
        return;
    }
    tracing::warn!(
        pid,
        "a gateway from a previous run of clawhost is still running; stopping it"
    );
    let group = Pid::from_raw(pid);
    let _ = killpg(group, Signal::SIGTERM);
    let deadline = Instant::now() + ctx.config.stop_timeout;
    while Instant::now() < deadline {
        if killpg(group, None).is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = killpg(group, Signal::SIGKILL);
}

/// Sums VmRSS over the processes whose process group is `group`.
fn group_rss_bytes(group: i32) -> Option<u64> {
    let mut total = 0u64;
    let mut found = false;
    for entry in std::fs::read_dir("/proc").ok()?.flatten() {
        let name = entry.file_name();
        let Some(pid) = name
            .to_str()
            .filter(|n| n.bytes().all(|b| b.is_ascii_digit()))
        else {
            continue;
        };
        let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
            continue;
        };
        // Fields after the command name (which may hold spaces): state ppid pgrp …
        let Some(after) = stat.rsplit_once(')').map(|(_, rest)| rest) else {
            continue;
        };
        let pgrp = after
            .split_whitespace()
            .nth(2)
            .and_then(|f| f.parse::<i32>().ok());
        if pgrp != Some(group) {
            continue;
        }
        let Ok(status) = std::fs::read_to_string(format!("/proc/{pid}/status")) else {
            continue;
        };
        let kib = status
            .lines()
            .find_map(|line| line.strip_prefix("VmRSS:"))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|n| n.parse::<u64>().ok());
        if let Some(kib) = kib {
            total += kib * 1024;
            found = true;
        }
    }
    found.then_some(total)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_network_settings_reach_the_gateway() {
        let host = |name: &str| match name {
            "HTTPS_PROXY" => Some("http://proxy:3128".to_string()),
            "NODE_EXTRA_CA_CERTS" => Some("/etc/ssl/certs/ca-certificates.crt".to_string()),
            "NO_PROXY" => Some(String::new()),
            "CLAWHOST_SECRET_KEY_FILE" | "AWS_SECRET_ACCESS_KEY" => Some("secret".to_string()),
            _ => None,
        };
        let passed: Vec<String> = network_env(host).map(|(name, _)| name).collect();
        assert_eq!(passed, ["HTTPS_PROXY", "NODE_EXTRA_CA_CERTS"]);
    }

    #[test]
    fn own_group_memory_is_found() {
        let me = nix::unistd::getpgrp().as_raw();
        assert!(group_rss_bytes(me).is_some_and(|bytes| bytes > 0));
        assert_eq!(group_rss_bytes(i32::MAX), None);
    }

    #[test]
    fn backoff_doubles_to_a_minute_and_five_fast_crashes_give_up() {
        let mut restarts = Restarts::new();
        let start = Instant::now();
        let mut now = start;
        let mut waits = Vec::new();
        for _ in 0..4 {
            match restarts.crashed(now, now + Duration::from_secs(1)) {
                AfterCrash::RestartIn(wait) => waits.push(wait.as_secs()),
                AfterCrash::GiveUp => panic!("gave up too early"),
            }
            now += Duration::from_secs(5);
        }
        assert_eq!(waits, [1, 2, 4, 8]);
        assert_eq!(restarts.crashed(now, now), AfterCrash::GiveUp);
    }

    #[test]
    fn crashes_spread_out_never_give_up_and_stable_runs_reset_the_backoff() {
        let mut restarts = Restarts::new();
        let mut now = Instant::now();
        for _ in 0..8 {
            restarts.crashed(now, now);
            now += Duration::from_secs(200);
        }
        // Only crashes within 10 minutes count: never five at once here.
        let began = now;
        now += Duration::from_secs(120);
        assert_eq!(
            restarts.crashed(began, now),
            AfterCrash::RestartIn(FIRST_BACKOFF)
        );
        let mut fresh = Restarts::new();
        let t = Instant::now();
        for _ in 0..3 {
            fresh.crashed(t, t);
        }
        let mut later = t;
        for _ in 0..10 {
            later += CRASH_WINDOW + Duration::from_secs(1);
            fresh.crashed(later, later);
        }
        assert_eq!(fresh.backoff, MAX_BACKOFF);
    }

    #[test]
    fn busy_ports_are_reported() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = taken.local_addr().expect("addr").port();
        let error = pick_port(port).expect_err("in use");
        assert!(error.contains(&port.to_string()), "{error}");
        assert!(pick_port(0).is_ok_and(|p| p != 0));
    }
}
