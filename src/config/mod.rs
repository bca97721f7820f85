//! Typed configuration: defaults, then a TOML file, then `CLAWHOST_*` environment variables,
//! then command-line flags. Every value is validated at start, and a bad one is reported
//! with where it came from and what to write instead. [`settings`] declares each setting
//! once; this module reads them into the typed [`Config`] the rest of clawhost uses.
//!
//! Secrets never come from here as plain values: settings that carry one are read from a file
//! named by a `*_FILE` setting.

mod kinds;
mod load;
mod oidc;
mod settings;
mod values;

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

pub(crate) use load::ConfigError;
use load::{Layers, Values};
pub(crate) use oidc::OidcConfig;
use oidc::oidc_config;
pub(crate) use settings::help;
pub use values::OPENCLAW_VERSION;
pub(crate) use values::{
    AcmeChallenge, AcmeName, LogFormat, NODE_VERSION, Network, PublicUrl, Schedule, TlsMode,
    format_duration, is_loopback_host, parse_version,
};

/// Values given on the command line; they win over everything else.
#[derive(Debug, Default, Clone)]
pub(crate) struct Flags {
    pub(crate) config: Option<PathBuf>,
    pub(crate) listen: Option<String>,
    pub(crate) public_url: Option<String>,
    pub(crate) data_dir: Option<PathBuf>,
    pub(crate) runtime_dir: Option<PathBuf>,
}

/// Where clawhost's https comes from, if from itself.
#[derive(Debug, Clone)]
pub(crate) struct TlsConfig {
    pub(crate) mode: TlsMode,
    pub(crate) cert_file: Option<PathBuf>,
    pub(crate) key_file: Option<PathBuf>,
    pub(crate) allow_plain_http: bool,
    pub(crate) acme: AcmeConfig,
}

/// Where certificates come from under `tls.mode = "acme"`.
#[derive(Debug, Clone)]
pub(crate) struct AcmeConfig {
    /// Never empty under `tls.mode = "acme"`: given, or the host of the public URL.
    pub(crate) names: Vec<AcmeName>,
    pub(crate) directory: String,
    pub(crate) email: Option<String>,
    pub(crate) ca_file: Option<PathBuf>,
    pub(crate) challenge: AcmeChallenge,
}

#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) listen: String,
    /// `None` means "derived from the address actually bound".
    pub(crate) public_url: Option<PublicUrl>,
    pub(crate) data_dir: PathBuf,
    pub(crate) runtime_dir: PathBuf,
    pub(crate) log_level: String,
    pub(crate) log_format: LogFormat,
    pub(crate) session_idle: Duration,
    pub(crate) session_absolute: Duration,
    /// How long a password given in a session opens the sensitive actions to it.
    pub(crate) reauth_window: Duration,
    pub(crate) claim_code_ttl: Duration,
    pub(crate) body_limit: usize,
    pub(crate) request_timeout: Duration,
    pub(crate) header_timeout: Duration,
    /// Peers whose `X-Forwarded-For` is believed; empty: the socket's peer is the client.
    pub(crate) trusted_proxies: Vec<Network>,
    /// `Host` names answered besides the public URL's.
    pub(crate) allowed_hosts: Vec<String>,
    pub(crate) tls: TlsConfig,
    /// Where plain http is answered with a redirect to the https public URL.
    pub(crate) redirect_listen: Option<String>,
    /// IPv6 clients are grouped by networks of this many bits for the abuse limits.
    pub(crate) ipv6_prefix: u8,
    pub(crate) secret_key_file: PathBuf,
    pub(crate) gateway: GatewayConfig,
    pub(crate) proxy: ProxyConfig,
    /// Signing in with an OpenID Connect issuer, when one is set.
    pub(crate) oidc: Option<OidcConfig>,
    /// After the password, a passkey too (when the owner has one).
    pub(crate) require_second_factor: bool,
    /// The replaced wrapper's sign-in broker, when set.
    pub(crate) session_exchange_url: Option<String>,
    /// The settings file loaded, if any (a backup keeps a copy).
    pub(crate) settings_file: Option<PathBuf>,
    pub(crate) backup: BackupConfig,
    pub(crate) usage: UsageLimits,
    /// OpenClaw's apps and CLI elsewhere may connect through clawhost (`/remote`).
    pub(crate) remote_devices: bool,
    pub(crate) metrics: MetricsConfig,
}

/// Prometheus metrics, when enabled.
#[derive(Debug, Clone, Default)]
pub(crate) struct MetricsConfig {
    pub(crate) enabled: bool,
    /// An address of its own, answered without a token.
    pub(crate) listen: Option<String>,
    /// The bearer token's file, for `/metrics` on the main listener.
    pub(crate) token_file: Option<PathBuf>,
}

#[derive(Debug, Clone)]
pub(crate) struct BackupConfig {
    pub(crate) schedule: Schedule,
    pub(crate) keep: usize,
    pub(crate) passphrase_file: Option<PathBuf>,
}

/// Tokens the assistant may use through the egress proxy.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct UsageLimits {
    pub(crate) daily: Option<usize>,
    pub(crate) monthly: Option<usize>,
}

#[derive(Debug, Clone)]
pub(crate) struct ProxyConfig {
    pub(crate) body_limit: usize,
    pub(crate) response_timeout: Duration,
    pub(crate) ws_max_message: usize,
    pub(crate) ws_idle_timeout: Duration,
    pub(crate) ws_per_session: usize,
    pub(crate) asset_cache: usize,
}

#[derive(Debug, Clone)]
pub(crate) struct GatewayConfig {
    /// 0 means "pick a free port at each start".
    pub(crate) port: u16,
    pub(crate) command: Option<PathBuf>,
    pub(crate) openclaw_version: String,
    pub(crate) ready_timeout: Duration,
    pub(crate) stop_timeout: Duration,
    pub(crate) node_heap_mb: u32,
    /// Discord's REST API (versioned) and Slack's Web API, for clawhost's checks of their
    /// tokens and the gateway's channels alike.
    pub(crate) discord_api: String,
    pub(crate) slack_api: String,
}

impl Config {
    /// Loads from the process environment and the given flags.
    pub(crate) fn load(flags: &Flags) -> Result<Self, ConfigError> {
        let env: HashMap<String, String> = std::env::vars().collect();
        Self::from_sources(flags, &env)
    }

    /// Loads from explicit sources (the environment is passed in, so tests need no globals).
    pub(crate) fn from_sources(
        flags: &Flags,
        env: &HashMap<String, String>,
    ) -> Result<Self, ConfigError> {
        let mut layers = Layers::new();
        let config_file = flags
            .config
            .clone()
            .or_else(|| env.get("CLAWHOST_CONFIG").map(PathBuf::from));
        if let Some(path) = &config_file {
            layers.file(path)?;
        }
        layers.env(env)?;
        let shown = |path: &Option<PathBuf>| path.as_ref().map(|p| p.display().to_string());
        layers.flag("listen", flags.listen.clone(), "--listen");
        layers.flag("public_url", flags.public_url.clone(), "--public-url");
        layers.flag("data_dir", shown(&flags.data_dir), "--data-dir");
        layers.flag("runtime_dir", shown(&flags.runtime_dir), "--runtime-dir");

        let values = Values::check(layers)?;
        let data_dir = match values.optional("data_dir")? {
            Some(dir) => dir,
            None => default_data_dir(env).ok_or(ConfigError::NoDataDir)?,
        };
        let mode: TlsMode = values.get("tls.mode")?;
        let config = Config {
            listen: values.get("listen")?,
            public_url: values.optional("public_url")?,
            runtime_dir: values
                .optional("runtime_dir")?
                .unwrap_or_else(|| data_dir.join("runtime")),
            secret_key_file: values
                .optional("secret_key_file")?
                .unwrap_or_else(|| data_dir.join("secret.key")),
            data_dir,
            log_level: values.get("log.level")?,
            log_format: values.get("log.format")?,
            session_idle: values.get("session.idle_timeout")?,
            session_absolute: values.get("session.absolute_timeout")?,
            reauth_window: values.get("session.reauth_window")?,
            claim_code_ttl: values.get("claim.code_ttl")?,
            body_limit: values.get("http.body_limit")?,
            request_timeout: values.get("http.request_timeout")?,
            header_timeout: values.get("http.header_timeout")?,
            trusted_proxies: values.optional("http.trusted_proxies")?.unwrap_or_default(),
            allowed_hosts: values.optional("http.allowed_hosts")?.unwrap_or_default(),
            redirect_listen: values
                .optional("http.redirect_listen")?
                .or_else(|| (mode == TlsMode::Acme).then(|| DEFAULT_REDIRECT_LISTEN.to_string())),
            tls: TlsConfig {
                mode,
                cert_file: values.optional("tls.cert_file")?,
                key_file: values.optional("tls.key_file")?,
                allow_plain_http: values.get("tls.allow_plain_http")?,
                acme: acme_config(&values, mode)?,
            },
            ipv6_prefix: values.get("http.ipv6_prefix")?,
            proxy: proxy_config(&values)?,
            gateway: GatewayConfig {
                port: values.get("gateway.port")?,
                command: values.optional("gateway.command")?,
                openclaw_version: values.get("gateway.openclaw_version")?,
                ready_timeout: values.get("gateway.ready_timeout")?,
                stop_timeout: values.get("gateway.stop_timeout")?,
                node_heap_mb: values.get("gateway.node_heap_mb")?,
                discord_api: values.get("channels.discord_api_url")?,
                slack_api: values.get("channels.slack_api_url")?,
            },
            oidc: oidc_config(&values)?,
            require_second_factor: values.get("auth.require_second_factor")?,
            remote_devices: values.get("devices.remote")?,
            metrics: metrics_config(&values)?,
            session_exchange_url: values.optional("auth.session_exchange.url")?,
            backup: backup_config(&values)?,
            usage: UsageLimits {
                daily: values.optional("usage.daily_token_limit")?,
                monthly: values.optional("usage.monthly_token_limit")?,
            },
            settings_file: config_file,
        };
        if config.tls.mode == TlsMode::Files {
            for (key, file) in [
                ("tls.cert_file", &config.tls.cert_file),
                ("tls.key_file", &config.tls.key_file),
            ] {
                if file.is_none() {
                    return Err(ConfigError::Invalid {
                        key: key.into(),
                        origin: values.source("tls.mode"),
                        reason: "tls.mode = \"files\" needs tls.cert_file and tls.key_file".into(),
                    });
                }
            }
        }
        if config.session_idle > config.session_absolute {
            return Err(ConfigError::Invalid {
                key: "session.idle_timeout".into(),
                origin: values.source("session.idle_timeout"),
                reason: "must not be longer than session.absolute_timeout".into(),
            });
        }
        Ok(config)
    }

    pub(crate) fn database_path(&self) -> PathBuf {
        self.data_dir.join("clawhost.db")
    }

    /// What the settings come to, in a line (`serve --check-config`).
    pub(crate) fn summary(&self) -> String {
        let mode = match self.tls.mode {
            TlsMode::Off => "off".to_string(),
            TlsMode::Files => "files".to_string(),
            TlsMode::Acme => format!(
                "acme for {} from {}",
                self.tls
                    .acme
                    .names
                    .iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(", "),
                self.tls.acme.directory
            ),
        };
        let public_url = self.public_url.as_ref().map_or(
            "derived from the listen address or the first name",
            PublicUrl::origin,
        );
        format!(
            "the settings are valid: listen {}, public URL {public_url}, tls {mode}, data in {}",
            self.listen,
            self.data_dir.display()
        )
    }
}

/// Where plain http is answered under `tls.mode = "acme"` when nothing else is said: port 80,
/// where HTTP-01 challenges and people typing the bare name arrive.
pub(crate) const DEFAULT_REDIRECT_LISTEN: &str = "[::]:80";

fn proxy_config(values: &Values) -> Result<ProxyConfig, ConfigError> {
    Ok(ProxyConfig {
        body_limit: values.get("proxy.body_limit")?,
        response_timeout: values.get("proxy.response_timeout")?,
        ws_max_message: values.get("proxy.ws_max_message")?,
        ws_idle_timeout: values.get("proxy.ws_idle_timeout")?,
        ws_per_session: values.get("proxy.ws_per_session")?,
        asset_cache: values.get("proxy.asset_cache")?,
    })
}

/// The metrics' settings; on the main listener they need a token.
fn metrics_config(values: &Values) -> Result<MetricsConfig, ConfigError> {
    let metrics = MetricsConfig {
        enabled: values.get("metrics.enabled")?,
        listen: values.optional("metrics.listen")?,
        token_file: values.optional("metrics.token_file")?,
    };
    if metrics.enabled && metrics.listen.is_none() && metrics.token_file.is_none() {
        return Err(ConfigError::Invalid {
            key: "metrics.token_file".into(),
            origin: values.source("metrics.enabled"),
            reason: "metrics.enabled serves /metrics on the main listener, where it needs a bearer token: set metrics.token_file, or give the metrics an address of their own with metrics.listen".into(),
        });
    }
    Ok(metrics)
}

fn backup_config(values: &Values) -> Result<BackupConfig, ConfigError> {
    Ok(BackupConfig {
        schedule: values.get("backup.schedule")?,
        keep: values.get("backup.keep")?,
        passphrase_file: values.optional("backup.passphrase_file")?,
    })
}

fn acme_config(values: &Values, mode: TlsMode) -> Result<AcmeConfig, ConfigError> {
    let public_url: Option<PublicUrl> = values.optional("public_url")?;
    let names = match values.optional("tls.acme.names")? {
        Some(names) => names,
        None if mode != TlsMode::Acme => Vec::new(),
        None => {
            let host = public_url.as_ref().map(|url| url.host().to_string());
            match host.as_deref().map(values::parse_acme_names) {
                Some(Ok(names)) => names,
                _ => {
                    return Err(ConfigError::Invalid {
                        key: "tls.acme.names".into(),
                        origin: values.source("tls.mode"),
                        reason: "tls.mode = \"acme\" needs the names to get a certificate for: set tls.acme.names (e.g. \"claw.example.com\" or \"203.0.113.5\") or a public_url".into(),
                    });
                }
            }
        }
    };
    if mode == TlsMode::Acme && public_url.as_ref().is_some_and(|url| !url.is_https()) {
        return Err(ConfigError::Invalid {
            key: "public_url".into(),
            origin: values.source("public_url"),
            reason: "clawhost serves https under tls.mode = \"acme\": the public URL must start with https://".into(),
        });
    }
    Ok(AcmeConfig {
        names,
        directory: values.get("tls.acme.directory")?,
        email: values.optional("tls.acme.email")?,
        ca_file: values.optional("tls.acme.ca_file")?,
        challenge: values.get("tls.acme.challenge")?,
    })
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

#[cfg(test)]
mod tests;
