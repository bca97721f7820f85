//! What an update asks of a new version: that it accepts the configuration before the
//! switch, and that it runs, ready and healthy, after it.

use std::path::Path;
use std::time::Duration;

use crate::gateway::rpc::RpcClient;
use crate::gateway::status::GatewayState;
use crate::gateway::supervisor::Gateway;

/// Beyond the gateway's own readiness time, for its health and channel answers.
const CHECK_MARGIN: Duration = Duration::from_secs(30);
const RPC_TIMEOUT: Duration = Duration::from_secs(20);

/// What went wrong after the switch: why, and the log's end.
pub(super) struct Failed {
    pub(super) reason: String,
    pub(super) log_tail: Vec<String>,
}

/// `openclaw config validate --json` with the staged runtime, on the current state.
pub(super) async fn validate_with(gateway: &Gateway, staged: &Path) -> Result<(), String> {
    let tool = gateway.tool_at(staged).map_err(|e| e.to_string())?;
    let args: [&std::ffi::OsStr; 3] = ["config".as_ref(), "validate".as_ref(), "--json".as_ref()];
    let output = tokio::time::timeout(Duration::from_mins(2), tool.command(&args).output())
        .await
        .map_err(|_| "it did not answer within 2 minutes".to_string())?
        .map_err(|e| e.to_string())?;
    let report: Option<serde_json::Value> = serde_json::from_slice(&output.stdout).ok();
    match report {
        Some(report) if report["valid"] == true => Ok(()),
        Some(report) => Err(report["issues"]
            .as_array()
            .into_iter()
            .flatten()
            .map(crate::gateway::launch::issue_text)
            .collect::<Vec<_>>()
            .join("; ")),
        None => Err(format!(
            "it could not check it ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr)
                .lines()
                .last()
                .unwrap_or_default()
        )),
    }
}

/// The gateway running `version`, ready, answering `health` and `channels.status`.
pub(super) async fn check_running(gateway: &Gateway, version: &str) -> Result<(), Failed> {
    let window = gateway.ready_timeout() + CHECK_MARGIN;
    let mut status = gateway.watch_status();
    let settled = tokio::time::timeout(window, async {
        loop {
            let state = status.borrow_and_update().state;
            match state {
                GatewayState::Running
                | GatewayState::NeedsAttention
                | GatewayState::Stopped
                | GatewayState::Backoff => return state,
                _ => {}
            }
            if status.changed().await.is_err() {
                return GatewayState::Stopped;
            }
        }
    })
    .await;
    let now = gateway.status();
    let failed = |reason: String| Failed {
        reason,
        log_tail: now.attention.as_ref().map_or_else(
            || {
                gateway
                    .logs()
                    .tail(20)
                    .into_iter()
                    .map(|line| line.text)
                    .collect()
            },
            |a| a.log_tail.clone(),
        ),
    };
    match settled {
        Ok(GatewayState::Running) => {}
        Ok(_) => {
            return Err(failed(now.attention.as_ref().map_or_else(
                || "it did not start".to_owned(),
                |a| a.reason.clone(),
            )));
        }
        Err(_) => {
            return Err(failed(format!(
                "it was not ready within {} s",
                window.as_secs()
            )));
        }
    }
    if now
        .openclaw_version
        .as_deref()
        .is_some_and(|running| running != version)
    {
        return Err(failed(format!(
            "OpenClaw {} answered instead",
            now.openclaw_version.unwrap_or_default()
        )));
    }
    let credential = gateway
        .credential()
        .ok_or_else(|| failed("it gave no credential".to_owned()))?;
    let mut rpc = RpcClient::connect(credential.port, &credential.token, RPC_TIMEOUT)
        .await
        .map_err(|e| failed(format!("its RPC did not answer: {e}")))?;
    let health = rpc.call("health", serde_json::json!({}), RPC_TIMEOUT).await;
    let channels = rpc
        .call("channels.status", serde_json::json!({}), RPC_TIMEOUT)
        .await;
    rpc.close().await;
    match (health, channels) {
        (Ok(health), Ok(_)) if health["ok"] != false => Ok(()),
        (Ok(_), Ok(_)) => Err(failed("its health check said it is not well".to_owned())),
        (Err(e), _) => Err(failed(format!("its health check failed: {e}"))),
        (_, Err(e)) => Err(failed(format!("its channels did not answer: {e}"))),
    }
}
