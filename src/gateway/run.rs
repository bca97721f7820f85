//! One run of the gateway, from preparing the start to its end, started again after a crash
//! as the restart policy says; and the state the supervisor's actor and its runs share.
//!
//! While the owner wants the gateway running, a run task owns the child: it prepares the
//! start ([`super::launch`]), spawns the process ([`super::process`]), waits for `/readyz`,
//! publishes the credential, and after an exit asks [`super::restart_policy`] whether to
//! start again after a pause or to give up with "needs attention".

use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant};

use tokio::sync::{broadcast, watch};
use tokio::task::JoinHandle;

use super::launch::{Launch, Prepared};
use super::process::{self, Answer, GatewayProcess, ReadyClient};
use super::restart_policy::{
    AfterCrash, CRASH_LIMIT, Ended, HEAP_EXHAUSTED, HEAP_LINES, OutOfMemory, Restarts, SIGKILL,
    after_exit,
};
use super::status::{Attention, Credential, GatewayState, Progress, Status};
use crate::clock::{now_ms, rfc3339};
use crate::store;

/// Log lines kept with "needs attention".
const LOG_TAIL: usize = 50;
const READY_POLL: Duration = Duration::from_millis(250);

/// What the actor and the run task share.
pub(super) struct Ctx {
    pub(super) launch: Launch,
    pub(super) status: watch::Sender<Status>,
    pub(super) progress: broadcast::Sender<Progress>,
    pub(super) credential: RwLock<Option<Credential>>,
    /// Bumped whenever the running gateway or its credential goes away.
    pub(super) generation: watch::Sender<u64>,
    pub(super) http: ReadyClient,
}

impl Ctx {
    pub(super) fn set_state(&self, state: GatewayState) {
        self.status.send_modify(|status| status.state = state);
    }

    pub(super) fn progress(
        &self,
        phase: &'static str,
        started: Instant,
        timeout: Duration,
        detail: impl Into<String>,
    ) {
        self.send_progress(phase, started, timeout, detail.into(), None);
    }

    /// A step whose share of the whole is known.
    pub(super) fn progress_percent(
        &self,
        phase: &'static str,
        started: Instant,
        timeout: Duration,
        detail: String,
        percent: u8,
    ) {
        self.send_progress(phase, started, timeout, detail, Some(percent));
    }

    fn send_progress(
        &self,
        phase: &'static str,
        started: Instant,
        timeout: Duration,
        detail: String,
        percent: Option<u8>,
    ) {
        let millis = |d: Duration| u64::try_from(d.as_millis()).unwrap_or(u64::MAX);
        let _ = self.progress.send(Progress {
            phase,
            elapsed_ms: millis(started.elapsed()),
            timeout_ms: millis(timeout),
            detail,
            percent,
        });
    }

    pub(super) fn note(&self, text: &str) {
        self.launch.logs.push("clawhost", text);
    }

    pub(super) fn set_credential(&self, credential: Option<Credential>) {
        *self
            .credential
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = credential;
        self.generation.send_modify(|g| *g += 1);
    }
}

pub(super) struct RunHandle {
    task: JoinHandle<()>,
    cancel: watch::Sender<bool>,
}

impl RunHandle {
    pub(super) fn active(&self) -> bool {
        !self.task.is_finished()
    }

    pub(super) async fn stop(self) {
        let _ = self.cancel.send(true);
        let _ = self.task.await;
    }
}

pub(super) fn spawn_run(ctx: &Arc<Ctx>, keep_counters: bool) -> RunHandle {
    let (cancel, cancelled) = watch::channel(false);
    ctx.status.send_modify(|status| {
        status.state = GatewayState::Starting;
        status.attention = None;
        if !keep_counters {
            status.restarts = 0;
        }
    });
    let task = tokio::spawn(supervise(ctx.clone(), cancelled));
    RunHandle { task, cancel }
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
                    s.state = GatewayState::Stopped;
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
            s.state = GatewayState::Backoff;
            s.restarts += 1;
            s.started_at = None;
        });
        tokio::select! {
            () = tokio::time::sleep(wait) => {}
            () = stop_requested(&mut cancelled) => {
                ctx.set_state(GatewayState::Stopped);
                return;
            }
        }
        ctx.set_state(GatewayState::Starting);
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
        .launch
        .logs
        .tail(LOG_TAIL)
        .into_iter()
        .map(|l| l.text)
        .collect();
    ctx.status.send_modify(|s| {
        s.state = GatewayState::NeedsAttention;
        s.started_at = None;
        s.attention = Some(Attention { reason, log_tail });
    });
}

/// One run: prepare, spawn, wait until ready, then until it ends.
async fn run_once(ctx: &Arc<Ctx>, cancelled: &mut watch::Receiver<bool>) -> Ended {
    let started = Instant::now();
    let timeout = ctx.launch.config.ready_timeout;
    ctx.set_state(GatewayState::Starting);
    let report =
        |phase: &'static str, detail: String| ctx.progress(phase, started, timeout, detail);
    let prepared = tokio::select! {
        prepared = ctx.launch.prepare(&report) => prepared,
        () = stop_requested(cancelled) => return Ended::Stopped,
    };
    let prepared = match prepared {
        Ok(prepared) => prepared,
        Err(reason) => return Ended::Attention(reason),
    };
    // The wait for readiness is the gateway's own: a channel plugin installed while
    // preparing (a minute on a slow link) does not count against it.
    let started = Instant::now();
    let command = ctx.launch.gateway_command(&prepared);
    let mut gateway =
        match GatewayProcess::spawn(command, &ctx.launch.logs, ctx.launch.paths.pid_file()) {
            Ok(gateway) => gateway,
            Err(error @ process::SpawnError::Failed(_)) => {
                return Ended::Attention(error.to_string());
            }
            Err(error) => return Ended::Crashed(error.to_string()),
        };
    let pid = gateway.pid();
    ctx.status.send_modify(|s| s.pid = Some(pid));
    ctx.note(&format!(
        "started the gateway (pid {pid}, port {})",
        prepared.port
    ));
    ctx.progress("spawned", started, timeout, format!("pid {pid}"));

    let ended = watch_child(ctx, &prepared, &mut gateway, started, cancelled).await;
    gateway.finish().await;
    ended
}

async fn watch_child(
    ctx: &Arc<Ctx>,
    prepared: &Prepared,
    gateway: &mut GatewayProcess,
    started: Instant,
    cancelled: &mut watch::Receiver<bool>,
) -> Ended {
    let timeout = ctx.launch.config.ready_timeout;
    // Wait for readiness, reporting progress every second.
    let mut poll = tokio::time::interval(READY_POLL);
    let mut last_report = Instant::now();
    ctx.progress(
        "waiting_for_readiness",
        started,
        timeout,
        "waiting for /readyz",
    );
    loop {
        tokio::select! {
            status = gateway.wait() => return exited(ctx, gateway, status, "before it was ready"),
            () = stop_requested(cancelled) => {
                stop(ctx, gateway).await;
                return Ended::Stopped;
            }
            _ = poll.tick() => {}
        }
        match process::who_answers(&ctx.http, prepared.port, gateway.pid()).await {
            Answer::Ours => break,
            Answer::NotYet => {}
            Answer::Foreign => {
                stop(ctx, gateway).await;
                return Ended::Attention(format!(
                    "Port {} on 127.0.0.1 answers, but not from the gateway clawhost started: another program is using it. Stop that program, or set gateway.port to a free port (0 picks one).",
                    prepared.port
                ));
            }
        }
        if started.elapsed() > timeout {
            stop(ctx, gateway).await;
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
    let version = process::server_version(prepared.port, &prepared.token)
        .await
        .or_else(|| prepared.installed_version.clone());
    ctx.status.send_modify(|s| {
        s.state = GatewayState::Running;
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
    let at = now_ms();
    if let Err(error) = store::run(&ctx.launch.store, move |s| s.mark_gateway_ready(at)).await {
        tracing::warn!(%error, "cannot record that the gateway became ready");
    }

    tokio::select! {
        status = gateway.wait() => exited(ctx, gateway, status, "while running"),
        () = stop_requested(cancelled) => {
            stop(ctx, gateway).await;
            Ended::Stopped
        }
    }
}

fn exited(
    ctx: &Ctx,
    gateway: &GatewayProcess,
    status: std::io::Result<std::process::ExitStatus>,
    when: &str,
) -> Ended {
    let status = match status {
        Ok(status) => status,
        Err(e) => return Ended::Crashed(format!("lost track of the gateway: {e}")),
    };
    let exit = process::exit_record(status);
    let out_of_memory = OutOfMemory {
        oom_killed: exit.signal == Some(SIGKILL) && gateway.oom_killed_since_start(),
        heap_exhausted: ctx
            .launch
            .logs
            .tail(HEAP_LINES)
            .iter()
            .any(|line| line.text.contains(HEAP_EXHAUSTED)),
        heap_mb: ctx.launch.config.node_heap_mb,
    };
    let ended = out_of_memory.reason(when).map_or_else(
        || {
            after_exit(
                exit.code,
                exit.signal,
                when,
                &ctx.launch.paths.config_file(),
            )
        },
        Ended::Attention,
    );
    ctx.status.send_modify(|s| s.last_exit = Some(exit));
    ended
}

/// Stops the running gateway: its credential is gone at once, then the process.
async fn stop(ctx: &Ctx, gateway: &mut GatewayProcess) {
    ctx.set_state(GatewayState::Stopping);
    ctx.set_credential(None);
    if let Some(status) = gateway.stop(ctx.launch.config.stop_timeout).await {
        ctx.status
            .send_modify(|s| s.last_exit = Some(process::exit_record(status)));
    }
}
