//! A WebSocket relayed message by message: the Control UI's, and a remote OpenClaw app's.
//!
//! The first client frame, when it is the `connect` request, gets the gateway's credential
//! as `params.auth.password` (never `auth.token`: a device's signature covers that field).
//! A remote device's first frame must be that request, with a device identity in it.
//! Everything after is relayed as it comes, one message at a time, so a slow side slows the
//! other instead of filling memory. The relay is one future: when it ends, both sockets are
//! closed and nothing is left running.

use std::future::Future;
use std::time::Duration;

use axum::extract::ws::{self, CloseFrame as AxumClose, Message as AxumMessage, WebSocket};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Map, Value};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::protocol::CloseFrame as UpstreamClose;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_tungstenite::tungstenite::{self, Message as UpstreamMessage};
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

pub(crate) type Upstream = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// The closes for a client socket that could not be read.
fn read_failed(error: &axum::Error) -> (AxumMessage, UpstreamMessage) {
    // tungstenite refuses an over-long message while reading it.
    let said = error.to_string().to_ascii_lowercase();
    if said.contains("too long") || said.contains("too big") {
        return (
            client_close(CLOSE_TOO_BIG, "message too big"),
            upstream_close(CLOSE_GOING_AWAY, "client message too big"),
        );
    }
    (
        client_close(CLOSE_GOING_AWAY, ""),
        upstream_close(CLOSE_GOING_AWAY, "client went away"),
    )
}

/// How long a remote device has to send its `connect` (it answers the challenge at once).
const FIRST_FRAME_WAIT: Duration = Duration::from_secs(15);

/// Sleeps until `at`, or forever without one.
async fn sleep_until_some(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at).await,
        None => std::future::pending().await,
    }
}

/// OpenClaw's own cap on frames before authentication.
pub(crate) const FIRST_FRAME_MAX: usize = 64 * 1024;

pub(crate) const CLOSE_NORMAL: u16 = 1000;
pub(crate) const CLOSE_GOING_AWAY: u16 = 1001;
pub(crate) const CLOSE_POLICY: u16 = 1008;
pub(crate) const CLOSE_TOO_BIG: u16 = 1009;
pub(crate) const CLOSE_RESTART: u16 = 1012;

#[derive(Debug, Clone, Copy)]
pub(crate) struct Limits {
    pub(crate) max_message: usize,
    pub(crate) idle: Duration,
    /// Count the bytes relayed for the metrics (only while they are on).
    pub(crate) counted: bool,
}

impl Limits {
    /// Counts `bytes` relayed one way, while the metrics are on.
    fn count(&self, direction: crate::metrics::Direction, bytes: usize) {
        if self.counted {
            crate::metrics::proxied(direction, bytes);
        }
    }
}

/// Who is at the client end of a relayed socket.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Peer {
    /// The Control UI, in the owner's signed-in browser.
    ControlUi,
    /// An OpenClaw app or CLI elsewhere, known to nobody until the owner pairs it: the gateway
    /// admits it only by its device identity, so a first frame without one never reaches it.
    RemoteDevice,
}

/// The client's first text frame as it goes to the gateway: a `connect` request gets the
/// credential; anything else goes unchanged from the Control UI and is refused (with the
/// reason) from a remote device. A remote device that brings a setup code's bootstrap token
/// goes unchanged: the gateway admits it by that token, as OpenClaw designed the handoff.
pub(crate) fn first_frame(
    text: &str,
    token: &str,
    peer: Peer,
) -> Result<Option<String>, &'static str> {
    let mut frame: Value = serde_json::from_str(text).unwrap_or_default();
    let is_connect =
        frame["type"] == "req" && frame["method"] == "connect" && frame["params"].is_object();
    if !is_connect {
        return match peer {
            Peer::ControlUi => Ok(None),
            Peer::RemoteDevice => Err("the first message must be the connect request"),
        };
    }
    if peer == Peer::RemoteDevice {
        let params = &frame["params"];
        let device = &params["device"];
        let signed = ["id", "publicKey", "signature"]
            .iter()
            .all(|field| device[field].as_str().is_some_and(|v| !v.is_empty()));
        if !signed {
            return Err("a device identity is required: pair this app with the gateway");
        }
        let client = &params["client"];
        let local_client = LOCAL_CLIENTS.contains(&client["id"].as_str().unwrap_or_default())
            || LOCAL_MODES.contains(&client["mode"].as_str().unwrap_or_default());
        if local_client {
            return Err("this client connects on the gateway's own machine, not from elsewhere");
        }
        let has = |field: &str| {
            params["auth"][field]
                .as_str()
                .is_some_and(|t| !t.is_empty())
        };
        if has("bootstrapToken") {
            return Ok(None);
        }
        // A paired device proves itself with its own token: it is a device-token caller
        // (which the gateway confines to its own device), never a holder of the gateway's
        // secret. The password its client put in (the CLI insists on one) goes.
        if has("deviceToken") {
            if let Some(auth) = frame["params"]["auth"].as_object_mut() {
                auth.remove("password");
            }
            return Ok(serde_json::to_string(&frame).ok());
        }
    }
    set_password(&mut frame, token);
    Ok(serde_json::to_string(&frame).ok())
}

/// Clients that run beside the gateway (the Control UI, clawhost's own backend, workers):
/// never admitted from elsewhere, whatever device they sign with.
const LOCAL_CLIENTS: [&str; 5] = [
    "openclaw-control-ui",
    "webchat-ui",
    "webchat",
    "gateway-client",
    "openclaw-worker",
];
const LOCAL_MODES: [&str; 3] = ["backend", "worker", "webchat"];

/// The device a `connect` request signs with.
pub(crate) fn device_id(text: &str) -> Option<String> {
    let frame: Value = serde_json::from_str(text).ok()?;
    frame["params"]["device"]["id"].as_str().map(str::to_owned)
}

/// Puts the credential into a `connect` request's `params.auth.password`.
fn set_password(frame: &mut Value, token: &str) {
    let Some(params) = frame["params"].as_object_mut() else {
        return;
    };
    let auth = params
        .entry("auth")
        .or_insert_with(|| Value::Object(Map::new()));
    if !auth.is_object() {
        *auth = Value::Object(Map::new());
    }
    if let Some(auth) = auth.as_object_mut() {
        auth.insert("password".into(), Value::String(token.to_owned()));
    }
}

fn to_upstream(message: AxumMessage) -> Option<UpstreamMessage> {
    Some(match message {
        AxumMessage::Text(text) => UpstreamMessage::Text(
            tungstenite::Utf8Bytes::try_from(hyper::body::Bytes::from(text)).ok()?,
        ),
        AxumMessage::Binary(data) => UpstreamMessage::Binary(data),
        AxumMessage::Ping(data) => UpstreamMessage::Ping(data),
        AxumMessage::Pong(data) => UpstreamMessage::Pong(data),
        AxumMessage::Close(frame) => UpstreamMessage::Close(frame.map(|f| UpstreamClose {
            code: CloseCode::from(f.code),
            reason: tungstenite::Utf8Bytes::from(f.reason.as_str()),
        })),
    })
}

fn to_client(message: UpstreamMessage) -> Option<AxumMessage> {
    Some(match message {
        UpstreamMessage::Text(text) => {
            AxumMessage::Text(ws::Utf8Bytes::try_from(hyper::body::Bytes::from(text)).ok()?)
        }
        UpstreamMessage::Binary(data) => AxumMessage::Binary(data),
        UpstreamMessage::Ping(data) => AxumMessage::Ping(data),
        UpstreamMessage::Pong(data) => AxumMessage::Pong(data),
        UpstreamMessage::Close(frame) => AxumMessage::Close(frame.map(|f| AxumClose {
            code: u16::from(f.code),
            reason: ws::Utf8Bytes::from(f.reason.as_str()),
        })),
        UpstreamMessage::Frame(_) => return None,
    })
}

fn client_close(code: u16, reason: &str) -> AxumMessage {
    AxumMessage::Close(Some(AxumClose {
        code,
        reason: ws::Utf8Bytes::from(reason),
    }))
}

fn upstream_close(code: u16, reason: &str) -> UpstreamMessage {
    UpstreamMessage::Close(Some(UpstreamClose {
        code: CloseCode::from(code),
        reason: tungstenite::Utf8Bytes::from(reason),
    }))
}

fn message_len(message: &AxumMessage) -> usize {
    match message {
        AxumMessage::Text(text) => text.len(),
        AxumMessage::Binary(data) | AxumMessage::Ping(data) | AxumMessage::Pong(data) => data.len(),
        AxumMessage::Close(_) => 0,
    }
}

/// Relays until either side closes, the socket idles out, or `ended` resolves with a close
/// code and reason (session ended, gateway restarted).
pub(crate) async fn relay(
    client: WebSocket,
    upstream: Upstream,
    token: &str,
    peer: Peer,
    admit: impl AsyncFnOnce(&str) -> Result<(), &'static str>,
    limits: Limits,
    ended: impl Future<Output = (u16, &'static str)>,
) {
    let mut admit = Some(admit);
    // A remote device must say who it is soon: a socket that never does holds a slot.
    let mut first_by = (peer == Peer::RemoteDevice).then(|| Instant::now() + FIRST_FRAME_WAIT);
    let (mut client_tx, mut client_rx) = client.split();
    let (mut upstream_tx, mut upstream_rx) = upstream.split();
    tokio::pin!(ended);
    let mut first = true;
    let mut deadline = Instant::now() + limits.idle;
    let (to_client, to_upstream): (AxumMessage, UpstreamMessage) = loop {
        tokio::select! {
            incoming = client_rx.next() => {
                let message = match incoming {
                    Some(Ok(message)) => message,
                    Some(Err(error)) => break read_failed(&error),
                    None => break (client_close(CLOSE_GOING_AWAY, ""), upstream_close(CLOSE_GOING_AWAY, "client went away")),
                };
                deadline = Instant::now() + limits.idle;
                let limit = if first { FIRST_FRAME_MAX } else { limits.max_message };
                if message_len(&message) > limit {
                    break (client_close(CLOSE_TOO_BIG, "message too big"), upstream_close(CLOSE_GOING_AWAY, "client message too big"));
                }
                let message = match message {
                    AxumMessage::Text(text) if first => {
                        first = false;
                        first_by = None;
                        let admitted = match (first_frame(text.as_str(), token, peer), admit.take()) {
                            (Ok(frame), Some(admit)) => admit(text.as_str()).await.map(|()| frame),
                            (outcome, _) => outcome,
                        };
                        match admitted {
                            Ok(Some(rewritten)) => AxumMessage::Text(rewritten.into()),
                            Ok(None) => AxumMessage::Text(text),
                            Err(reason) => {
                                tracing::warn!(reason, "a socket's first message was refused");
                                break (client_close(CLOSE_POLICY, reason), upstream_close(CLOSE_NORMAL, ""))
                            }
                        }
                    }
                    AxumMessage::Binary(_) if first && peer == Peer::RemoteDevice => {
                        break (client_close(CLOSE_POLICY, "the first message must be the connect request"), upstream_close(CLOSE_NORMAL, ""));
                    }
                    AxumMessage::Close(frame) => {
                        let code = frame.as_ref().map_or(CLOSE_NORMAL, |f| f.code);
                        let reason = frame.as_ref().map(|f| f.reason.to_string()).unwrap_or_default();
                        let _ = upstream_tx.send(upstream_close(code, &reason)).await;
                        let _ = upstream_tx.close().await;
                        return;
                    }
                    other => {
                        if matches!(other, AxumMessage::Binary(_)) {
                            first = false;
                        }
                        other
                    }
                };
                limits.count(crate::metrics::Direction::ToGateway, message_len(&message));
                if let Some(message) = to_upstream(message)
                    && upstream_tx.send(message).await.is_err()
                {
                    break (client_close(CLOSE_GOING_AWAY, "gateway went away"), upstream_close(CLOSE_GOING_AWAY, ""));
                }
            }
            incoming = upstream_rx.next() => {
                let Some(Ok(message)) = incoming else {
                    break (client_close(CLOSE_GOING_AWAY, "gateway went away"), upstream_close(CLOSE_GOING_AWAY, ""));
                };
                deadline = Instant::now() + limits.idle;
                if let UpstreamMessage::Close(frame) = &message {
                    let code = frame.as_ref().map_or(CLOSE_NORMAL, |f| u16::from(f.code));
                    let reason = frame.as_ref().map(|f| f.reason.to_string()).unwrap_or_default();
                    let _ = client_tx.send(client_close(code, &reason)).await;
                    let _ = client_tx.close().await;
                    return;
                }
                limits.count(crate::metrics::Direction::FromGateway, message.len());
                if let Some(message) = to_client(message)
                    && client_tx.send(message).await.is_err()
                {
                    break (client_close(CLOSE_GOING_AWAY, ""), upstream_close(CLOSE_GOING_AWAY, "client went away"));
                }
            }
            () = sleep_until_some(first_by) => {
                break (client_close(CLOSE_POLICY, "no connect request in time"), upstream_close(CLOSE_NORMAL, ""));
            }
            () = tokio::time::sleep_until(deadline) => {
                break (client_close(CLOSE_GOING_AWAY, "idle timeout"), upstream_close(CLOSE_GOING_AWAY, "idle timeout"));
            }
            (code, reason) = &mut ended => {
                break (client_close(code, reason), upstream_close(CLOSE_NORMAL, reason));
            }
        }
    };
    // Both closes are bounded: a peer that stopped reading must not hold the relay.
    let close_both = async {
        let _ = client_tx.send(to_client).await;
        let _ = client_tx.close().await;
        let _ = upstream_tx.send(to_upstream).await;
        let _ = upstream_tx.close().await;
    };
    let _ = tokio::time::timeout(Duration::from_secs(2), close_both).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The Control UI's first frame as it goes on (the Control UI is never refused).
    fn control_ui(text: &str) -> Option<String> {
        first_frame(text, "tok", Peer::ControlUi).expect("never refused")
    }

    #[test]
    fn connect_gets_the_password_and_keeps_the_rest() {
        let frame = r#"{"type":"req","id":"1","method":"connect","params":{"client":{"id":"openclaw-control-ui"},"auth":{"deviceToken":"d"}}}"#;
        let rewritten: Value =
            serde_json::from_str(&control_ui(frame).expect("connect")).expect("json");
        assert_eq!(rewritten["params"]["auth"]["password"], "tok");
        assert_eq!(rewritten["params"]["auth"]["deviceToken"], "d");
        assert!(rewritten["params"]["auth"].get("token").is_none());
        assert_eq!(rewritten["params"]["client"]["id"], "openclaw-control-ui");

        let bare = r#"{"type":"req","id":"1","method":"connect","params":{}}"#;
        let rewritten: Value =
            serde_json::from_str(&control_ui(bare).expect("connect")).expect("json");
        assert_eq!(rewritten["params"]["auth"]["password"], "tok");
    }

    #[test]
    fn a_remote_device_must_open_with_a_signed_connect() {
        let signed = r#"{"type":"req","id":"1","method":"connect","params":{"device":{"id":"d1","publicKey":"k","signature":"s","signedAt":1,"nonce":"n"},"auth":{"password":"guess"}}}"#;
        let rewritten: Value = serde_json::from_str(
            &first_frame(signed, "tok", Peer::RemoteDevice)
                .expect("admitted")
                .expect("rewritten"),
        )
        .expect("json");
        assert_eq!(rewritten["params"]["auth"]["password"], "tok");
        assert_eq!(rewritten["params"]["device"]["id"], "d1");
        // A paired device's own token: the device's password goes, nothing is added.
        let paired = r#"{"type":"req","id":"1","method":"connect","params":{"device":{"id":"d1","publicKey":"k","signature":"s"},"auth":{"password":"clawhost","deviceToken":"dt"}}}"#;
        let sent: Value = serde_json::from_str(
            &first_frame(paired, "tok", Peer::RemoteDevice)
                .expect("admitted")
                .expect("rewritten"),
        )
        .expect("json");
        assert_eq!(
            sent["params"]["auth"],
            serde_json::json!({"deviceToken": "dt"})
        );
        // What runs beside the gateway never comes from elsewhere.
        for local in [
            r#"{"id":"openclaw-control-ui","mode":"webchat"}"#,
            r#"{"id":"gateway-client","mode":"backend"}"#,
            r#"{"id":"cli","mode":"worker"}"#,
        ] {
            let frame = format!(
                r#"{{"type":"req","id":"1","method":"connect","params":{{"client":{local},"device":{{"id":"d1","publicKey":"k","signature":"s"}}}}}}"#
            );
            assert!(
                first_frame(&frame, "tok", Peer::RemoteDevice).is_err(),
                "{local}"
            );
        }
        assert_eq!(device_id(signed).as_deref(), Some("d1"));
        // A setup code's bootstrap token is the gateway's to check: nothing is added.
        let bootstrap = r#"{"type":"req","id":"1","method":"connect","params":{"device":{"id":"d1","publicKey":"k","signature":"s"},"auth":{"bootstrapToken":"b"}}}"#;
        assert_eq!(first_frame(bootstrap, "tok", Peer::RemoteDevice), Ok(None));
        for refused in [
            r#"{"type":"req","id":"1","method":"connect","params":{"auth":{}}}"#,
            r#"{"type":"req","id":"1","method":"connect","params":{"device":{"id":"d1","publicKey":"k","signature":""}}}"#,
            r#"{"type":"req","id":"1","method":"connect","params":{"device":"d1"}}"#,
            r#"{"type":"req","id":"1","method":"health","params":{}}"#,
            "not json",
        ] {
            let reason = first_frame(refused, "tok", Peer::RemoteDevice).expect_err(refused);
            // A close frame's reason holds at most 123 bytes.
            assert!(reason.len() <= 123, "{reason}");
        }
        // The Control UI may open without a device (the gateway decides); nothing is refused.
        let bare = r#"{"type":"req","id":"1","method":"connect","params":{}}"#;
        assert!(
            first_frame(bare, "tok", Peer::ControlUi)
                .expect("ok")
                .is_some()
        );
        assert_eq!(first_frame("not json", "tok", Peer::ControlUi), Ok(None));
    }

    #[test]
    fn other_frames_are_untouched() {
        assert!(control_ui(r#"{"type":"req","method":"health","params":{}}"#).is_none());
        assert!(control_ui("not json").is_none());
        assert!(control_ui(r#"{"type":"req","method":"connect"}"#).is_none());
    }
}
