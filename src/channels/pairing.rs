//! DM pairing: a stranger who messages the assistant on a channel (Telegram, Discord, …)
//! under OpenClaw's default `dmPolicy: "pairing"` gets a code and waits; the owner lets them
//! in or turns them away, one request at a time (`channels.pairing.*`, scope
//! `operator.pairing`). The gateway sends no event for these and keeps a request an hour, at
//! most three per account: the list is read when asked.
//!
//! The pairing code itself never leaves the gateway; a request is named by its id there.

use std::time::Duration;

use serde::Serialize;
use serde_json::{Value, json};

use crate::gateway::rpc::{RpcError, call_once, text};
use crate::gateway::status::Credential;

const RPC_TIMEOUT: Duration = Duration::from_secs(10);

/// Someone asking to message the assistant.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub(crate) struct DmRequest {
    /// `telegram`, `discord`, …
    pub(crate) channel: String,
    /// The channel's account (bot) asked, `default` for the only one.
    pub(crate) account_id: String,
    pub(crate) request_id: String,
    /// Who asks, as the channel names them (a Telegram user id, …).
    pub(crate) sender_id: String,
    /// Their name or handle as the channel gave it, if any.
    pub(crate) sender: Option<String>,
    /// When they first asked and when the request lapses (RFC 3339).
    pub(crate) asked_at: Option<String>,
    pub(crate) expires_at: Option<String>,
    /// Whether the channel can tell them they were let in.
    pub(crate) notify: bool,
}

/// How a request was answered, as the gateway reports it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub(crate) struct Approved {
    pub(crate) sender_id: String,
    /// `sent`, `not-requested`, `unsupported` or `failed`: whether they were told.
    pub(crate) notification: String,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum PairingError {
    /// No such request now: answered, expired, or never one.
    #[error("{0}")]
    Gone(String),
    #[error(transparent)]
    Gateway(#[from] RpcError),
}

/// The requests waiting, oldest first.
pub(crate) async fn list(credential: &Credential) -> Result<Vec<DmRequest>, PairingError> {
    let payload = call_once(credential, "channels.pairing.list", json!({}), RPC_TIMEOUT).await?;
    Ok(from_list(&payload))
}

/// Lets the sender of `request_id` on `channel` in, and has the channel tell them.
pub(crate) async fn approve(
    credential: &Credential,
    channel: &str,
    request_id: &str,
) -> Result<Approved, PairingError> {
    let request = find(credential, channel, request_id).await?;
    let answer = call(
        credential,
        "channels.pairing.approve",
        json!({"channel": request.channel, "accountId": request.account_id,
               "requestId": request.request_id, "notify": request.notify}),
    )
    .await?;
    Ok(Approved {
        sender_id: answer["senderId"]
            .as_str()
            .unwrap_or(&request.sender_id)
            .to_owned(),
        notification: answer["notification"]
            .as_str()
            .unwrap_or("not-requested")
            .to_owned(),
    })
}

/// Turns the request down: the sender hears nothing more and may ask again later. Returns
/// who asked.
pub(crate) async fn deny(
    credential: &Credential,
    channel: &str,
    request_id: &str,
) -> Result<String, PairingError> {
    let request = find(credential, channel, request_id).await?;
    call(
        credential,
        "channels.pairing.dismiss",
        json!({"channel": request.channel, "accountId": request.account_id,
               "requestId": request.request_id}),
    )
    .await?;
    Ok(request.sender_id)
}

/// The request as listed now: its account comes from the gateway, never from the caller.
async fn find(
    credential: &Credential,
    channel: &str,
    request_id: &str,
) -> Result<DmRequest, PairingError> {
    list(credential)
        .await?
        .into_iter()
        .find(|r| r.channel == channel && r.request_id == request_id)
        .ok_or_else(|| PairingError::Gone(format!("no request {request_id} on {channel}")))
}

async fn call(credential: &Credential, method: &str, params: Value) -> Result<Value, PairingError> {
    call_once(credential, method, params, RPC_TIMEOUT)
        .await
        .map_err(|error| match error {
            RpcError::Refused(why) if why.contains("no longer exists") => PairingError::Gone(why),
            other => PairingError::Gateway(other),
        })
}

/// Maps `channels.pairing.list`'s `requests`.
pub(crate) fn from_list(payload: &Value) -> Vec<DmRequest> {
    // ISO 8601 strings in 2026.9.6; milliseconds are read too.
    let at = |v: &Value| text(v).or_else(|| v.as_i64().map(crate::clock::rfc3339));
    let mut requests: Vec<(String, DmRequest)> = payload["requests"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|r| {
            let metadata = &r["metadata"];
            let sender = text(&metadata["username"])
                .map(|handle| format!("@{handle}"))
                .or_else(|| text(&metadata["name"]))
                .or_else(|| text(&metadata["firstName"]));
            Some((
                at(&r["createdAt"]).unwrap_or_default(),
                DmRequest {
                    channel: text(&r["channel"])?,
                    account_id: text(&r["accountId"]).unwrap_or_else(|| "default".into()),
                    request_id: text(&r["requestId"])?,
                    sender_id: text(&r["senderId"])?,
                    sender,
                    asked_at: at(&r["createdAt"]),
                    expires_at: at(&r["expiresAt"]),
                    notify: r["notifySupported"] == true,
                },
            ))
        })
        .collect();
    requests.sort_by(|(a, _), (b, _)| a.cmp(b));
    requests.into_iter().map(|(_, r)| r).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// As OpenClaw 2026.9.6 answered for a Telegram stranger.
    #[test]
    fn the_gateways_list_reads_as_requests() {
        let payload = json!({
            "accounts": [{"channel": "telegram", "accountId": "default", "notifySupported": true}],
            "requests": [
                {"requestId": "b".repeat(32), "channel": "telegram", "accountId": "default",
                 "senderId": "222", "metadata": {"firstName": "Bo"},
                 "createdAt": "2026-12-07T12:18:00.000Z", "expiresAt": "2026-12-07T13:18:00.000Z",
                 "notifySupported": false},
                {"requestId": "a".repeat(32), "channel": "telegram", "accountId": "default",
                 "senderId": "987654321", "senderLabel": "telegramUserId",
                 "metadata": {"username": "alice_test", "firstName": "Alice"},
                 "createdAt": "2026-12-07T12:17:10.681Z", "expiresAt": "2026-12-07T13:17:10.681Z",
                 "notifySupported": true},
                {"channel": "telegram", "senderId": "no request id"},
            ],
            "limits": {"pendingPerAccount": 3, "ttlMs": 3_600_000},
        });
        let requests = from_list(&payload);
        assert_eq!(requests.len(), 2);
        assert_eq!(requests[0].sender_id, "987654321");
        assert_eq!(requests[0].sender.as_deref(), Some("@alice_test"));
        assert!(requests[0].notify);
        assert_eq!(
            requests[0].expires_at.as_deref(),
            Some("2026-12-07T13:17:10.681Z")
        );
        assert_eq!(requests[1].sender.as_deref(), Some("Bo"));
        assert!(from_list(&json!({})).is_empty());
    }
}
