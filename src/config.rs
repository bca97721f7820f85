//! Typed configuration: defaults, then a TOML file, then `CLAWHOST_*` environment variables,
//! then command-line flags. Every value is validated at start, and a bad one is reported
//! with where it came from and what to write instead.
//!
//! Secrets never come from here as plain values: settings that carry one are read from a file
//! named by a `*_FILE` setting.

use crate::web::client_addr::{Network, parse_trusted};
use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// Every setting: its dotted key (TOML path), its default, and what it means.
/// The environment twin of `a.b_c` is `CLAWHOST_A_B_C`.
const SETTINGS: &[(&str, Option<&str>, &str)] = &[
    (
        "listen",
        Some("127.0.0.1:8080"),
        "address and port to listen on",
    ),
    ("public_url", None, "URL the browser uses to reach clawhost"),
    ("data_dir", None, "directory for the database and state"),
    ("runtime_dir", None, "directory for the OpenClaw runtime"),
    (
        "log.level",
        Some("info"),
        "log filter, e.g. info or clawhost=debug",
    ),
    ("log.format", Some("text"), "log format: text or json"),
    (
        "session.idle_timeout",
        Some("7d"),
        "sign out after this long without use",
    ),
    (
        "session.absolute_timeout",
        Some("30d"),
        "sign out this long after sign-in",
    ),
    (
        "claim.code_ttl",
        Some("1h"),
        "how long a claim code stays valid",
    ),
    ("http.body_limit", Some("1MiB"), "largest API request body"),
    (
        "http.request_timeout",
        Some("30s"),
        "longest time to produce a response",
    ),
    (
        "http.header_timeout",
        Some("10s"),
        "longest time to receive request headers",
    ),
    (
        "http.trusted_proxies",
        Some(""),
        "reverse proxies whose X-Forwarded-For names the client (IPs or CIDRs, comma-separated)",
    ),
    (
        "secret_key_file",
        None,
        "file holding the 32-byte key that seals provider keys",
    ),
    (
        "gateway.port",
        Some("18789"),
        "loopback port of the OpenClaw gateway (0: any free port)",
    ),
    (
        "gateway.command",
        None,
        "an existing openclaw executable to use instead of the runtime",
    ),
    (
        "gateway.openclaw_version",
        Some(OPENCLAW_VERSION),
        "OpenClaw version to install",
    ),
    (
        "gateway.ready_timeout",
        Some("120s"),
        "how long the gateway may take to become ready",
    ),
    (
        "gateway.stop_timeout",
        Some("60s"),
        "how long the gateway may take to stop (max 330s)",
    ),
    (
        "gateway.node_heap_mb",
        Some("0"),
        "Node heap limit for the gateway in MiB (0: Node's default)",
    ),
    (
        "proxy.body_limit",
        Some("32MiB"),
        "largest request body sent to the Control UI",
    ),
    (
        "proxy.response_timeout",
        Some("60s"),
        "how long the gateway may take to answer a request",
    ),
    (
        "proxy.ws_max_message",
        Some("25MiB"),
        "largest WebSocket message relayed (OpenClaw's own limit)",
    ),
    (
        "proxy.ws_idle_timeout",
        Some("30m"),
        "close a Control UI socket after this long without traffic",
    ),
    (
        "proxy.ws_per_session",
        Some("16"),
        "open Control UI sockets allowed per session",
    ),
];

/// The OpenClaw release clawhost is built and tested against.
pub const OPENCLAW_VERSION: &str = "2026.9.6";
/// The Node runtime installed for it (OpenClaw 2026.9 needs Node >= 24.16).
pub const NODE_VERSION: &str = "24.21.0";

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Default,
    File(PathBuf),
    Env(String),
    Flag(&'static str),
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Source::Default => write!(f, "the default"),
            Source::File(path) => write!(f, "{}", path.display()),
            Source::Env(name) => write!(f, "the environment variable {name}"),
            Source::Flag(flag) => write!(f, "the flag {flag}"),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("cannot read the config file {path}: {reason}")]
    Read { path: PathBuf, reason: String },
    #[error("the config file {path} is not valid TOML: {reason}")]
    Parse { path: PathBuf, reason: String },
    #[error("unknown setting '{key}' in {origin}; known settings: {known}")]
    Unknown {
        key: String,
        origin: Source,
        known: String,
    },
    #[error("'{key}' (from {origin}) is invalid: {reason}")]
    Invalid {
        key: String,
        origin: Source,
        reason: String,
    },
    #[error(
        "{name} would put a secret in the environment; write it to a file and set {name}_FILE to its path"
    )]
    SecretNotFromFile { name: String },
    #[error("no data directory: set CLAWHOST_DATA_DIR, or HOME or XDG_DATA_HOME")]
    NoDataDir,
}

/// Values given on the command line; they win over everything else.
#[derive(Debug, Default, Clone)]
pub struct Flags {
    pub config: Option<PathBuf>,
    pub listen: Option<String>,
    pub public_url: Option<String>,
    pub data_dir: Option<PathBuf>,
    pub runtime_dir: Option<PathBuf>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    Json,
}

/// The origin browsers use for clawhost, e.g. `https://claw.example.com`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PublicUrl {
    origin: String,
    https: bool,
}

impl PublicUrl {
    /// Parses `scheme://host[:port][/]`; anything else (a path, a query, credentials) is
    /// refused because clawhost must own the whole origin for its cookies and CSP.
    pub fn parse(text: &str) -> Result<Self, String> {
        let lower = text.trim().to_ascii_lowercase();
        let (scheme, rest) = lower
            .split_once("://")
            .ok_or_else(|| format!("'{text}' is not a URL like https://claw.example.com"))?;
        let https = match scheme {
            "https" => true,
            "http" => false,
            _ => return Err(format!("'{text}' must start with https:// or http://")),
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.is_empty() {
            return Err(format!("'{text}' has no host"));
        }
        if authority.contains(['/', '?', '#', '@', ' ']) {
            return Err(format!(
                "'{text}' must be an origin only (scheme, host, port): no path, query or credentials"
            ));
        }
        let default_port = if https { ":443" } else { ":80" };
        let authority = authority.strip_suffix(default_port).unwrap_or(authority);
        Ok(Self {
            origin: format!("{scheme}://{authority}"),
            https,
        })
    }

    pub fn from_listen(addr: SocketAddr) -> Self {
        Self {
            origin: format!("http://{addr}"),
            https: false,
        }
    }

    pub fn origin(&self) -> &str {
        &self.origin
    }

    pub fn is_https(&self) -> bool {
        self.https
    }
}

impl fmt::Display for PublicUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.origin)
    }
}

#[derive(Debug, Clone)]
pub struct Config {
    pub listen: String,
    /// `None` means "derived from the address actually bound".
    pub public_url: Option<PublicUrl>,
    pub data_dir: PathBuf,
    pub runtime_dir: PathBuf,
    pub log_level: String,
    pub log_format: LogFormat,
    pub session_idle: Duration,
    pub session_absolute: Duration,
    pub claim_code_ttl: Duration,
    pub body_limit: usize,
    pub request_timeout: Duration,
    pub header_timeout: Duration,
    /// Peers whose `X-Forwarded-For` is believed; empty: the socket's peer is the client.
    pub trusted_proxies: Vec<Network>,
    pub secret_key_file: PathBuf,
    pub gateway: GatewayConfig,
    pub proxy: ProxyConfig,
}

#[derive(Debug, Clone)]
pub struct ProxyConfig {
    pub body_limit: usize,
    pub response_timeout: Duration,
    pub ws_max_message: usize,
    pub ws_idle_timeout: Duration,
    pub ws_per_session: usize,
}

#[derive(Debug, Clone)]
pub struct GatewayConfig {
    /// 0 means "pick a free port at each start".
    pub port: u16,
    pub command: Option<PathBuf>,
    pub openclaw_version: String,
    pub ready_timeout: Duration,
    pub stop_timeout: Duration,
    pub node_heap_mb: u32,
}

impl Config {
    /// Loads from the process environment and the given flags.
    pub fn load(flags: &Flags) -> Result<Self, ConfigError> {
        let env: HashMap<String, String> = std::env::vars().collect();
        Self::from_sources(flags, &env)
    }

    /// Loads from explicit sources (the environment is passed in, so tests need no globals).
    pub fn from_sources(flags: &Flags, env: &HashMap<String, String>) -> Result<Self, ConfigError> {
        let mut values: BTreeMap<&'static str, (String, Source)> = SETTINGS
            .iter()
            .filter_map(|(key, default, _)| {
                default.map(|d| (*key, (d.to_string(), Source::Default)))
            })
            .collect();

        let config_file = flags
            .config
            .clone()
            .or_else(|| env.get("CLAWHOST_CONFIG").map(PathBuf::from));
        if let Some(path) = &config_file {
            for (key, value) in read_file(path)? {
                values.insert(key, (value, Source::File(path.clone())));
            }
        }

        for (name, value) in env {
            let Some(suffix) = name.strip_prefix("CLAWHOST_") else {
                continue;
            };
            if suffix == "CONFIG" {
                continue;
            }
            let key = env_key(suffix).ok_or_else(|| unknown_env(name))?;
            values.insert(key, (value.clone(), Source::Env(name.clone())));
        }

        let flag_values = [
            ("listen", flags.listen.clone(), "--listen"),
            ("public_url", flags.public_url.clone(), "--public-url"),
            (
                "data_dir",
                flags.data_dir.as_ref().map(|p| p.display().to_string()),
                "--data-dir",
            ),
            (
                "runtime_dir",
                flags.runtime_dir.as_ref().map(|p| p.display().to_string()),
                "--runtime-dir",
            ),
        ];
        for (key, value, flag) in flag_values {
            if let Some(value) = value {
                values.insert(key, (value, Source::Flag(flag)));
            }
        }

        let settings = Settings { values };
        let listen = settings.parse("listen", |text| {
            text.parse::<SocketAddr>()
                .map(|_| text.to_string())
                .map_err(|_| format!("'{text}' is not an address like 127.0.0.1:8080"))
        })?;
        let public_url = settings.parse_optional("public_url", PublicUrl::parse)?;
        let data_dir = match settings.parse_optional("data_dir", parse_dir)? {
            Some(dir) => dir,
            None => default_data_dir(env).ok_or(ConfigError::NoDataDir)?,
        };
        let runtime_dir = settings
            .parse_optional("runtime_dir", parse_dir)?
            .unwrap_or_else(|| data_dir.join("runtime"));
        let secret_key_file = settings
            .parse_optional("secret_key_file", parse_dir)?
            .unwrap_or_else(|| data_dir.join("secret.key"));
        let log_format = settings.parse("log.format", |text| match text {
            "text" => Ok(LogFormat::Text),
            "json" => Ok(LogFormat::Json),
            other => Err(format!("'{other}' is not text or json")),
        })?;
        let bounded = |min: Duration, max: Duration| {
            move |text: &str| {
                let value = parse_duration(text)?;
                if value < min || value > max {
                    return Err(format!(
                        "'{text}' must be between {} and {}",
                        format_duration(min),
                        format_duration(max)
                    ));
                }
                Ok(value)
            }
        };
        let second = Duration::from_secs(1);
        let minute = Duration::from_secs(60);
        let day = Duration::from_secs(86_400);
        let config = Config {
            listen,
            public_url,
            data_dir,
            runtime_dir,
            log_level: settings.parse("log.level", |text| Ok(text.to_string()))?,
            log_format,
            session_idle: settings.parse("session.idle_timeout", bounded(second, 365 * day))?,
            session_absolute: settings
                .parse("session.absolute_timeout", bounded(second, 365 * day))?,
            claim_code_ttl: settings.parse("claim.code_ttl", bounded(minute, 7 * day))?,
            body_limit: settings.parse("http.body_limit", |text| {
                let bytes = parse_size(text)?;
                if !(1024..=256 * 1024 * 1024).contains(&bytes) {
                    return Err(format!("'{text}' must be between 1KiB and 256MiB"));
                }
                Ok(bytes)
            })?,
            request_timeout: settings.parse(
                "http.request_timeout",
                bounded(Duration::from_secs(1), 10 * minute),
            )?,
            header_timeout: settings.parse(
                "http.header_timeout",
                bounded(Duration::from_secs(1), 10 * minute),
            )?,
            trusted_proxies: settings.parse("http.trusted_proxies", parse_trusted)?,
            secret_key_file,
            proxy: ProxyConfig {
                body_limit: settings.parse("proxy.body_limit", |text| {
                    let bytes = parse_size(text)?;
                    if !(1024..=1024 * 1024 * 1024).contains(&bytes) {
                        return Err(format!("'{text}' must be between 1KiB and 1024MiB"));
                    }
                    Ok(bytes)
                })?,
                response_timeout: settings.parse(
                    "proxy.response_timeout",
                    bounded(Duration::from_secs(1), 30 * minute),
                )?,
                ws_max_message: settings.parse("proxy.ws_max_message", |text| {
                    let bytes = parse_size(text)?;
                    if !(64 * 1024..=256 * 1024 * 1024).contains(&bytes) {
                        return Err(format!("'{text}' must be between 64KiB and 256MiB"));
                    }
                    Ok(bytes)
                })?,
                ws_idle_timeout: settings.parse(
                    "proxy.ws_idle_timeout",
                    bounded(Duration::from_secs(1), day),
                )?,
                ws_per_session: settings.parse("proxy.ws_per_session", |text| {
                    match text.parse::<usize>() {
                        Ok(n) if (1..=1024).contains(&n) => Ok(n),
                        _ => Err(format!("'{text}' must be a number from 1 to 1024")),
                    }
                })?,
            },
            gateway: GatewayConfig {
                port: settings.parse("gateway.port", |text| {
                    text.parse::<u16>()
                        .map_err(|_| format!("'{text}' is not a port number (0 to 65535)"))
                })?,
                command: settings.parse_optional("gateway.command", parse_dir)?,
                openclaw_version: settings.parse("gateway.openclaw_version", parse_version)?,
                ready_timeout: settings.parse(
                    "gateway.ready_timeout",
                    bounded(Duration::from_secs(5), 30 * minute),
                )?,
                stop_timeout: settings.parse(
                    "gateway.stop_timeout",
                    bounded(Duration::from_secs(1), Duration::from_secs(330)),
                )?,
                node_heap_mb: settings.parse("gateway.node_heap_mb", |text| {
                    match text.parse::<u32>() {
                        Ok(0) => Ok(0),
                        Ok(mb) if (256..=65_536).contains(&mb) => Ok(mb),
                        _ => Err(format!(
                            "'{text}' must be 0 or a number of MiB from 256 to 65536"
                        )),
                    }
                })?,
            },
        };
        if config.session_idle > config.session_absolute {
            let (_, source) = &settings.values["session.idle_timeout"];
            return Err(ConfigError::Invalid {
                key: "session.idle_timeout".into(),
                origin: source.clone(),
                reason: "must not be longer than session.absolute_timeout".into(),
            });
        }
        Ok(config)
    }

    pub fn database_path(&self) -> PathBuf {
        self.data_dir.join("clawhost.db")
    }
}

struct Settings {
    values: BTreeMap<&'static str, (String, Source)>,
}

impl Settings {
    fn parse<T>(
        &self,
        key: &'static str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<T, ConfigError> {
        let (text, source) = &self.values[key];
        parse(text).map_err(|reason| ConfigError::Invalid {
            key: key.into(),
            origin: source.clone(),
            reason,
        })
    }

    fn parse_optional<T>(
        &self,
        key: &'static str,
        parse: impl FnOnce(&str) -> Result<T, String>,
    ) -> Result<Option<T>, ConfigError> {
        match self.values.get(key) {
            Some(_) => self.parse(key, parse).map(Some),
            None => Ok(None),
        }
    }
}

fn known_keys() -> String {
    SETTINGS
        .iter()
        .map(|(key, _, _)| *key)
        .collect::<Vec<_>>()
        .join(", ")
}

fn env_key(suffix: &str) -> Option<&'static str> {
    SETTINGS
        .iter()
        .map(|(key, _, _)| *key)
        .find(|key| key.replace('.', "_").eq_ignore_ascii_case(suffix))
}

fn unknown_env(name: &str) -> ConfigError {
    let secret_words = ["KEY", "TOKEN", "PASSWORD", "SECRET"];
    if secret_words.iter().any(|word| name.ends_with(word)) {
        return ConfigError::SecretNotFromFile { name: name.into() };
    }
    ConfigError::Unknown {
        key: name.into(),
        origin: Source::Env(name.into()),
        known: SETTINGS
            .iter()
            .map(|(key, _, _)| format!("CLAWHOST_{}", key.replace('.', "_").to_uppercase()))
            .collect::<Vec<_>>()
            .join(", "),
    }
}

fn read_file(path: &Path) -> Result<Vec<(&'static str, String)>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|e| ConfigError::Read {
        path: path.into(),
        reason: e.to_string(),
    })?;
    let table: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| ConfigError::Parse {
            path: path.into(),
            reason: e.to_string(),
        })?;
    let mut out = Vec::new();
    flatten(path, "", &table, &mut out)?;
    Ok(out)
}

fn flatten(
    path: &Path,
    prefix: &str,
    table: &toml::Table,
    out: &mut Vec<(&'static str, String)>,
) -> Result<(), ConfigError> {
    for (name, value) in table {
        let dotted = if prefix.is_empty() {
            name.clone()
        } else {
            format!("{prefix}.{name}")
        };
        let text = match value {
            toml::Value::Table(inner) => {
                flatten(path, &dotted, inner, out)?;
                continue;
            }
            toml::Value::String(s) => s.clone(),
            toml::Value::Integer(i) => i.to_string(),
            toml::Value::Boolean(b) => b.to_string(),
            _ => {
                return Err(ConfigError::Invalid {
                    key: dotted,
                    origin: Source::File(path.into()),
                    reason: "must be a string or a number".into(),
                });
            }
        };
        let key = SETTINGS
            .iter()
            .map(|(key, _, _)| *key)
            .find(|key| *key == dotted)
            .ok_or_else(|| ConfigError::Unknown {
                key: dotted.clone(),
                origin: Source::File(path.into()),
                known: known_keys(),
            })?;
        out.push((key, text));
    }
    Ok(())
}

/// An npm version such as `2026.9.6` (digits, dots, letters and dashes only, so it can never
/// be read as an npm option or a path).
fn parse_version(text: &str) -> Result<String, String> {
    let ok = !text.is_empty()
        && text.len() <= 64
        && text.starts_with(|c: char| c.is_ascii_digit())
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-');
    if ok {
        Ok(text.to_string())
    } else {
        Err(format!(
            "'{text}' is not a version like {}",
            OPENCLAW_VERSION
        ))
    }
}

pub fn validate_version(text: &str) -> Result<String, String> {
    parse_version(text)
}

fn parse_dir(text: &str) -> Result<PathBuf, String> {
    let path = PathBuf::from(text);
    if text.is_empty() || !path.is_absolute() {
        return Err(format!("'{text}' must be an absolute path"));
    }
    Ok(path)
}

fn default_data_dir(env: &HashMap<String, String>) -> Option<PathBuf> {
    let non_empty = |name: &str| {
        env.get(name)
            .filter(|v| v.starts_with('/'))
            .map(PathBuf::from)
    };
    non_empty("XDG_DATA_HOME")
        .or_else(|| non_empty("HOME").map(|home| home.join(".local/share")))
        .map(|base| base.join("clawhost"))
}

/// Parses `90s`, `15m`, `12h`, `7d` (or a bare number of seconds).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number
        .parse()
        .map_err(|_| format!("'{text}' is not a duration like 30s, 15m, 12h or 7d"))?;
    let seconds = match unit.trim() {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => {
            return Err(format!(
                "'{text}' is not a duration like 30s, 15m, 12h or 7d"
            ));
        }
    };
    number
        .checked_mul(seconds)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("'{text}' is too long"))
}

pub fn format_duration(duration: Duration) -> String {
    let secs = duration.as_secs();
    for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60)] {
        if secs >= size && secs.is_multiple_of(size) {
            return format!("{}{unit}", secs / size);
        }
    }
    format!("{secs}s")
}

/// Parses `1048576`, `512KiB`, `1MiB`.
pub fn parse_size(text: &str) -> Result<usize, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: usize = number
        .parse()
        .map_err(|_| format!("'{text}' is not a size like 1048576, 512KiB or 1MiB"))?;
    let factor = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1024,
        "MiB" => 1024 * 1024,
        _ => {
            return Err(format!(
                "'{text}' is not a size like 1048576, 512KiB or 1MiB"
            ));
        }
    };
    number
        .checked_mul(factor)
        .ok_or_else(|| format!("'{text}' is too large"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn home() -> HashMap<String, String> {
        env(&[("HOME", "/home/owner")])
    }

    #[test]
    fn defaults_are_usable() {
        let config = Config::from_sources(&Flags::default(), &home()).expect("config");
        assert_eq!(config.listen, "127.0.0.1:8080");
        assert_eq!(
            config.data_dir,
            PathBuf::from("/home/owner/.local/share/clawhost")
        );
        assert_eq!(config.runtime_dir, config.data_dir.join("runtime"));
        assert_eq!(config.session_idle, Duration::from_secs(7 * 86_400));
        assert_eq!(config.body_limit, 1024 * 1024);
        assert!(config.public_url.is_none());
    }

    #[test]
    fn layers_apply_in_order() {
        let dir = tempfile::tempdir().expect("dir");
        let file = dir.path().join("clawhost.toml");
        std::fs::write(
            &file,
            "listen = \"127.0.0.1:9000\"\n[session]\nidle_timeout = \"1d\"\nabsolute_timeout = \"2d\"\n",
        )
        .expect("write");
        let flags = Flags {
            config: Some(file),
            public_url: Some("https://Claw.Example.com:443/".into()),
            ..Flags::default()
        };
        let mut vars = home();
        vars.insert("CLAWHOST_SESSION_IDLE_TIMEOUT".into(), "12h".into());
        let config = Config::from_sources(&flags, &vars).expect("config");
        assert_eq!(config.listen, "127.0.0.1:9000");
        assert_eq!(config.session_idle, Duration::from_secs(12 * 3600));
        assert_eq!(config.session_absolute, Duration::from_secs(2 * 86_400));
        let public = config.public_url.expect("public url");
        assert_eq!(public.origin(), "https://claw.example.com");
        assert!(public.is_https());
    }

    #[test]
    fn errors_say_where_the_value_came_from() {
        let mut vars = home();
        vars.insert("CLAWHOST_LISTEN".into(), "nowhere".into());
        let error = Config::from_sources(&Flags::default(), &vars)
            .expect_err("bad listen")
            .to_string();
        assert!(error.contains("CLAWHOST_LISTEN"), "{error}");
        assert!(error.contains("127.0.0.1:8080"), "{error}");
    }

    #[test]
    fn unknown_and_secret_settings_are_refused() {
        let mut vars = home();
        vars.insert("CLAWHOST_LISTN".into(), "x".into());
        let error = Config::from_sources(&Flags::default(), &vars).expect_err("unknown");
        assert!(error.to_string().contains("CLAWHOST_LISTEN"), "{error}");

        let mut vars = home();
        vars.insert("CLAWHOST_SECRET_KEY".into(), "x".into());
        let error = Config::from_sources(&Flags::default(), &vars).expect_err("secret");
        assert!(
            error.to_string().contains("CLAWHOST_SECRET_KEY_FILE"),
            "{error}"
        );
    }

    #[test]
    fn public_url_must_be_an_origin() {
        assert!(PublicUrl::parse("https://x.example/app").is_err());
        assert!(PublicUrl::parse("ftp://x.example").is_err());
        assert!(PublicUrl::parse("https://user@x.example").is_err());
        assert_eq!(
            PublicUrl::parse("http://localhost:80")
                .expect("ok")
                .origin(),
            "http://localhost"
        );
        assert_eq!(
            PublicUrl::parse("http://[::1]:8080").expect("ok").origin(),
            "http://[::1]:8080"
        );
    }

    #[test]
    fn durations_and_sizes_parse() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert!(parse_duration("7 weeks").is_err());
        assert_eq!(parse_size("1MiB"), Ok(1 << 20));
        assert_eq!(parse_size("2048"), Ok(2048));
        assert!(parse_size("1GB").is_err());
    }

    #[test]
    fn idle_longer_than_absolute_is_refused() {
        let mut vars = home();
        vars.insert("CLAWHOST_SESSION_IDLE_TIMEOUT".into(), "40d".into());
        assert!(Config::from_sources(&Flags::default(), &vars).is_err());
    }
}
