//! Linking WhatsApp from the dashboard, through the running gateway: install the
//! `@openclaw/whatsapp` plugin when the gateway has no WhatsApp channel, then show the QR
//! from `web.login.start`, follow `web.login.wait` (which hands over each refreshed QR) and
//! end linked or with the plugin's own reason.
//!
//! One flow runs at a time; its latest step is kept in a `watch` channel so a page opened
//! mid-flow (or reloaded) shows where it is, and the events stream replays it first.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde::Serialize;
use serde_json::{Value, json};
use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::config::OPENCLAW_VERSION;
use crate::gateway::install_report::says_network_failure;
use crate::gateway::rpc::{RpcClient, RpcError};
use crate::gateway::status::GatewayState;
use crate::gateway::supervisor::Gateway;

const CHANNEL: &str = "whatsapp";
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const STATUS_TIMEOUT: Duration = Duration::from_secs(15);
/// npm fetches ~60 MB for the plugin; slow links need minutes.
const INSTALL_TIMEOUT: Duration = Duration::from_mins(10);
/// After an install the gateway hot-reloads its plugins before the channel appears.
const CHANNEL_APPEARS_TIMEOUT: Duration = Duration::from_secs(90);
const QR_TIMEOUT_MS: u64 = 30_000;
/// The plugin keeps a login alive for three minutes; stop waiting a little before that so
/// the owner gets our clear message rather than a half-expired QR.
const LINK_WINDOW: Duration = Duration::from_secs(170);
/// A QR PNG is a few KiB; anything far larger is not one.
const MAX_QR_DATA_URL: usize = 256 * 1024;
const PNG_DATA_URL: &str = "data:image/png;base64,";

/// Where the current (or last) link flow is. Serialized as `{"event", "data"}`, the SSE
/// event name and its payload.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(tag = "event", content = "data", rename_all = "snake_case")]
pub(crate) enum LinkEvent {
    /// No flow has run since clawhost started.
    Idle {},
    Progress {
        /// `connecting`, `plugin` (installing it) or `qr` (waiting for one).
        #[schema(value_type = String)]
        phase: &'static str,
        detail: String,
    },
    Qr {
        data_url: String,
    },
    Linked {
        phone: Option<String>,
    },
    Failed {
        detail: String,
    },
}

impl LinkEvent {
    pub(crate) fn name(&self) -> &'static str {
        match self {
            LinkEvent::Idle {} => "idle",
            LinkEvent::Progress { .. } => "progress",
            LinkEvent::Qr { .. } => "qr",
            LinkEvent::Linked { .. } => "linked",
            LinkEvent::Failed { .. } => "failed",
        }
    }

    /// The payload alone, for the SSE `data:` line.
    pub(crate) fn data(&self) -> Value {
        serde_json::to_value(self).map_or(Value::Null, |mut v| v["data"].take())
    }

    pub(crate) fn in_progress(&self) -> bool {
        matches!(self, LinkEvent::Progress { .. } | LinkEvent::Qr { .. })
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub(crate) enum LinkError {
    #[error("Start the gateway first: WhatsApp is linked through the running gateway.")]
    GatewayNotRunning,
}

pub(crate) struct Linker {
    gateway: Arc<Gateway>,
    events: watch::Sender<LinkEvent>,
    running: Mutex<Option<JoinHandle<()>>>,
}

impl Linker {
    pub(crate) fn new(gateway: Arc<Gateway>) -> Self {
        Self {
            gateway,
            events: watch::Sender::new(LinkEvent::Idle {}),
            running: Mutex::new(None),
        }
    }

    pub(crate) fn current(&self) -> LinkEvent {
        self.events.borrow().clone()
    }

    pub(crate) fn watch(&self) -> watch::Receiver<LinkEvent> {
        self.events.subscribe()
    }

    /// Starts a flow, or leaves the one already running alone (a second click joins it).
    /// `relink` asks for a fresh QR even when WhatsApp is linked.
    pub(crate) fn start(&self, relink: bool) -> Result<(), LinkError> {
        let credential = match self.gateway.credential() {
            Some(credential) if self.gateway.status().state == GatewayState::Running => credential,
            _ => return Err(LinkError::GatewayNotRunning),
        };
        let mut running = self
            .running
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if running.as_ref().is_some_and(|task| !task.is_finished()) {
            return Ok(());
        }
        let flow = Flow {
            events: self.events.clone(),
            gateway: self.gateway.clone(),
        };
        flow.emit(LinkEvent::Progress {
            phase: "connecting",
            detail: "Asking the gateway about WhatsApp".into(),
        });
        *running = Some(tokio::spawn(async move {
            let ended = match flow.run(credential.port, &credential.token, relink).await {
                Ok(ended) => ended,
                Err(error) => LinkEvent::Failed {
                    detail: format!("Linking stopped: {error}."),
                },
            };
            flow.emit(ended);
        }));
        Ok(())
    }
}

struct Flow {
    events: watch::Sender<LinkEvent>,
    gateway: Arc<Gateway>,
}

impl Flow {
    fn emit(&self, event: LinkEvent) {
        let line = match &event {
            LinkEvent::Progress { detail, .. } => Some(detail.clone()),
            LinkEvent::Linked { .. } => Some("linked".into()),
            LinkEvent::Failed { detail } => Some(format!("not linked: {detail}")),
            LinkEvent::Qr { .. } | LinkEvent::Idle {} => None,
        };
        if let Some(line) = line {
            self.gateway
                .logs()
                .push("clawhost", &format!("WhatsApp: {line}"));
        }
        self.events.send_replace(event);
    }

    fn progress(&self, phase: &'static str, detail: impl Into<String>) {
        self.emit(LinkEvent::Progress {
            phase,
            detail: detail.into(),
        });
    }

    /// The whole flow; returns how it ended.
    async fn run(&self, port: u16, token: &str, relink: bool) -> Result<LinkEvent, RpcError> {
        let mut client = RpcClient::connect(port, token, CONNECT_TIMEOUT).await?;
        let ended = self.link(&mut client, relink).await;
        client.close().await;
        ended
    }

    async fn link(&self, client: &mut RpcClient, relink: bool) -> Result<LinkEvent, RpcError> {
        let mut status = channels_status(client).await?;
        if status["channels"].get(CHANNEL).is_none() {
            if let Err(detail) = self.install_plugin(client).await {
                return Ok(LinkEvent::Failed { detail });
            }
            status = match self.channel_appears(client).await? {
                Some(status) => status,
                None => {
                    return Ok(LinkEvent::Failed {
                        detail: "The WhatsApp plugin is installed but the gateway did not load \
                                 it; restart the gateway and try again."
                            .into(),
                    });
                }
            };
        }
        if !relink && status["channels"][CHANNEL]["linked"] == true {
            return Ok(linked(&status));
        }
        self.progress("qr", "Waiting for WhatsApp's QR code");
        let started = Instant::now();
        let start = client
            .call(
                "web.login.start",
                json!({"channel": CHANNEL, "force": relink, "timeoutMs": QR_TIMEOUT_MS}),
                Duration::from_millis(QR_TIMEOUT_MS) + STATUS_TIMEOUT,
            )
            .await;
        let mut reply = match start {
            Ok(reply) => reply,
            Err(RpcError::Refused(message)) => return Ok(LinkEvent::Failed { detail: message }),
            Err(error) => return Err(error),
        };
        loop {
            let current = match next_step(&reply, started.elapsed()) {
                Step::Linked => return Ok(linked(&channels_status(client).await?)),
                Step::Ended(event) => return Ok(event),
                Step::Show(data_url) => data_url,
            };
            self.emit(LinkEvent::Qr {
                data_url: current.clone(),
            });
            let remaining = LINK_WINDOW.saturating_sub(started.elapsed());
            let wait_ms = u64::try_from(remaining.as_millis().max(1000)).unwrap_or(u64::MAX);
            reply = match client
                .call(
                    "web.login.wait",
                    json!({"channel": CHANNEL, "timeoutMs": wait_ms, "currentQrDataUrl": current}),
                    Duration::from_millis(wait_ms) + STATUS_TIMEOUT,
                )
                .await
            {
                Ok(reply) => reply,
                Err(RpcError::Refused(message)) => {
                    return Ok(LinkEvent::Failed { detail: message });
                }
                Err(error) => return Err(error),
            };
            // Back to the top: linked, a refreshed QR to show, or the end with a reason.
        }
    }

    /// `plugins.install` from the npm registry, pinned to the gateway's own version, with
    /// the gateway's progress events passed on.
    async fn install_plugin(&self, client: &mut RpcClient) -> Result<(), String> {
        let spec = plugin_spec();
        self.progress("plugin", format!("Installing the WhatsApp plugin ({spec})"));
        let mut on_event = |frame: &Value| {
            if frame["event"] != "plugins.install.progress" {
                return;
            }
            let payload = &frame["payload"];
            let (Some(stage), Some(status)) =
                (payload["stage"].as_str(), payload["status"].as_str())
            else {
                return;
            };
            self.progress(
                "plugin",
                format!("Installing the WhatsApp plugin: {stage} {status}"),
            );
        };
        let installed = client
            .call_observed(
                "plugins.install",
                json!({"source": "npm", "spec": spec}),
                INSTALL_TIMEOUT,
                &mut on_event,
            )
            .await;
        match installed {
            Ok(_) => {
                self.progress("plugin", "WhatsApp plugin installed; loading it");
                Ok(())
            }
            Err(error) => Err(format!("Installing the WhatsApp plugin failed: {error}")),
        }
    }

    /// Polls `channels.status` until the gateway lists WhatsApp (or gives up).
    async fn channel_appears(&self, client: &mut RpcClient) -> Result<Option<Value>, RpcError> {
        let deadline = Instant::now() + CHANNEL_APPEARS_TIMEOUT;
        loop {
            let status = channels_status(client).await?;
            if status["channels"].get(CHANNEL).is_some() {
                return Ok(Some(status));
            }
            if Instant::now() >= deadline {
                return Ok(None);
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
    }
}

/// What a reply of `web.login.start` or `web.login.wait` means for the flow.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    Linked,
    /// A QR to show (the first, or a refreshed one), then wait again.
    Show(String),
    Ended(LinkEvent),
}

fn next_step(reply: &Value, elapsed: Duration) -> Step {
    if reply["connected"] == true {
        return Step::Linked;
    }
    match reply["qrDataUrl"].as_str() {
        Some(url) if is_png_data_url(url) => Step::Show(url.to_string()),
        Some(_) => Step::Ended(LinkEvent::Failed {
            detail: "The gateway sent a QR code clawhost cannot show.".into(),
        }),
        // The wait lasts as long as the link window, so "still waiting" means it passed.
        None if elapsed >= LINK_WINDOW => Step::Ended(LinkEvent::Failed {
            detail: "The QR code was not scanned in time. Press Link WhatsApp to get a new one."
                .into(),
        }),
        None => Step::Ended(LinkEvent::Failed {
            detail: plugin_message(reply),
        }),
    }
}

pub(crate) fn plugin_spec() -> String {
    format!("@openclaw/whatsapp@{OPENCLAW_VERSION}")
}

async fn channels_status(client: &mut RpcClient) -> Result<Value, RpcError> {
    client
        .call("channels.status", json!({}), STATUS_TIMEOUT)
        .await
}

fn linked(status: &Value) -> LinkEvent {
    LinkEvent::Linked {
        phone: super::whatsapp_from_status(status).phone,
    }
}

fn plugin_message(reply: &Value) -> String {
    reply["message"]
        .as_str()
        .filter(|m| !m.trim().is_empty())
        .unwrap_or("WhatsApp did not link.")
        .to_string()
}

/// A failed link as the owner reads it: the reason in words, and whether restarting the
/// gateway is what finishes it.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Explained {
    pub(crate) reason: String,
    pub(crate) restart_finishes: bool,
}

/// Says what the plugin's failure `detail` means (the raw text stays beside it).
pub(crate) fn explain(detail: &str) -> Explained {
    let lower = detail.to_ascii_lowercase();
    let has = |needles: &[&str]| needles.iter().any(|n| lower.contains(n));
    let (reason, restart_finishes) = if has_code(&lower, "515")
        || has(&["restart required", "restart the gateway"])
    {
        (
            "WhatsApp accepted the phone and asks for a fresh connection: restart the gateway to finish linking.",
            true,
        )
    } else if says_network_failure(&lower) || lower.contains("websocket error") {
        (
            "WhatsApp's servers cannot be reached from this server: check its internet access and firewall (web.whatsapp.com, port 443).",
            false,
        )
    } else if has(&["can't link new devices", "cannot link new devices"]) {
        (
            "WhatsApp does not let this phone link a new device right now; wait a while (WhatsApp decides how long) and try again.",
            false,
        )
    } else if has_code(&lower, "401") || has(&["logged out", "loggedout"]) {
        (
            "WhatsApp ended this link (logged out on the phone); link again.",
            false,
        )
    } else if has_code(&lower, "408") || has(&["timed out"]) {
        ("WhatsApp did not answer in time; try again.", false)
    } else {
        return Explained {
            reason: detail.to_string(),
            restart_finishes: false,
        };
    };
    Explained {
        reason: reason.into(),
        restart_finishes,
    }
}

/// Whether `text` names the status `code` as a number of its own (not inside a longer one).
fn has_code(text: &str, code: &str) -> bool {
    text.match_indices(code).any(|(at, _)| {
        let before = text[..at].chars().next_back();
        let after = text[at + code.len()..].chars().next();
        !before.is_some_and(|c| c.is_ascii_digit()) && !after.is_some_and(|c| c.is_ascii_digit())
    })
}

/// Only a base64 PNG is ever put in an `<img src>`.
fn is_png_data_url(url: &str) -> bool {
    url.len() <= MAX_QR_DATA_URL
        && url.strip_prefix(PNG_DATA_URL).is_some_and(|data| {
            !data.is_empty()
                && data
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_base64_png_data_urls_are_shown() {
        assert!(is_png_data_url("data:image/png;base64,iVBORw0KGgo="));
        assert!(!is_png_data_url("data:image/png;base64,"));
        assert!(!is_png_data_url("data:image/svg+xml;base64,PHN2Zz4="));
        assert!(!is_png_data_url("javascript:alert(1)"));
        assert!(!is_png_data_url("data:image/png;base64,abc\"onerror=x"));
        let huge = format!("{PNG_DATA_URL}{}", "A".repeat(MAX_QR_DATA_URL));
        assert!(!is_png_data_url(&huge));
    }

    /// Replies shaped as OpenClaw 2026.9.6's WhatsApp plugin gives them.
    #[test]
    fn replies_lead_to_the_next_step() {
        let qr = "data:image/png;base64,iVBORw0KGgo=";
        let early = Duration::from_secs(5);
        assert_eq!(
            next_step(
                &json!({"qrDataUrl": qr, "message": "Scan this QR in WhatsApp → Linked Devices."}),
                early
            ),
            Step::Show(qr.into())
        );
        assert_eq!(
            next_step(
                &json!({"connected": false, "qrDataUrl": qr, "message": "QR refreshed. Scan the latest code in WhatsApp → Linked Devices."}),
                early
            ),
            Step::Show(qr.into())
        );
        assert_eq!(
            next_step(
                &json!({"connected": true, "message": "✅ Linked! WhatsApp is ready."}),
                early
            ),
            Step::Linked
        );
        assert_eq!(
            next_step(&json!({"message": "WhatsApp login failed: WebSocket Error (getaddrinfo ENOTFOUND web.whatsapp.com)"}), early),
            Step::Ended(LinkEvent::Failed {
                detail: "WhatsApp login failed: WebSocket Error (getaddrinfo ENOTFOUND web.whatsapp.com)".into()
            })
        );
        let late = next_step(
            &json!({"connected": false, "message": "Still waiting for the QR scan. Let me know when you’ve scanned it."}),
            LINK_WINDOW,
        );
        assert!(
            matches!(late, Step::Ended(LinkEvent::Failed { detail }) if detail.contains("not scanned in time"))
        );
        assert!(matches!(
            next_step(&json!({"qrDataUrl": "https://evil.example/qr.png"}), early),
            Step::Ended(LinkEvent::Failed { .. })
        ));
    }

    /// Issue 12, defect 7: failures in words, the raw text kept beside them.
    #[test]
    fn failures_are_explained() {
        let offline = explain(
            "WhatsApp login failed: WebSocket Error (getaddrinfo ENOTFOUND web.whatsapp.com)",
        );
        assert!(
            offline
                .reason
                .contains("cannot be reached from this server"),
            "{offline:?}"
        );
        assert!(!offline.restart_finishes);
        let restart = explain("Connection Failure: stream errored (restart required) 515");
        assert!(restart.restart_finishes, "{restart:?}");
        assert_eq!(explain("Something new").reason, "Something new");
        assert!(
            !explain("stream 25150 ended").restart_finishes,
            "515 inside a number"
        );
    }

    #[test]
    fn events_name_themselves_and_carry_their_payload() {
        let qr = LinkEvent::Qr {
            data_url: "data:image/png;base64,AA==".into(),
        };
        assert_eq!(qr.name(), "qr");
        assert_eq!(qr.data(), json!({"data_url": "data:image/png;base64,AA=="}));
        let failed = LinkEvent::Failed {
            detail: "no".into(),
        };
        assert_eq!(failed.name(), "failed");
        assert_eq!(failed.data(), json!({"detail": "no"}));
        assert!(!failed.in_progress());
        assert_eq!(LinkEvent::Idle {}.data(), json!({}));
        assert_eq!(
            plugin_message(&json!({"message": ""})),
            "WhatsApp did not link."
        );
    }
}
