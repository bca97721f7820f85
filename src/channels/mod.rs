//! Messaging channels: their health as the running gateway reports it (`channels.status`),
//! and WhatsApp's link state read from its credential files while the gateway is stopped.
//!
//! clawhost only reads those files, under a shared lock (the gateway writes them), never
//! following a symlink and never reading more than a bounded size. The replaced wrapper's
//! repair of Baileys' `registered` flag is obsolete for OpenClaw 2026.x: "linked" means only
//! that `creds.json` exists, is larger than one byte and is valid JSON.

pub(crate) mod check;
pub(crate) mod discord;
pub(crate) mod pairing;
pub(crate) mod setup;
pub(crate) mod slack;
pub(crate) mod telegram;
pub(crate) mod whatsapp_link;

use std::fs::File;
use std::io::Read;
use std::path::Path;

use nix::fcntl::{Flock, FlockArg};
use serde::Serialize;
use serde_json::Value;
use zeroize::Zeroizing;

use crate::secrets::{SecretBox, SecretError};
use crate::store::ChannelToken;

/// Larger credential files are reported, not read.
const MAX_CREDS_BYTES: u64 = 1024 * 1024;

#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub(crate) struct Issue {
    pub(crate) kind: String,
    pub(crate) message: String,
    /// What to do, in clawhost's terms where clawhost has the action (its Link button, its
    /// Restart) instead of a command to type on the server.
    pub(crate) fix: Option<String>,
    /// The gateway's own hint, as it gave it.
    pub(crate) gateway_fix: Option<String>,
}

/// The gateway's hint for `channel` in clawhost's terms, where clawhost has the action.
pub(crate) fn clawhost_fix(channel: &str, fix: &str) -> Option<String> {
    let lower = fix.to_ascii_lowercase();
    if channel == "whatsapp" && lower.contains("openclaw channels login") {
        Some("Press Link WhatsApp on the dashboard and scan the QR code with your phone.".into())
    } else if lower.contains("openclaw gateway restart") || lower.contains("restart the gateway") {
        Some("Restart the gateway from the dashboard.".into())
    } else {
        None
    }
}

/// A channel as the gateway reports it; its flags are the gateway's own, passed on as they are.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[allow(
    clippy::struct_excessive_bools,
    reason = "the API returns the gateway's four independent flags"
)]
pub(crate) struct Channel {
    pub(crate) id: String,
    pub(crate) configured: bool,
    pub(crate) linked: bool,
    pub(crate) running: bool,
    pub(crate) connected: bool,
    pub(crate) health: Option<String>,
    pub(crate) last_error: Option<String>,
    pub(crate) issues: Vec<Issue>,
}

/// Maps the gateway's `channels.status` payload.
pub(crate) fn from_status(payload: &Value) -> Vec<Channel> {
    let channels = &payload["channels"];
    let mut order: Vec<String> = payload["channelOrder"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    for id in channels.as_object().into_iter().flat_map(|o| o.keys()) {
        if !order.contains(id) {
            order.push(id.clone());
        }
    }
    let text = |v: &Value| v.as_str().map(str::to_string);
    order
        .into_iter()
        .filter(|id| channels.get(id).is_some())
        .map(|id| {
            let c = &channels[&id];
            let issues = payload["statusIssues"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|issue| issue["channel"] == id.as_str())
                .map(|issue| {
                    let gateway_fix = text(&issue["fix"]);
                    Issue {
                        kind: text(&issue["kind"]).unwrap_or_default(),
                        message: text(&issue["message"]).unwrap_or_default(),
                        fix: gateway_fix
                            .as_deref()
                            .map(|fix| clawhost_fix(&id, fix).unwrap_or_else(|| fix.to_string())),
                        gateway_fix,
                    }
                })
                .collect();
            Channel {
                configured: c["configured"] == true,
                linked: c["linked"] == true,
                running: c["running"] == true,
                connected: c["connected"] == true,
                health: text(&c["healthState"]),
                last_error: match &c["lastError"] {
                    Value::Null => None,
                    Value::String(s) => Some(s.clone()),
                    other => Some(other.to_string()),
                },
                issues,
                id,
            }
        })
        .collect()
}

#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub(crate) struct WhatsAppLink {
    pub(crate) linked: bool,
    /// Masked: `+1•••••4321`.
    pub(crate) phone: Option<String>,
    /// `gateway` while it runs, `files` (its credential files) while it does not.
    #[schema(value_type = String, pattern = "^(gateway|files)$")]
    pub(crate) source: &'static str,
    /// Why the files could not be read, when they could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) problem: Option<String>,
}

/// `+15557654321` → `+1•••••4321`.
pub(crate) fn mask_phone(e164: &str) -> String {
    let digits: Vec<char> = e164.chars().filter(char::is_ascii_digit).collect();
    if digits.len() < 6 {
        return "•••".into();
    }
    let last: String = digits[digits.len() - 4..].iter().collect();
    format!("+{}•••••{last}", digits[0])
}

/// `15557654321:12@s.whatsapp.net` → `+15557654321`.
fn phone_from_jid(jid: &str) -> Option<String> {
    let user = jid.split(['@', ':']).next()?;
    (user.len() >= 6 && user.chars().all(|c| c.is_ascii_digit())).then(|| format!("+{user}"))
}

fn not_linked(problem: Option<String>) -> WhatsAppLink {
    WhatsAppLink {
        linked: false,
        phone: None,
        source: "files",
        problem,
    }
}

/// The default WhatsApp account's link credentials (Baileys rewrites them as keys change).
pub(crate) fn whatsapp_credentials(state_dir: &Path) -> std::path::PathBuf {
    state_dir.join("credentials/whatsapp/default/creds.json")
}

/// Link state of the default WhatsApp account from `<state>/credentials/whatsapp/default/`.
/// Blocking: call it off the async runtime.
pub(crate) fn whatsapp_from_files(state_dir: &Path) -> WhatsAppLink {
    let path = whatsapp_credentials(state_dir);
    let metadata = match std::fs::symlink_metadata(&path) {
        Ok(metadata) => metadata,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return not_linked(None),
        Err(e) => return not_linked(Some(format!("cannot read {}: {e}", path.display()))),
    };
    if metadata.file_type().is_symlink() {
        return not_linked(Some(format!(
            "{} is a symlink; clawhost does not follow it",
            path.display()
        )));
    }
    if !metadata.is_file() {
        return not_linked(Some(format!("{} is not a regular file", path.display())));
    }
    if metadata.len() > MAX_CREDS_BYTES {
        return not_linked(Some(format!("{} is larger than 1 MiB", path.display())));
    }
    if metadata.len() <= 1 {
        return not_linked(None);
    }
    let read = || -> std::io::Result<Vec<u8>> {
        // O_NOFOLLOW-like: the symlink check above plus opening the same path; a swap in
        // between would need write access to the owner's state directory.
        let file = File::open(&path)?;
        let mut locked = Flock::lock(file, FlockArg::LockShared)
            .map_err(|(_, errno)| std::io::Error::from(errno))?;
        let mut bytes = Vec::new();
        (&mut *locked)
            .take(MAX_CREDS_BYTES + 1)
            .read_to_end(&mut bytes)?;
        Ok(bytes)
    };
    let bytes = match read() {
        Ok(bytes) => bytes,
        Err(e) => return not_linked(Some(format!("cannot read {}: {e}", path.display()))),
    };
    let Ok(creds) = serde_json::from_slice::<Value>(&bytes) else {
        return not_linked(Some(format!("{} is not valid JSON", path.display())));
    };
    let phone = creds["me"]["id"]
        .as_str()
        .and_then(phone_from_jid)
        .map(|p| mask_phone(&p));
    WhatsAppLink {
        linked: true,
        phone,
        source: "files",
        problem: None,
    }
}

/// Link state of WhatsApp as the running gateway reports it.
pub(crate) fn whatsapp_from_status(payload: &Value) -> WhatsAppLink {
    let whatsapp = &payload["channels"]["whatsapp"];
    WhatsAppLink {
        linked: whatsapp["linked"] == true,
        phone: whatsapp["self"]["e164"].as_str().map(mask_phone),
        source: "gateway",
        problem: None,
    }
}

/// What a channel's token is sealed for: one purpose per channel, so a token sealed for one
/// never opens as another's.
fn token_purpose(channel: &str) -> String {
    format!("clawhost/channel-token/{channel}/v1")
}

/// Seals a channel's token under the instance's key.
pub(crate) fn seal_token(
    sealer: &SecretBox,
    channel: &str,
    token: &str,
) -> Result<Vec<u8>, SecretError> {
    sealer.seal(&token_purpose(channel), token.as_bytes())
}

/// A stored channel token, opened (in memory only).
pub(crate) fn open_token(
    sealer: &SecretBox,
    stored: &ChannelToken,
) -> Result<Zeroizing<String>, String> {
    let bytes = sealer
        .open(&token_purpose(&stored.channel), &stored.sealed)
        .map_err(|e| e.to_string())?;
    String::from_utf8(bytes.to_vec())
        .map(Zeroizing::new)
        .map_err(|_| "the stored token is not text".to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn a_channel_token_opens_only_as_its_own_channels() {
        let dir = tempfile::tempdir().expect("dir");
        let instance =
            SecretBox::load_or_create(&dir.path().join("secret.key"), true).expect("key");
        // Tokens sealed before the purpose was per channel still open.
        assert_eq!(
            token_purpose("telegram"),
            "clawhost/channel-token/telegram/v1"
        );
        let stored = |channel: &str, sealed: Vec<u8>| ChannelToken {
            channel: channel.into(),
            sealed,
            last4: "abcd".into(),
            api_root: None,
            account: None,
            updated_at: 0,
            mention_only: false,
        };
        let sealed = seal_token(&instance, "telegram", "123:secret").expect("seal");
        let opened = open_token(&instance, &stored("telegram", sealed.clone())).expect("open");
        assert_eq!(opened.as_str(), "123:secret");
        assert!(open_token(&instance, &stored("discord", sealed)).is_err());
    }

    #[test]
    fn masks_phones() {
        assert_eq!(mask_phone("+15557654321"), "+1•••••4321");
        assert_eq!(mask_phone("+12"), "•••");
        assert_eq!(
            phone_from_jid("15557654321:12@s.whatsapp.net").as_deref(),
            Some("+15557654321")
        );
        assert_eq!(phone_from_jid("abc@lid"), None);
    }

    #[test]
    fn maps_the_gateways_status() {
        let payload = json!({
            "channelOrder": ["whatsapp"],
            "channels": {"whatsapp": {"configured": true, "linked": false, "running": false, "connected": false, "healthState": "stopped", "lastError": null, "self": {"e164": null}}},
            "statusIssues": [{"channel": "whatsapp", "accountId": "default", "kind": "auth", "message": "Not linked (no WhatsApp Web session).", "fix": "Run: openclaw channels login (scan QR on the gateway host)."}]
        });
        let channels = from_status(&payload);
        assert_eq!(channels.len(), 1);
        assert_eq!(channels[0].id, "whatsapp");
        assert!(channels[0].configured && !channels[0].linked);
        assert_eq!(channels[0].health.as_deref(), Some("stopped"));
        assert_eq!(channels[0].issues[0].kind, "auth");
        // Issue 12, defect 7: clawhost's own button, not a command for the server's shell.
        let issue = &channels[0].issues[0];
        assert!(
            issue
                .fix
                .as_deref()
                .unwrap_or_default()
                .contains("Link WhatsApp"),
            "{issue:?}"
        );
        assert!(
            issue
                .gateway_fix
                .as_deref()
                .unwrap_or_default()
                .contains("channels login")
        );
        assert_eq!(
            clawhost_fix("telegram", "Run: openclaw channels login"),
            None
        );
        assert!(clawhost_fix("telegram", "Run: openclaw gateway restart").is_some());
        assert!(!whatsapp_from_status(&payload).linked);
    }
}
