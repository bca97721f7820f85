//! OpenClaw's `openclaw.json`: read as JSON5 (the owner may have written comments), merge in
//! the keys clawhost owns, keep everything else the owner or OpenClaw wrote, and write it
//! back atomically, 0600. No secret is ever written into it: the provider's key there is a
//! SecretRef naming the variable that holds the egress proxy's virtual key.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use super::providers::{EGRESS_KEY_ENV, ProviderKind};

/// The variables a provider's key was named by: the egress proxy's virtual key now, and the
/// provider keys themselves before the egress proxy.
const KEY_VARIABLES: [&str; 5] = [
    EGRESS_KEY_ENV,
    "ANTHROPIC_API_KEY",
    "OPENAI_API_KEY",
    "OPENROUTER_API_KEY",
    "OPENAI_COMPATIBLE_API_KEY",
];

/// Largest config file read; OpenClaw's own are a few KiB.
const MAX_BYTES: u64 = 4 * 1024 * 1024;

/// The environment variable holding the gateway's credential.
pub(crate) const TOKEN_ENV: &str = "OPENCLAW_GATEWAY_TOKEN";
/// Where OpenClaw serves its Control UI; the proxy forwards this prefix unchanged.
pub(crate) const BASE_PATH: &str = "/openclaw";

#[derive(Debug, thiserror::Error)]
pub(crate) enum ConfigFileError {
    #[error(
        "{path} is a symlink; clawhost only edits a regular file (OpenClaw replaces it atomically)"
    )]
    Symlink { path: String },
    #[error("{path} is larger than 4 MiB")]
    TooLarge { path: String },
    #[error("{path} is not valid JSON5: {reason}")]
    Syntax { path: String, reason: String },
    #[error("{path} must hold a JSON object at the top level")]
    NotObject { path: String },
    #[error("cannot read or write {path}: {reason}")]
    Io { path: String, reason: String },
}

/// What clawhost sets in the file.
pub(crate) struct Owned<'a> {
    pub(crate) port: u16,
    pub(crate) provider: ProviderKind,
    pub(crate) model: &'a str,
    /// The egress proxy's base URL, where the provider's requests go.
    pub(crate) egress: &'a str,
    pub(crate) log_file: PathBuf,
    /// Telegram set up from clawhost: the egress proxy's root for it and the virtual token.
    pub(crate) telegram: Option<(&'a str, &'a str)>,
    /// Discord and Slack as set up from clawhost.
    pub(crate) token_channels: TokenChannels,
}

/// Discord and Slack set up from clawhost: their tokens reach the gateway through its
/// environment (SecretRefs in the file), never in the file.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct TokenChannels {
    /// Discord, and whether in mention-only mode.
    pub(crate) discord: Option<bool>,
    pub(crate) slack: bool,
}

pub(crate) fn read(path: &Path) -> Result<Option<Value>, ConfigFileError> {
    let shown = path.display().to_string();
    let metadata = match std::fs::symlink_metadata(path) {
        Ok(metadata) => metadata,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
        Err(e) => {
            return Err(ConfigFileError::Io {
                path: shown,
                reason: e.to_string(),
            });
        }
    };
    if metadata.file_type().is_symlink() {
        return Err(ConfigFileError::Symlink { path: shown });
    }
    if metadata.len() > MAX_BYTES {
        return Err(ConfigFileError::TooLarge { path: shown });
    }
    let text = std::fs::read_to_string(path).map_err(|e| ConfigFileError::Io {
        path: shown.clone(),
        reason: e.to_string(),
    })?;
    if text.trim().is_empty() {
        return Ok(None);
    }
    let value: Value = json5::from_str(&text).map_err(|e| ConfigFileError::Syntax {
        path: shown.clone(),
        reason: e.to_string(),
    })?;
    if !value.is_object() {
        return Err(ConfigFileError::NotObject { path: shown });
    }
    Ok(Some(value))
}

/// Sets `value` at `path` under `root`, making objects on the way (a value in the way that
/// is not an object is replaced by one).
fn set(root: &mut Value, path: &[&str], value: Value) {
    let mut node = root;
    for key in path {
        if !node.is_object() {
            *node = Value::Object(Map::new());
        }
        // An object indexed by a missing key gets that key (null), never a panic.
        node = &mut node[*key];
    }
    *node = value;
}

fn object_at<'v>(root: &'v mut Value, pointer: &str) -> Option<&'v mut Map<String, Value>> {
    root.pointer_mut(pointer).and_then(Value::as_object_mut)
}

fn secret_ref(env: &str) -> Value {
    json!({"source": "env", "provider": "default", "id": env})
}

/// Merges the keys clawhost owns into `existing` (or a new config).
pub(crate) fn apply(existing: Option<Value>, owned: &Owned<'_>) -> Value {
    let mut config = existing
        .filter(Value::is_object)
        .unwrap_or_else(|| Value::Object(Map::new()));
    set(&mut config, &["gateway", "mode"], json!("local"));
    set(&mut config, &["gateway", "port"], json!(owned.port));
    set(&mut config, &["gateway", "bind"], json!("loopback"));
    set(&mut config, &["gateway", "auth", "mode"], json!("token"));
    // A literal token in the file would win over ours; only the reference may be there.
    set(
        &mut config,
        &["gateway", "auth", "token"],
        secret_ref(TOKEN_ENV),
    );
    if let Some(auth) = object_at(&mut config, "/gateway/auth") {
        auth.remove("password");
    }
    set(
        &mut config,
        &["gateway", "controlUi", "basePath"],
        json!(BASE_PATH),
    );
    // clawhost on loopback is the one proxy the gateway trusts: what it relays for a device
    // elsewhere carries that device's address (X-Forwarded-For), so the gateway treats it as
    // remote and asks the owner to pair it. A connection with no forwarding headers stays
    // "direct-local" (clawhost's own client, the Control UI through its proxy).
    set(
        &mut config,
        &["gateway", "trustedProxies"],
        json!(["127.0.0.1", "::1"]),
    );

    // Only the provider clawhost manages may name the variables that held (or hold) a key:
    // every other entry naming one loses it, so an entry written into the file meanwhile (say
    // through the Control UI's config methods) cannot send a key to an endpoint of its own.
    let ours: Vec<Value> = KEY_VARIABLES.into_iter().map(secret_ref).collect();
    if let Some(providers) = object_at(&mut config, "/models/providers") {
        let managed = owned.provider.openclaw_id();
        let mut emptied = Vec::new();
        for (id, entry) in providers.iter_mut() {
            let Value::Object(entry) = entry else {
                continue;
            };
            if id == managed || !entry.get("apiKey").is_some_and(|key| ours.contains(key)) {
                continue;
            }
            entry.remove("apiKey");
            let clawhosts = ProviderKind::ALL
                .iter()
                .any(|kind| kind.openclaw_id() == id && kind.owns_its_config_entry());
            if entry.is_empty() || clawhosts {
                emptied.push(id.clone());
            }
        }
        for id in emptied {
            providers.remove(&id);
        }
    }
    let (fragment, primary) = owned.provider.config_fragment(owned.model, owned.egress);
    let id = owned.provider.openclaw_id();
    if let Value::Object(fields) = fragment {
        for (key, value) in fields {
            set(&mut config, &["models", "providers", id, &key], value);
        }
    }
    set(
        &mut config,
        &["agents", "defaults", "model", "primary"],
        json!(primary),
    );
    set(
        &mut config,
        &["logging", "file"],
        json!(owned.log_file.display().to_string()),
    );
    set(&mut config, &["update", "checkOnStart"], json!(false));
    set_telegram(&mut config, owned.telegram);
    set_token_channels(&mut config, owned.token_channels);
    config
}

/// Writes the sections of Discord and Slack as set up from clawhost; a section clawhost
/// wrote for a channel no longer set up goes, one the owner wrote stays. Only the keys
/// clawhost owns are set: what the owner added (guilds, policies) is kept.
pub(crate) fn set_token_channels(config: &mut Value, channels: TokenChannels) {
    use crate::channels::{discord, slack};
    if let Some(mention_only) = channels.discord {
        set(config, &["channels", "discord", "enabled"], json!(true));
        set(
            config,
            &["channels", "discord", "token"],
            secret_ref(discord::TOKEN_ENV),
        );
        set(
            config,
            &["channels", "discord", "intents", "messageContent"],
            json!(!mention_only),
        );
    }
    if channels.slack {
        set(config, &["channels", "slack", "enabled"], json!(true));
        set(config, &["channels", "slack", "mode"], json!("socket"));
        set(
            config,
            &["channels", "slack", "botToken"],
            secret_ref(slack::BOT_TOKEN_ENV),
        );
        set(
            config,
            &["channels", "slack", "appToken"],
            secret_ref(slack::APP_TOKEN_ENV),
        );
    }
    let Some(sections) = object_at(config, "/channels") else {
        return;
    };
    for (id, key, env, wanted) in [
        (
            discord::CHANNEL,
            "token",
            discord::TOKEN_ENV,
            channels.discord.is_some(),
        ),
        (
            slack::CHANNEL,
            "botToken",
            slack::BOT_TOKEN_ENV,
            channels.slack,
        ),
    ] {
        let ours = sections
            .get(id)
            .is_some_and(|section| section[key] == secret_ref(env));
        if ours && !wanted {
            sections.remove(id);
        }
    }
}

/// Telegram through the egress proxy (`(apiRoot, virtual token)`), or, with `None`, no
/// Telegram of clawhost's: a section clawhost wrote goes, one the owner wrote stays.
pub(crate) fn set_telegram(config: &mut Value, telegram: Option<(&str, &str)>) {
    if let Some((root, token)) = telegram {
        set(config, &["channels", "telegram", "enabled"], json!(true));
        set(config, &["channels", "telegram", "botToken"], json!(token));
        set(config, &["channels", "telegram", "apiRoot"], json!(root));
        return;
    }
    let Some(channels) = object_at(config, "/channels") else {
        return;
    };
    let ours = channels
        .get("telegram")
        .and_then(|t| t["botToken"].as_str())
        .is_some_and(crate::egress::telegram::is_virtual);
    if ours {
        channels.remove("telegram");
    }
}

/// `config` without what moves at every start: the gateway's port (picked afresh when
/// `gateway.port` is 0), the egress proxy's address (a loopback port of its own, per run) and
/// Telegram's virtual token.
pub(crate) fn without_per_start_values(config: &Value) -> Value {
    let mut config = config.clone();
    if let Some(gateway) = object_at(&mut config, "/gateway") {
        gateway.remove("port");
    }
    if let Some(providers) = object_at(&mut config, "/models/providers") {
        for entry in providers.values_mut().filter_map(Value::as_object_mut) {
            if entry
                .get("baseUrl")
                .and_then(Value::as_str)
                .is_some_and(|url| is_egress_url(url, crate::egress::PREFIX))
            {
                entry.remove("baseUrl");
            }
        }
    }
    if let Some(telegram) = object_at(&mut config, "/channels/telegram") {
        let ours = |key: &str, is: fn(&str) -> bool| {
            telegram.get(key).and_then(Value::as_str).is_some_and(is)
        };
        if ours("botToken", crate::egress::telegram::is_virtual)
            && ours("apiRoot", |url| {
                is_egress_url(url, crate::egress::telegram::TELEGRAM)
            })
        {
            telegram.remove("botToken");
            telegram.remove("apiRoot");
        }
    }
    config
}

/// `http://127.0.0.1:<port><prefix>`, as [`crate::egress`] serves it.
fn is_egress_url(url: &str, prefix: &str) -> bool {
    url.strip_prefix("http://127.0.0.1:")
        .and_then(|rest| rest.strip_suffix(prefix))
        .is_some_and(|port| port.parse::<u16>().is_ok())
}

/// The file's bytes for `config`.
pub(crate) fn to_bytes(config: &Value) -> Vec<u8> {
    let mut bytes = serde_json::to_vec_pretty(config).unwrap_or_default();
    bytes.push(b'\n');
    bytes
}

pub(crate) fn write(path: &Path, config: &Value) -> Result<(), ConfigFileError> {
    let bytes = to_bytes(config);
    crate::fsutil::write_atomic(path, &bytes).map_err(|e| ConfigFileError::Io {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned(provider: ProviderKind) -> Owned<'static> {
        Owned {
            port: 18802,
            provider,
            model: "test-model",
            egress: "http://127.0.0.1:9/upstream",
            log_file: PathBuf::from("/data/openclaw/logs/openclaw.log"),
            telegram: None,
            token_channels: TokenChannels::default(),
        }
    }

    #[test]
    fn keeps_what_others_wrote_and_sets_what_clawhost_owns() {
        let dir = tempfile::tempdir().expect("dir");
        let path = dir.path().join("openclaw.json");
        std::fs::write(
            &path,
            "// the owner's notes\n{ channels: { whatsapp: { dmPolicy: 'allowlist', }, }, \
             gateway: { port: 1, auth: { mode: 'none', password: 'x' } }, }",
        )
        .expect("write");
        let existing = read(&path).expect("read");
        let config = apply(existing, &owned(ProviderKind::OpenAiCompatible));
        assert_eq!(config["channels"]["whatsapp"]["dmPolicy"], "allowlist");
        assert_eq!(config["gateway"]["port"], 18802);
        assert_eq!(config["gateway"]["bind"], "loopback");
        assert_eq!(config["gateway"]["auth"]["mode"], "token");
        assert_eq!(config["gateway"]["auth"]["token"]["id"], TOKEN_ENV);
        assert!(config["gateway"]["auth"].get("password").is_none());
        assert_eq!(config["gateway"]["controlUi"]["basePath"], "/openclaw");
        assert_eq!(
            config["gateway"]["trustedProxies"],
            json!(["127.0.0.1", "::1"])
        );
        assert_eq!(
            config["agents"]["defaults"]["model"]["primary"],
            "custom/test-model"
        );
        assert_eq!(config["update"]["checkOnStart"], false);
        write(&path, &config).expect("write");
        let again = read(&path).expect("read").expect("config");
        assert_eq!(again, config);
    }

    #[test]
    fn switching_provider_drops_the_old_reference() {
        let first = apply(None, &owned(ProviderKind::OpenAiCompatible));
        let second = apply(Some(first), &owned(ProviderKind::Anthropic));
        assert!(
            second["models"]["providers"].get("custom").is_none(),
            "{second}"
        );
        assert_eq!(
            second["models"]["providers"]["anthropic"]["apiKey"]["id"],
            EGRESS_KEY_ENV
        );
    }

    /// Another port and egress address alone are the same configuration; anything else, or
    /// a base URL the owner points elsewhere, is not.
    #[test]
    fn ports_that_move_at_every_start_are_not_a_change() {
        let first = apply(None, &owned(ProviderKind::OpenAiCompatible));
        let mut moved = owned(ProviderKind::OpenAiCompatible);
        moved.port = 40123;
        moved.egress = "http://127.0.0.1:41234/upstream";
        let second = apply(Some(first.clone()), &moved);
        assert_ne!(first, second);
        assert_eq!(
            without_per_start_values(&first),
            without_per_start_values(&second)
        );
        let mut model = owned(ProviderKind::OpenAiCompatible);
        model.model = "another-model";
        assert_ne!(
            without_per_start_values(&first),
            without_per_start_values(&apply(Some(first.clone()), &model))
        );
        let mut elsewhere = first.clone();
        elsewhere["models"]["providers"]["custom"]["baseUrl"] = json!("http://10.0.0.2:9/upstream");
        assert_ne!(
            without_per_start_values(&first),
            without_per_start_values(&elsewhere)
        );
    }

    /// Telegram set up here goes through the egress proxy with the virtual token; removed, the
    /// section clawhost wrote goes, one the owner wrote stays; a new virtual token at a start
    /// is no change worth keeping.
    #[test]
    fn telegram_of_clawhosts_comes_and_goes() {
        let mut mine = owned(ProviderKind::OpenAiCompatible);
        mine.telegram = Some(("http://127.0.0.1:9/telegram", "42:clawhost-aa"));
        let with = apply(None, &mine);
        assert_eq!(with["channels"]["telegram"]["botToken"], "42:clawhost-aa");
        assert_eq!(
            with["channels"]["telegram"]["apiRoot"],
            "http://127.0.0.1:9/telegram"
        );
        mine.telegram = Some(("http://127.0.0.1:10/telegram", "42:clawhost-bb"));
        assert_eq!(
            without_per_start_values(&with),
            without_per_start_values(&apply(Some(with.clone()), &mine))
        );
        let without = apply(Some(with), &owned(ProviderKind::OpenAiCompatible));
        assert!(without["channels"].get("telegram").is_none(), "{without}");
        let mut theirs = without.clone();
        theirs["channels"]["telegram"] = json!({"botToken": "42:the-owners"});
        let kept = apply(Some(theirs), &owned(ProviderKind::OpenAiCompatible));
        assert_eq!(kept["channels"]["telegram"]["botToken"], "42:the-owners");
    }

    /// Review of issue 11: an entry added behind clawhost's back that names the key's variable
    /// loses it at the next start; what else it holds stays.
    #[test]
    fn only_the_managed_provider_names_a_key_variable() {
        let mut config = apply(None, &owned(ProviderKind::OpenAiCompatible));
        config["models"]["providers"]["collector"] = json!({
            "baseUrl": "https://collector.example/v1",
            "apiKey": {"source": "env", "provider": "default", "id": EGRESS_KEY_ENV},
        });
        config["models"]["providers"]["older"] = json!({
            "baseUrl": "https://older.example/v1",
            "apiKey": {"source": "env", "provider": "default", "id": "OPENAI_API_KEY"},
        });
        config["models"]["providers"]["mine"] =
            json!({"baseUrl": "http://10.0.0.2/v1", "apiKey": "literal"});
        let again = apply(Some(config), &owned(ProviderKind::OpenAiCompatible));
        let providers = &again["models"]["providers"];
        assert!(providers["collector"].get("apiKey").is_none(), "{again}");
        assert!(providers["older"].get("apiKey").is_none(), "{again}");
        assert_eq!(
            providers["collector"]["baseUrl"],
            "https://collector.example/v1"
        );
        assert_eq!(
            providers["mine"]["apiKey"], "literal",
            "what is not ours stays"
        );
        assert_eq!(providers["custom"]["apiKey"]["id"], EGRESS_KEY_ENV);
    }

    #[test]
    fn refuses_symlinks_and_garbage() {
        let dir = tempfile::tempdir().expect("dir");
        let target = dir.path().join("real.json");
        std::fs::write(&target, "{}").expect("write");
        let link = dir.path().join("openclaw.json");
        std::os::unix::fs::symlink(&target, &link).expect("symlink");
        assert!(matches!(read(&link), Err(ConfigFileError::Symlink { .. })));
        std::fs::write(&target, "{ not json").expect("write");
        assert!(matches!(read(&target), Err(ConfigFileError::Syntax { .. })));
        std::fs::write(&target, "[1]").expect("write");
        assert!(matches!(
            read(&target),
            Err(ConfigFileError::NotObject { .. })
        ));
    }

    #[test]
    fn token_channels_are_named_by_reference_only() {
        let mut config =
            json!({"channels": {"discord": {"guilds": {"1": {"requireMention": true}}}}});
        set_token_channels(
            &mut config,
            TokenChannels {
                discord: Some(true),
                slack: true,
            },
        );
        let discord = &config["channels"]["discord"];
        assert_eq!(discord["token"]["id"], "CLAWHOST_DISCORD_TOKEN");
        assert_eq!(discord["intents"]["messageContent"], false);
        assert_eq!(
            discord["guilds"]["1"]["requireMention"], true,
            "the owner's keys stay"
        );
        assert_eq!(config["channels"]["slack"]["mode"], "socket");
        assert_eq!(config["channels"]["slack"]["appToken"]["source"], "env");
        // Off again: clawhost's sections go; one the owner wrote stays.
        let mut owners = config.clone();
        owners["channels"]["slack"]["botToken"] = json!("xoxb-the-owners-own");
        set_token_channels(&mut owners, TokenChannels::default());
        assert!(owners["channels"].get("discord").is_none(), "{owners}");
        assert!(owners["channels"].get("slack").is_some(), "{owners}");
    }
}
