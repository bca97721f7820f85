//! OpenClaw's `openclaw.json`: read as JSON5 (the owner may have written comments), merge in
//! the keys clawhost owns, keep everything else the owner or OpenClaw wrote, and write it
//! back atomically, 0600. No secret is ever written into it: keys are SecretRefs naming
//! environment variables that only the gateway's process receives.

use std::path::{Path, PathBuf};

use serde_json::{Map, Value, json};

use super::providers::{self, Provider};

/// Largest config file read; OpenClaw's own are a few KiB.
const MAX_BYTES: u64 = 4 * 1024 * 1024;

/// The environment variable holding the gateway's credential.
pub const TOKEN_ENV: &str = "OPENCLAW_GATEWAY_TOKEN";
/// Where OpenClaw serves its Control UI; the proxy forwards this prefix unchanged.
pub const BASE_PATH: &str = "/openclaw";

#[derive(Debug, thiserror::Error)]
pub enum ConfigFileError {
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
pub struct Owned<'a> {
    pub port: u16,
    pub provider: &'a Provider,
    pub model: &'a str,
    pub base_url: Option<&'a str>,
    pub log_file: PathBuf,
}

pub fn read(path: &Path) -> Result<Option<Value>, ConfigFileError> {
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

/// The object at `keys` under `root`, created (or replaced, if not an object) on the way.
fn object_at<'v>(root: &'v mut Value, keys: &[&str]) -> &'v mut Map<String, Value> {
    let mut node = root;
    for key in keys {
        if !node.is_object() {
            *node = Value::Object(Map::new());
        }
        node = node
            .as_object_mut()
            .expect("just made an object")
            .entry(key.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
    }
    if !node.is_object() {
        *node = Value::Object(Map::new());
    }
    node.as_object_mut().expect("just made an object")
}

fn secret_ref(env: &str) -> Value {
    json!({"source": "env", "provider": "default", "id": env})
}

/// Merges the keys clawhost owns into `existing` (or a new config).
pub fn apply(existing: Option<Value>, owned: &Owned<'_>) -> Value {
    let mut config = existing.unwrap_or_else(|| Value::Object(Map::new()));
    let gateway = object_at(&mut config, &["gateway"]);
    gateway.insert("mode".into(), json!("local"));
    gateway.insert("port".into(), json!(owned.port));
    gateway.insert("bind".into(), json!("loopback"));
    let auth = object_at(&mut config, &["gateway", "auth"]);
    auth.insert("mode".into(), json!("token"));
    // A literal token in the file would win over ours; only the reference may be there.
    auth.insert("token".into(), secret_ref(TOKEN_ENV));
    auth.remove("password");
    object_at(&mut config, &["gateway", "controlUi"]).insert("basePath".into(), json!(BASE_PATH));

    let providers_map = object_at(&mut config, &["models", "providers"]);
    // Other providers clawhost configured before must not point at variables it no longer sets.
    for other in providers::PROVIDERS {
        if other.openclaw_id == owned.provider.openclaw_id {
            continue;
        }
        let ours = other.key_env.map(secret_ref);
        let remove = match providers_map.get_mut(other.openclaw_id) {
            Some(Value::Object(entry))
                if ours.is_some() && entry.get("apiKey") == ours.as_ref() =>
            {
                entry.remove("apiKey");
                entry.is_empty() || other.id == "openai-compatible"
            }
            _ => false,
        };
        if remove {
            providers_map.remove(other.openclaw_id);
        }
    }
    let (fragment, primary) =
        providers::config_fragment(owned.provider, owned.model, owned.base_url);
    let entry = object_at(
        &mut config,
        &["models", "providers", owned.provider.openclaw_id],
    );
    if let Value::Object(fields) = fragment {
        for (key, value) in fields {
            entry.insert(key, value);
        }
    }
    object_at(&mut config, &["agents", "defaults", "model"])
        .insert("primary".into(), json!(primary));
    object_at(&mut config, &["logging"])
        .insert("file".into(), json!(owned.log_file.display().to_string()));
    object_at(&mut config, &["update"]).insert("checkOnStart".into(), json!(false));
    config
}

pub fn write(path: &Path, config: &Value) -> Result<(), ConfigFileError> {
    let mut bytes = serde_json::to_vec_pretty(config).unwrap_or_default();
    bytes.push(b'\n');
    crate::fsutil::write_atomic(path, &bytes).map_err(|e| ConfigFileError::Io {
        path: path.display().to_string(),
        reason: e.to_string(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn owned(provider: &'static Provider) -> Owned<'static> {
        Owned {
            port: 18802,
            provider,
            model: "test-model",
            base_url: Some("http://127.0.0.1:9/v1"),
            log_file: PathBuf::from("/data/openclaw/logs/openclaw.log"),
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
        let config = apply(
            existing,
            &owned(providers::find("openai-compatible").expect("p")),
        );
        assert_eq!(config["channels"]["whatsapp"]["dmPolicy"], "allowlist");
        assert_eq!(config["gateway"]["port"], 18802);
        assert_eq!(config["gateway"]["bind"], "loopback");
        assert_eq!(config["gateway"]["auth"]["mode"], "token");
        assert_eq!(config["gateway"]["auth"]["token"]["id"], TOKEN_ENV);
        assert!(config["gateway"]["auth"].get("password").is_none());
        assert_eq!(config["gateway"]["controlUi"]["basePath"], "/openclaw");
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
        let first = apply(
            None,
            &owned(providers::find("openai-compatible").expect("p")),
        );
        let second = apply(
            Some(first),
            &owned(providers::find("anthropic").expect("p")),
        );
        assert!(
            second["models"]["providers"].get("custom").is_none(),
            "{second}"
        );
        assert_eq!(
            second["models"]["providers"]["anthropic"]["apiKey"]["id"],
            "ANTHROPIC_API_KEY"
        );
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
}
