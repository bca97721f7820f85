//! What an update asks of a new version: that it accepts the configuration before the
//! switch, and that it runs, ready and healthy, after it.

use std::path::Path;
use std::time::Duration;

use crate::gateway::launch::Tool;
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

/// What OpenClaw's doctor said that does not stop an update, in lines for the owner.
pub(super) type Advice = Vec<String>;

/// Most of the doctor's findings kept in an outcome; the rest are counted.
const ADVICE_KEPT: usize = 8;
const DOCTOR_TIMEOUT: Duration = Duration::from_mins(3);

/// `openclaw <args>` with `tool`: its exit status, its JSON answer if it gave one, and the
/// last line it wrote to stderr.
async fn json_of(
    tool: &Tool,
    args: &[&str],
) -> Result<(std::process::ExitStatus, Option<serde_json::Value>, String), String> {
    let args: Vec<&std::ffi::OsStr> = args.iter().map(std::ffi::OsStr::new).collect();
    let output = tokio::time::timeout(DOCTOR_TIMEOUT, tool.command(&args).output())
        .await
        .map_err(|_| {
            format!(
                "it did not answer within {} minutes",
                DOCTOR_TIMEOUT.as_secs() / 60
            )
        })?
        .map_err(|e| e.to_string())?;
    let answer = serde_json::from_slice(&output.stdout).ok();
    let said = String::from_utf8_lossy(&output.stderr)
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap_or_default()
        .to_owned();
    Ok((
        output.status,
        answer,
        crate::gateway::logs::strip_ansi(&said),
    ))
}

/// `openclaw config validate --json` with the staged runtime, on the current state.
pub(super) async fn validate_with(gateway: &Gateway, staged: &Path) -> Result<(), String> {
    let tool = gateway.tool_at(staged).map_err(|e| e.to_string())?;
    match json_of(&tool, &["config", "validate", "--json"]).await? {
        (_, Some(report), _) if report["valid"] == true => Ok(()),
        (_, Some(report), _) => Err(report["issues"]
            .as_array()
            .into_iter()
            .flatten()
            .map(crate::gateway::launch::issue_text)
            .collect::<Vec<_>>()
            .join("; ")),
        (status, None, said) => Err(format!("it could not check it ({status}): {said}")),
    }
}

/// `openclaw doctor --lint --json` with the staged runtime, on the current configuration
/// and state (read-only, OpenClaw's own preflight): its errors stop the update, as they stop
/// OpenClaw's own updater; its warnings are advice. A version without the lint is let
/// through with a word of it.
pub(super) async fn lint_with(gateway: &Gateway, staged: &Path) -> Result<Advice, String> {
    let tool = gateway.tool_at(staged).map_err(|e| e.to_string())?;
    let report = match json_of(&tool, &["doctor", "--lint", "--json"]).await {
        Ok((_, Some(report), _)) if report["findings"].is_array() => report,
        Ok((status, _, said)) => {
            return Ok(vec![format!(
                "OpenClaw's doctor could not check this version ({status}: {said})."
            )]);
        }
        Err(why) => return Ok(vec![format!("OpenClaw's doctor: {why}.")]),
    };
    lint_verdict(&report)
}

/// The lint's findings: errors stop the update, the rest is advice.
fn lint_verdict(report: &serde_json::Value) -> Result<Advice, String> {
    let findings = report["findings"].as_array().into_iter().flatten();
    let (errors, warnings): (Vec<_>, Vec<_>) =
        findings.partition(|finding| finding["severity"] == "error");
    if errors.is_empty() {
        Ok(kept(
            warnings
                .into_iter()
                .map(|f| finding_text(f, "checkId", "severity")),
        ))
    } else {
        Err(errors
            .into_iter()
            .map(|f| finding_text(f, "checkId", "severity"))
            .collect::<Vec<_>>()
            .join("; "))
    }
}

/// `openclaw doctor --post-upgrade --json` with the version now running: its plugin
/// compatibility probes, as advice (the gateway came up healthy; a plugin it names may not).
pub(super) async fn post_upgrade(gateway: &Gateway) -> Advice {
    let tool = match gateway.tool() {
        Ok(tool) => tool,
        Err(error) => return vec![format!("OpenClaw's post-upgrade probes: {error}.")],
    };
    match json_of(&tool, &["doctor", "--post-upgrade", "--json"]).await {
        Ok((_, Some(report), _)) => kept(
            report["findings"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|f| finding_text(f, "code", "level")),
        ),
        Ok((status, None, said)) => vec![format!(
            "OpenClaw's post-upgrade probes did not run ({status}: {said})."
        )],
        Err(why) => vec![format!("OpenClaw's post-upgrade probes: {why}.")],
    }
}

/// A finding as `[warning] core/doctor/security: the message`.
fn finding_text(finding: &serde_json::Value, id: &str, level: &str) -> String {
    let text = format!(
        "[{}] {}: {}",
        finding[level].as_str().unwrap_or("finding"),
        finding[id].as_str().unwrap_or("doctor"),
        finding["message"].as_str().unwrap_or_default().trim()
    );
    text.chars().take(300).collect()
}

/// The first few findings, and how many more there were.
fn kept(findings: impl Iterator<Item = String>) -> Advice {
    let mut all: Vec<String> = findings.collect();
    let more = all.len().saturating_sub(ADVICE_KEPT);
    all.truncate(ADVICE_KEPT);
    if more > 0 {
        all.push(format!("…and {more} more (openclaw doctor --lint)."));
    }
    all
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_doctors_errors_stop_an_update_and_its_warnings_are_advice() {
        // As OpenClaw 2026.7.35's lint answers on the state 2026.9.6 left: warnings only.
        let warning = |n: usize| {
            serde_json::json!({
                "checkId": "core/doctor/skills-readiness",
                "severity": "warning",
                "message": format!("skill {n} is allowed but unavailable"),
            })
        };
        let report = serde_json::json!({
            "schemaVersion": 1, "ok": false, "checksRun": 24,
            "findings": (0..11).map(warning).collect::<Vec<_>>(),
        });
        let advice = lint_verdict(&report).expect("warnings do not stop it");
        assert_eq!(advice.len(), ADVICE_KEPT + 1);
        assert_eq!(
            advice[0],
            "[warning] core/doctor/skills-readiness: skill 0 is allowed but unavailable"
        );
        assert!(advice[ADVICE_KEPT].contains("3 more"), "{advice:?}");

        let report = serde_json::json!({"ok": false, "findings": [
            warning(1),
            {"checkId": "core/doctor/lint-inspection", "severity": "error",
             "message": "the state could not be inspected"},
        ]});
        let stopped = lint_verdict(&report).expect_err("an error stops it");
        assert_eq!(
            stopped,
            "[error] core/doctor/lint-inspection: the state could not be inspected"
        );
        assert_eq!(
            lint_verdict(&serde_json::json!({"findings": []})),
            Ok(Vec::new())
        );
    }
}
