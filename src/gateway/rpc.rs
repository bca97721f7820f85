//! A small client for the gateway's WebSocket RPC, on loopback, as a backend: client id
//! `gateway-client`, mode `backend`, protocol 4, the shared token. It needs no device
//! identity (OpenClaw's local backend exception).

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

const PROTOCOL: u64 = 4;
/// Largest frame accepted from the gateway (its own payload limit is 25 MiB).
const MAX_MESSAGE: usize = 32 * 1024 * 1024;

#[derive(Debug, thiserror::Error)]
pub enum RpcError {
    #[error("cannot reach the gateway: {0}")]
    Connect(String),
    #[error("the gateway is still starting")]
    Starting,
    #[error("the gateway refused the request: {0}")]
    Refused(String),
    #[error("the gateway did not answer in time")]
    Timeout,
    #[error("the gateway closed the connection")]
    Closed,
}

/// One call to the running gateway on a connection of its own, closed after the answer.
pub(crate) async fn call_once(
    credential: &super::status::Credential,
    method: &str,
    params: Value,
    timeout: Duration,
) -> Result<Value, RpcError> {
    let mut client = RpcClient::connect(credential.port, &credential.token, timeout).await?;
    let answer = client.call(method, params, timeout).await;
    client.close().await;
    answer
}

pub struct RpcClient {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    /// What the gateway said about itself in `hello-ok`.
    pub server_version: Option<String>,
}

impl RpcClient {
    /// Connects and authenticates; every step is bounded by `timeout`.
    pub async fn connect(port: u16, token: &str, timeout: Duration) -> Result<Self, RpcError> {
        tokio::time::timeout(timeout, Self::handshake(port, token))
            .await
            .map_err(|_| RpcError::Timeout)?
    }

    async fn handshake(port: u16, token: &str) -> Result<Self, RpcError> {
        let url = format!("ws://127.0.0.1:{port}/");
        let config = WebSocketConfig::default()
            .max_message_size(Some(MAX_MESSAGE))
            .max_frame_size(Some(MAX_MESSAGE));
        let (socket, _) = tokio_tungstenite::connect_async_with_config(url, Some(config), false)
            .await
            .map_err(|e| RpcError::Connect(e.to_string()))?;
        let mut client = Self {
            socket,
            next_id: 0,
            server_version: None,
        };
        // The gateway speaks first with a challenge; the backend client answers with connect.
        loop {
            let frame = client.next_json().await?;
            if frame["type"] == "event" && frame["event"] == "connect.challenge" {
                break;
            }
        }
        let params = json!({
            "minProtocol": PROTOCOL,
            "maxProtocol": PROTOCOL,
            "client": {
                "id": "gateway-client",
                "version": concat!("clawhost-", env!("CARGO_PKG_VERSION")),
                "platform": "linux",
                "mode": "backend",
            },
            "role": "operator",
            "scopes": ["operator.admin", "operator.read", "operator.write", "operator.approvals", "operator.pairing"],
            "caps": [],
            "auth": {"token": token},
            "locale": "en-US",
            "userAgent": "clawhost",
        });
        let hello = client.call_raw("connect", params).await?;
        client.server_version = hello["server"]["version"].as_str().map(str::to_string);
        Ok(client)
    }

    async fn next_json(&mut self) -> Result<Value, RpcError> {
        loop {
            match self.socket.next().await {
                Some(Ok(Message::Text(text))) => {
                    if let Ok(value) = serde_json::from_str(text.as_str()) {
                        return Ok(value);
                    }
                }
                Some(Ok(Message::Close(_))) | None => return Err(RpcError::Closed),
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(RpcError::Connect(e.to_string())),
            }
        }
    }

    async fn call_raw(&mut self, method: &str, params: Value) -> Result<Value, RpcError> {
        self.call_observing(method, params, &mut |_| {}).await
    }

    async fn call_observing(
        &mut self,
        method: &str,
        params: Value,
        on_event: &mut (dyn FnMut(&Value) + Send),
    ) -> Result<Value, RpcError> {
        self.next_id += 1;
        let id = format!("c{}", self.next_id);
        let request = json!({"type": "req", "id": id, "method": method, "params": params});
        self.socket
            .send(Message::text(request.to_string()))
            .await
            .map_err(|e| RpcError::Connect(e.to_string()))?;
        loop {
            let frame = self.next_json().await?;
            if frame["type"] == "event" {
                on_event(&frame);
                continue;
            }
            if frame["type"] != "res" || frame["id"] != id.as_str() {
                continue;
            }
            if frame["ok"] == true {
                return Ok(frame["payload"].clone());
            }
            let error = &frame["error"];
            if error["code"] == "UNAVAILABLE" {
                return Err(RpcError::Starting);
            }
            let message = error["message"].as_str().unwrap_or("unknown error");
            return Err(RpcError::Refused(message.to_string()));
        }
    }

    /// Calls `method` and returns its payload, bounded by `timeout`.
    pub async fn call(
        &mut self,
        method: &str,
        params: Value,
        timeout: Duration,
    ) -> Result<Value, RpcError> {
        tokio::time::timeout(timeout, self.call_raw(method, params))
            .await
            .map_err(|_| RpcError::Timeout)?
    }

    /// Like [`call`](Self::call), handing every event the gateway sends meanwhile to
    /// `on_event` (progress of a plugin install, for one).
    pub(crate) async fn call_observed(
        &mut self,
        method: &str,
        params: Value,
        timeout: Duration,
        on_event: &mut (dyn FnMut(&Value) + Send),
    ) -> Result<Value, RpcError> {
        tokio::time::timeout(timeout, self.call_observing(method, params, on_event))
            .await
            .map_err(|_| RpcError::Timeout)?
    }

    /// The next event the gateway sends, within `timeout` (answers to no call are skipped).
    pub async fn next_event(&mut self, timeout: Duration) -> Result<Value, RpcError> {
        tokio::time::timeout(timeout, async {
            loop {
                let frame = self.next_json().await?;
                if frame["type"] == "event" {
                    return Ok(frame);
                }
            }
        })
        .await
        .map_err(|_| RpcError::Timeout)?
    }

    pub async fn close(mut self) {
        let _ = self.socket.close(None).await;
    }
}

/// A string field of a gateway answer, when present and not empty.
pub(crate) fn text(value: &Value) -> Option<String> {
    value.as_str().filter(|s| !s.is_empty()).map(str::to_owned)
}

/// The strings of an array field of a gateway answer (none when it is not an array).
pub(crate) fn texts(value: &Value) -> Vec<String> {
    value
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|s| s.as_str().map(str::to_owned))
        .collect()
}
