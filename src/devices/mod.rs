//! The gateway's devices: the pairing requests waiting for the owner, and the devices paired
//! (the OpenClaw apps, a CLI on another machine, the browsers that opened the Control UI), as
//! the running gateway reports them over its RPC (`device.pair.*`, scope `operator.pairing`).
//!
//! Requests are approved or rejected one at a time, by id: a device that asks again gets a
//! new request id (the old one is resolved as rejected), so what the owner approves is always
//! what the owner saw. There is no "approve all".

pub(crate) mod inbox;
pub(crate) mod nodes;

use std::time::Duration;

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};

use crate::gateway::rpc::{RpcClient, RpcError, call_once, text, texts};
use crate::gateway::status::Credential;
use crate::store::EventKind;
use crate::validation::FieldError;
pub(crate) use nodes::PendingNode;

const RPC_TIMEOUT: Duration = Duration::from_secs(10);

/// A device asking to be paired.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub(crate) struct PendingDevice {
    pub(crate) request_id: String,
    pub(crate) device_id: String,
    /// The name the device gave itself, if any.
    pub(crate) name: Option<String>,
    pub(crate) platform: Option<String>,
    /// The OpenClaw client asking (`cli`, `openclaw-ios`, `openclaw-control-ui`, …) and its mode.
    pub(crate) client: Option<String>,
    pub(crate) mode: Option<String>,
    pub(crate) role: Option<String>,
    /// What it may do once approved (`operator.read`, `operator.admin`, …).
    pub(crate) scopes: Vec<String>,
    /// Where it asked from, as the gateway saw it.
    pub(crate) remote_ip: Option<String>,
    /// When it asked (RFC 3339); requests are dropped after five minutes.
    pub(crate) requested_at: Option<String>,
    /// A paired device asking for more (another role or more scopes).
    pub(crate) upgrade: bool,
}

/// A paired device.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub(crate) struct PairedDevice {
    pub(crate) device_id: String,
    /// The owner's name for it, or the one it gave itself.
    pub(crate) name: Option<String>,
    pub(crate) platform: Option<String>,
    pub(crate) client: Option<String>,
    pub(crate) mode: Option<String>,
    pub(crate) roles: Vec<String>,
    pub(crate) scopes: Vec<String>,
    pub(crate) remote_ip: Option<String>,
    /// How it was paired: `owner` (approved), `silent` (a local client), `bootstrap`, ….
    pub(crate) approved_via: Option<String>,
    pub(crate) paired_at: Option<String>,
    pub(crate) last_seen_at: Option<String>,
    /// Connected to the gateway now.
    pub(crate) connected: bool,
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub(crate) struct Devices {
    /// Oldest first.
    pub(crate) pending: Vec<PendingDevice>,
    /// Most recently seen first.
    pub(crate) paired: Vec<PairedDevice>,
    /// Paired nodes asking that the assistant may use their commands, oldest first.
    pub(crate) nodes: Vec<PendingNode>,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum DeviceError {
    /// The request was answered, replaced by a newer one, or expired; or no such device.
    #[error("{0}")]
    Gone(String),
    #[error(transparent)]
    Gateway(#[from] RpcError),
}

/// What the gateway reports now, on a connection of its own.
pub(crate) async fn list(credential: &Credential) -> Result<Devices, DeviceError> {
    let mut client = RpcClient::connect(credential.port, &credential.token, RPC_TIMEOUT).await?;
    let listed = list_on(&mut client).await;
    client.close().await;
    Ok(listed?)
}

/// The devices and the nodes' requests, on an open connection (a gateway without node
/// pairing has no nodes asking).
pub(crate) async fn list_on(client: &mut RpcClient) -> Result<Devices, RpcError> {
    let devices = client
        .call("device.pair.list", json!({}), RPC_TIMEOUT)
        .await?;
    let nodes = match client.call("node.pair.list", json!({}), RPC_TIMEOUT).await {
        Ok(payload) => payload,
        Err(RpcError::Refused(_)) => Value::Null,
        Err(error) => return Err(error),
    };
    Ok(from_lists(&devices, &nodes))
}

/// What the owner says to one request, or of one paired device.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Answer {
    /// Pairs the device of this request: it is paired when it connects again.
    Approve,
    Reject,
    /// Unpairs this device: its tokens stop working and its connections are closed; it has
    /// to ask again.
    Remove,
    /// Lets the assistant use the commands this node request offers.
    ApproveNode,
    RejectNode,
}

impl Answer {
    /// How the answer is kept among the security events.
    pub(crate) fn event(self) -> EventKind {
        match self {
            Answer::Approve => EventKind::DeviceApproved,
            Answer::Reject => EventKind::DeviceRejected,
            Answer::Remove => EventKind::DeviceRemoved,
            Answer::ApproveNode => EventKind::NodeApproved,
            Answer::RejectNode => EventKind::NodeRejected,
        }
    }
}

/// Gives `answer` for `id`: a request's id, or a paired device's for [`Answer::Remove`].
pub(crate) async fn answer(
    credential: &Credential,
    answer: Answer,
    id: &str,
) -> Result<(), DeviceError> {
    if !plausible_id(id) {
        return Err(DeviceError::Gone(String::new()));
    }
    let (method, params) = match answer {
        Answer::Approve => ("device.pair.approve", json!({"requestId": id})),
        Answer::Reject => ("device.pair.reject", json!({"requestId": id})),
        Answer::Remove => ("device.pair.remove", json!({"deviceId": id})),
        Answer::ApproveNode => ("node.pair.approve", json!({"requestId": id})),
        Answer::RejectNode => ("node.pair.reject", json!({"requestId": id})),
    };
    call(credential, method, params).await.map(drop)
}

/// How the gateway paired this device (`owner`, `silent`, `bootstrap`, …), or `None` when it
/// is not paired.
pub(crate) async fn approved_via(
    credential: &Credential,
    device_id: &str,
) -> Result<Option<String>, DeviceError> {
    let payload = call(credential, "device.pair.list", json!({})).await?;
    Ok(payload["paired"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|d| d["deviceId"] == device_id)
        .map(|d| d["approvedVia"].as_str().unwrap_or_default().to_owned()))
}

/// A pairing setup code from the gateway (`device.pair.setupCode`): what OpenClaw's mobile app
/// scans, or `openclaw connect` takes. It holds a bootstrap token the first device to use it
/// binds to; a phone app that presents it is paired at once (OpenClaw's setup-code handoff),
/// so making one is the owner's decision, like an approval.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub(crate) struct SetupCode {
    /// What `openclaw connect` takes, and the QR holds.
    pub(crate) code: String,
    /// The same as a QR code (a `data:image/png` URL), when the gateway drew one.
    pub(crate) qr_png: Option<String>,
    /// Where the device connects.
    pub(crate) url: String,
    /// When the code lapses (RFC 3339; ten minutes after it was made).
    pub(crate) expires_at: Option<String>,
    /// What a device paired with it may do: `full`, `limited` or `node`.
    pub(crate) access: Option<String>,
}

/// What a phone paired with a setup code may do besides being a node: OpenClaw hands it an
/// operator token with these scopes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum SetupAccess {
    /// Chat, approvals and talk, without administration (no settings, no updates).
    #[default]
    Limited,
    /// Administration too: everything the owner can do in the Control UI.
    Full,
}

/// A new setup code for devices that connect at `url` (clawhost's `/remote`).
pub(crate) async fn setup_code(
    credential: &Credential,
    url: &str,
    access: SetupAccess,
) -> Result<SetupCode, DeviceError> {
    let mut params = json!({"publicUrl": url, "includeQr": true});
    if access == SetupAccess::Limited {
        params["bootstrapProfile"] = json!("limited");
    }
    let payload = call(credential, "device.pair.setupCode", params).await?;
    Ok(SetupCode {
        code: text(&payload["setupCode"]).ok_or_else(|| {
            DeviceError::Gateway(RpcError::Refused("the gateway gave no setup code".into()))
        })?,
        qr_png: text(&payload["qrDataUrl"]).filter(|q| q.starts_with("data:image/png;base64,")),
        url: text(&payload["gatewayUrl"]).unwrap_or_else(|| url.to_owned()),
        expires_at: payload["expiresAtMs"].as_i64().map(crate::clock::rfc3339),
        access: text(&payload["access"]),
    })
}

/// The most characters a device's name may have (the gateway's own limit).
const NAME_MAX: usize = 64;

/// Names a paired device as the owner calls it (shown instead of the name it gave itself).
pub(crate) async fn rename(
    credential: &Credential,
    device_id: &str,
    name: &str,
) -> Result<(), RenameError> {
    let name = check_name(name).map_err(RenameError::Invalid)?;
    if !plausible_id(device_id) {
        return Err(DeviceError::Gone(String::new()).into());
    }
    let params = json!({"deviceId": device_id, "label": name});
    call(credential, "device.pair.rename", params).await?;
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum RenameError {
    #[error("{}", .0.message)]
    Invalid(FieldError),
    #[error(transparent)]
    Device(#[from] DeviceError),
}

/// Invisible characters that reorder or hide text (bidirectional overrides, zero-width
/// characters): a name with them could pass for another device's.
fn is_format(c: char) -> bool {
    matches!(c, '\u{AD}' | '\u{200B}'..='\u{200F}' | '\u{202A}'..='\u{202E}' | '\u{2060}'..='\u{2069}' | '\u{FEFF}')
}

/// A name of 1 to 64 characters, trimmed, with no control or invisible format characters.
fn check_name(name: &str) -> Result<&str, FieldError> {
    let name = name.trim();
    if name.is_empty() || name.chars().count() > NAME_MAX {
        return Err(FieldError::new(
            "name",
            format!("Give the device a name of 1 to {NAME_MAX} characters."),
        ));
    }
    if name.chars().any(|c| c.is_control() || is_format(c)) {
        return Err(FieldError::new(
            "name",
            "A name is one line of text, without control characters.",
        ));
    }
    Ok(name)
}

async fn call(credential: &Credential, method: &str, params: Value) -> Result<Value, DeviceError> {
    call_once(credential, method, params, RPC_TIMEOUT)
        .await
        .map_err(|error| match error {
            RpcError::Refused(why) if is_gone(&why) => DeviceError::Gone(why),
            other => DeviceError::Gateway(other),
        })
}

/// The gateway's words for an id it does not know (`unknown requestId`, `unknown deviceId`).
fn is_gone(why: &str) -> bool {
    let lower = why.to_ascii_lowercase();
    lower.contains("unknown requestid")
        || lower.contains("unknown deviceid")
        || lower.contains("unknown device")
}

/// Maps `device.pair.list`'s `{pending, paired}` and `node.pair.list`'s `pending`.
pub(crate) fn from_lists(payload: &Value, nodes: &Value) -> Devices {
    let at = |v: &Value| v.as_i64().map(crate::clock::rfc3339);
    let entries = |key: &str| payload[key].as_array().cloned().unwrap_or_default();

    let mut pending: Vec<(i64, PendingDevice)> = entries("pending")
        .iter()
        .filter_map(|p| {
            Some((
                p["ts"].as_i64().unwrap_or(0),
                PendingDevice {
                    request_id: text(&p["requestId"])?,
                    device_id: text(&p["deviceId"])?,
                    name: text(&p["displayName"]),
                    platform: text(&p["platform"]),
                    client: text(&p["clientId"]),
                    mode: text(&p["clientMode"]),
                    role: text(&p["role"]),
                    scopes: texts(&p["scopes"]),
                    remote_ip: text(&p["remoteIp"]),
                    requested_at: at(&p["ts"]),
                    upgrade: p["isRepair"] == true,
                },
            ))
        })
        .collect();
    pending.sort_by_key(|(ts, _)| *ts);

    let mut paired: Vec<(i64, PairedDevice)> = entries("paired")
        .iter()
        .filter_map(|d| {
            let mut roles = texts(&d["roles"]);
            if roles.is_empty() {
                roles.extend(text(&d["role"]));
            }
            let seen = d["lastSeenAtMs"]
                .as_i64()
                .or_else(|| d["approvedAtMs"].as_i64());
            Some((
                seen.unwrap_or(0),
                PairedDevice {
                    device_id: text(&d["deviceId"])?,
                    name: text(&d["operatorLabel"]).or_else(|| text(&d["displayName"])),
                    platform: text(&d["platform"]),
                    client: text(&d["clientId"]),
                    mode: text(&d["clientMode"]),
                    roles,
                    scopes: texts(&d["scopes"]),
                    remote_ip: text(&d["remoteIp"]),
                    approved_via: text(&d["approvedVia"]),
                    paired_at: at(&d["approvedAtMs"]).or_else(|| at(&d["createdAtMs"])),
                    last_seen_at: at(&d["lastSeenAtMs"]),
                    connected: d["connected"] == true,
                },
            ))
        })
        .collect();
    paired.sort_by_key(|(seen, _)| std::cmp::Reverse(*seen));

    Devices {
        pending: pending.into_iter().map(|(_, p)| p).collect(),
        paired: paired.into_iter().map(|(_, d)| d).collect(),
        nodes: nodes::pending_from(nodes),
    }
}

/// A request or device id as the gateway makes them (UUIDs, hex digests): anything else in
/// a path is not one of its ids.
fn plausible_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 128
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `device.pair.list` as OpenClaw 2026.9.6 answers it (a request and a device as the
    /// gateway reported them, keys and tokens shortened).
    fn answer() -> Value {
        json!({
            "pending": [
                {"requestId": "b-later", "deviceId": "d2", "publicKey": "k2", "ts": 1_796_626_500_000_i64,
                 "clientId": "cli", "clientMode": "cli", "role": "operator", "scopes": ["operator.read"],
                 "isRepair": true},
                {"requestId": "147ffc2f-aaaa", "deviceId": "5132086c", "publicKey": "YHhy",
                 "displayName": "clawhost-remote", "platform": "linux", "clientId": "cli",
                 "clientMode": "cli", "role": "operator", "roles": ["operator"],
                 "scopes": ["operator.read", "operator.write"], "remoteIp": "203.0.113.5",
                 "silent": false, "isRepair": false, "ts": 1_796_626_427_772_i64},
                {"deviceId": "no-request-id"}
            ],
            "paired": [
                {"deviceId": "old", "displayName": "laptop", "role": "operator", "approvedVia": "owner",
                 "approvedAtMs": 1_796_000_000_000_i64, "lastSeenAtMs": 1_796_100_000_000_i64,
                 "tokens": [{"role": "operator", "scopes": [], "createdAtMs": 1}], "connected": false},
                {"deviceId": "new", "displayName": "phone", "operatorLabel": "Anna's phone",
                 "roles": ["operator"], "scopes": ["operator.read"], "approvedVia": "silent",
                 "createdAtMs": 1_796_200_000_000_i64, "lastSeenAtMs": 1_796_300_000_000_i64,
                 "connected": true}
            ]
        })
    }

    #[test]
    fn a_name_is_one_short_line() {
        assert_eq!(check_name("  Anna's phone "), Ok("Anna's phone"));
        assert_eq!(check_name(&"é".repeat(64)).map(str::len), Ok(128));
        for bad in [
            "",
            "   ",
            &"x".repeat(65),
            "two\nlines",
            "bell\u{7}",
            "Anna\u{202E}enohp",
            "zero\u{200B}width",
        ] {
            let error = check_name(bad).expect_err(bad);
            assert_eq!(error.field, "name");
        }
    }

    #[test]
    fn the_gateways_list_is_mapped_oldest_request_and_latest_device_first() {
        let devices = from_lists(&answer(), &Value::Null);
        assert_eq!(
            devices.pending.len(),
            2,
            "an entry without a request id is left out"
        );
        let first = &devices.pending[0];
        assert_eq!(first.request_id, "147ffc2f-aaaa");
        assert_eq!(first.name.as_deref(), Some("clawhost-remote"));
        assert_eq!(first.remote_ip.as_deref(), Some("203.0.113.5"));
        assert_eq!(first.scopes, ["operator.read", "operator.write"]);
        assert!(!first.upgrade);
        assert!(
            first
                .requested_at
                .as_deref()
                .is_some_and(|t| t.starts_with("2026-"))
        );
        assert!(devices.pending[1].upgrade);

        let [new, old] = devices.paired.as_slice() else {
            panic!("{devices:?}");
        };
        assert_eq!(
            new.name.as_deref(),
            Some("Anna's phone"),
            "the owner's name first"
        );
        assert!(new.connected);
        assert_eq!(old.roles, ["operator"], "a single role counts");
        assert_eq!(old.approved_via.as_deref(), Some("owner"));
        assert!(old.paired_at.is_some() && old.last_seen_at.is_some());
    }

    #[test]
    fn nothing_reported_is_an_empty_list() {
        let devices = from_lists(&json!({}), &json!({}));
        assert!(devices.pending.is_empty() && devices.paired.is_empty());
    }

    #[test]
    fn only_the_gateways_kind_of_id_is_asked_about() {
        assert!(plausible_id("147ffc2f-5b1e-4c9e-9a53-0f3c1b2a8d77"));
        assert!(plausible_id(&"ab".repeat(32)));
        for bad in ["", "../x", "a b", "a%2fb", &"a".repeat(129)] {
            assert!(!plausible_id(bad), "{bad}");
        }
    }

    #[test]
    fn unknown_ids_are_gone_not_errors() {
        assert!(is_gone("unknown requestId"));
        assert!(is_gone("Unknown deviceId"));
        assert!(!is_gone("missing scope: operator.admin"));
    }
}
