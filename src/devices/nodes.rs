//! Nodes: machines (OpenClaw's node host, the phone apps as nodes) that offer the assistant
//! commands to run on them. Pairing such a device is not enough: the gateway lets the
//! assistant use what a node offers (`system.run`, files, a browser, …) only once the owner
//! approves that node's commands (`node.pair.*`), one request at a time, like devices.

use serde::Serialize;
use serde_json::Value;

use crate::gateway::rpc::{text, texts};

/// A node asking that the assistant may use its commands.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub(crate) struct PendingNode {
    pub(crate) request_id: String,
    /// The node's device id (the same as on its paired device).
    pub(crate) node_id: String,
    pub(crate) name: Option<String>,
    pub(crate) platform: Option<String>,
    pub(crate) client: Option<String>,
    /// What the assistant could run there (`system.run` runs any command).
    pub(crate) commands: Vec<String>,
    /// What kinds of things it offers (`system`, `file`, `browser`, …).
    pub(crate) caps: Vec<String>,
    pub(crate) remote_ip: Option<String>,
    pub(crate) requested_at: Option<String>,
}

/// Maps `node.pair.list`'s `pending`, oldest first (a gateway without it has none).
pub(crate) fn pending_from(payload: &Value) -> Vec<PendingNode> {
    let mut pending: Vec<(i64, PendingNode)> = payload["pending"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|n| {
            Some((
                n["ts"].as_i64().unwrap_or(0),
                PendingNode {
                    request_id: text(&n["requestId"])?,
                    node_id: text(&n["nodeId"])?,
                    name: text(&n["displayName"]),
                    platform: text(&n["platform"]),
                    client: text(&n["clientId"]),
                    commands: texts(&n["commands"]),
                    caps: texts(&n["caps"]),
                    remote_ip: text(&n["remoteIp"]),
                    requested_at: n["ts"].as_i64().map(crate::clock::rfc3339),
                },
            ))
        })
        .collect();
    pending.sort_by_key(|(ts, _)| *ts);
    pending.into_iter().map(|(_, n)| n).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_node_host_asking_is_mapped() {
        // As OpenClaw 2026.9.6 listed `openclaw connect` on another machine (shortened).
        let payload = json!({"paired": [], "pending": [
            {"requestId": "later", "nodeId": "n2", "ts": 1_796_652_700_000_i64},
            {"caps": ["browser", "system"], "clientId": "node-host", "clientMode": "node",
             "commands": ["browser.proxy", "system.run", "system.which"], "deviceFamily": "Linux",
             "displayName": "vm", "nodeId": "177eae05", "platform": "linux",
             "remoteIp": "192.0.2.2", "requestId": "2aa3d18c",
             "requiredApproveScopes": ["operator.pairing", "operator.admin"],
             "ts": 1_796_652_679_293_i64, "version": "2026.9.6"},
            {"nodeId": "no-request"}
        ]});
        let pending = pending_from(&payload);
        assert_eq!(pending.len(), 2);
        assert_eq!(pending[0].request_id, "2aa3d18c");
        assert_eq!(pending[0].node_id, "177eae05");
        assert_eq!(pending[0].name.as_deref(), Some("vm"));
        assert_eq!(pending[0].client.as_deref(), Some("node-host"));
        assert_eq!(
            pending[0].commands,
            ["browser.proxy", "system.run", "system.which"]
        );
        assert_eq!(pending[0].caps, ["browser", "system"]);
        assert_eq!(pending[0].remote_ip.as_deref(), Some("192.0.2.2"));
        assert!(pending[0].requested_at.is_some());
        assert_eq!(pending[1].request_id, "later");
        assert!(pending_from(&json!({})).is_empty());
    }
}
