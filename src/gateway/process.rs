//! The gateway's process: spawned as the leader of its own process group (no shell; the
//! command arrives with its whole environment), its output read line by line into the log
//! buffer, asked for readiness on `/readyz`, and stopped with SIGTERM and then SIGKILL to the
//! whole group. Its pid is kept in a file while it runs, so a gateway left behind by a
//! clawhost that was killed outright is found and stopped at the next start.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::{Duration, Instant};

use http_body_util::Empty;
use hyper::body::Bytes;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

use super::logs::{GatewayLogs, each_line};
use super::procfs;
use super::rpc::{RpcClient, RpcError};
use super::status::Exit;
use crate::clock::{now_ms, rfc3339};

/// The gateway's `oom_score_adj`: well above clawhost's (the unit gives it -100).
const GATEWAY_OOM_SCORE: &str = "500";

/// How long output readers may outlive the process (a helper may keep a pipe open).
const READERS_GRACE: Duration = Duration::from_secs(3);

/// The client that asks `/readyz`.
pub(crate) type ReadyClient = Client<HttpConnector, Empty<Bytes>>;

pub(crate) fn ready_client() -> ReadyClient {
    Client::builder(TokioExecutor::new()).build_http()
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum SpawnError {
    #[error("cannot start OpenClaw: {0}")]
    Failed(std::io::Error),
    #[error("the gateway exited at once")]
    ExitedAtOnce,
}

pub(crate) struct GatewayProcess {
    child: Child,
    pid: u32,
    group: Pid,
    readers: Vec<JoinHandle<()>>,
    logs: GatewayLogs,
    pid_file: PathBuf,
    /// The cgroup's OOM kills when it started: more when it was killed means memory ran out.
    oom_kills_at_start: Option<u64>,
}

impl GatewayProcess {
    /// Spawns `command` (program, arguments, environment and directory already set) in a
    /// process group of its own, and records its pid in `pid_file`.
    pub(crate) fn spawn(
        mut command: Command,
        logs: &GatewayLogs,
        pid_file: PathBuf,
    ) -> Result<Self, SpawnError> {
        command
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        let oom_kills_at_start = super::procfs::oom_kills();
        let mut child = command.spawn().map_err(SpawnError::Failed)?;
        let pid = child.id().ok_or(SpawnError::ExitedAtOnce)?;
        let mut readers = Vec::with_capacity(2);
        if let Some(out) = child.stdout.take() {
            readers.push(read_lines(logs, "stdout", out));
        }
        if let Some(err) = child.stderr.take() {
            readers.push(read_lines(logs, "stderr", err));
        }
        // When memory runs out, the gateway (and the tools it runs, which inherit this) goes
        // before clawhost, which stays to say so and start it again. Raising it needs no
        // privilege.
        if let Err(error) = std::fs::write(format!("/proc/{pid}/oom_score_adj"), GATEWAY_OOM_SCORE)
        {
            tracing::debug!(%error, "cannot make the gateway the OOM killer's first choice");
        }
        if let Err(error) = crate::fsutil::write_atomic(&pid_file, pid.to_string().as_bytes()) {
            tracing::warn!(%error, "cannot record the gateway's pid");
        }
        Ok(Self {
            child,
            pid,
            group: Pid::from_raw(i32::try_from(pid).unwrap_or(i32::MAX)),
            readers,
            logs: logs.clone(),
            pid_file,
            oom_kills_at_start,
        })
    }

    pub(crate) fn pid(&self) -> u32 {
        self.pid
    }

    /// Whether the kernel's OOM killer has struck in clawhost's cgroup since the start (read
    /// when the gateway was killed: then it was the gateway, the OOM killer's first choice).
    pub(crate) fn oom_killed_since_start(&self) -> bool {
        self.oom_kills_at_start
            .zip(super::procfs::oom_kills())
            .is_some_and(|(before, now)| now > before)
    }

    /// Waits for the gateway to exit; helpers it left in its group go with it.
    pub(crate) async fn wait(&mut self) -> std::io::Result<ExitStatus> {
        let status = self.child.wait().await;
        let _ = killpg(self.group, Signal::SIGKILL);
        status
    }

    /// SIGTERM to the whole group, then SIGKILL after `timeout`; nothing of it survives.
    pub(crate) async fn stop(&mut self, timeout: Duration) -> Option<ExitStatus> {
        let _ = killpg(self.group, Signal::SIGTERM);
        let status = if let Ok(status) = tokio::time::timeout(timeout, self.child.wait()).await {
            status.ok()
        } else {
            self.logs.push(
                "clawhost",
                &format!(
                    "the gateway did not stop within {} s; killing it",
                    timeout.as_secs()
                ),
            );
            let _ = killpg(self.group, Signal::SIGKILL);
            self.child.wait().await.ok()
        };
        let _ = killpg(self.group, Signal::SIGKILL);
        status
    }

    /// After the process ended: forgets its pid and lets its output readers finish.
    pub(crate) async fn finish(self) {
        let _ = std::fs::remove_file(&self.pid_file);
        for reader in self.readers {
            // A helper that kept the pipe open must not hold the supervisor.
            if tokio::time::timeout(READERS_GRACE, reader).await.is_err() {
                tracing::debug!("a gateway output reader outlived the process");
            }
        }
    }
}

fn read_lines(
    logs: &GatewayLogs,
    stream: &'static str,
    pipe: impl tokio::io::AsyncRead + Unpin + Send + 'static,
) -> JoinHandle<()> {
    let logs = logs.clone();
    tokio::spawn(async move { each_line(pipe, |line| logs.push(stream, line)).await })
}

/// The exit as the status shows it.
pub(crate) fn exit_record(status: ExitStatus) -> Exit {
    Exit {
        code: status.code(),
        signal: status.signal(),
        at: rfc3339(now_ms()),
    }
}

/// Whether whatever listens on `port` answers `/readyz` with success.
async fn is_ready(http: &ReadyClient, port: u16) -> bool {
    let Ok(uri) = format!("http://127.0.0.1:{port}/readyz").parse::<hyper::Uri>() else {
        return false;
    };
    match tokio::time::timeout(Duration::from_secs(2), http.get(uri)).await {
        Ok(Ok(response)) => response.status().is_success(),
        _ => false,
    }
}

/// Who answered on the gateway's port.
pub(crate) enum Answer {
    /// Our gateway: `/readyz` answers and the socket listening on the port is its own.
    Ours,
    /// Nothing answers yet.
    NotYet,
    /// Something answers `/readyz` there from a socket no process of the gateway's group
    /// holds: another program has the port.
    Foreign,
}

/// Whether the gateway on `port` is ready and is the child leading process group `group`.
/// `/readyz` carries no secret, so asking it tells a stranger nothing; the credential goes to
/// the port only once the listening socket is known to be the child's.
pub(crate) async fn who_answers(http: &ReadyClient, port: u16, group: u32) -> Answer {
    if !is_ready(http, port).await {
        return Answer::NotYet;
    }
    let Ok(group) = i32::try_from(group) else {
        return Answer::Foreign;
    };
    let owner = tokio::task::spawn_blocking(move || procfs::port_listener_is_group(port, group))
        .await
        .ok()
        .flatten();
    match owner {
        Some(true) => Answer::Ours,
        Some(false) => Answer::Foreign,
        // It answered, then stopped listening (a restart inside it): ask again.
        None => Answer::NotYet,
    }
}

/// The version the gateway reports in its handshake (it may still be finishing start-up).
pub(crate) async fn server_version(port: u16, token: &str) -> Option<String> {
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

/// Stops a gateway that a previous clawhost left running (it was killed before it could stop
/// its child). Only a process group led by the recorded pid whose environment names this
/// instance's state directory (`OPENCLAW_STATE_DIR`) is touched.
pub(crate) async fn stop_leftover(pid_file: &Path, state_dir: &Path, timeout: Duration) {
    let Ok(text) = std::fs::read_to_string(pid_file) else {
        return;
    };
    let _ = std::fs::remove_file(pid_file);
    let Ok(pid) = text.trim().parse::<i32>() else {
        return;
    };
    let marker = format!("OPENCLAW_STATE_DIR={}", state_dir.display());
    let ours = std::fs::read(format!("/proc/{pid}/environ")).is_ok_and(|environ| {
        environ
            .split(|b| *b == 0)
            .any(|entry| entry == marker.as_bytes())
    });
    if !ours {
        return;
    }
    tracing::warn!(
        pid,
        "a gateway from a previous run of clawhost is still running; stopping it"
    );
    let group = Pid::from_raw(pid);
    let _ = killpg(group, Signal::SIGTERM);
    let deadline = Instant::now() + timeout;
    while Instant::now() < deadline {
        if killpg(group, None).is_err() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let _ = killpg(group, Signal::SIGKILL);
}

/// Resident memory of the process group led by `pid`, in bytes.
pub(crate) async fn group_rss(pid: u32) -> Option<u64> {
    let group = i32::try_from(pid).ok()?;
    tokio::task::spawn_blocking(move || procfs::group_rss_bytes(group))
        .await
        .ok()
        .flatten()
}
