//! Everything a start needs, read fresh at each start: the runtime, the owner's settings
//! and opened key, a free port, `openclaw.json` with clawhost's keys merged in, a new
//! credential, the child's whole environment (nothing inherited but the host's network
//! settings), and `openclaw config validate` passing on the result.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::Duration;

use tokio::process::Command;
use zeroize::Zeroizing;

use super::logs::GatewayLogs;
use super::openclaw_config::{self, TOKEN_ENV};
use super::paths::Paths;
use super::provider_key;
use super::providers::{EGRESS_KEY_ENV, ProviderKind};
use super::runtime::{self, Launcher};
use super::token_channels::Given;
use crate::channels::telegram;
use crate::clock::now_ms;
use crate::config::GatewayConfig;
use crate::config::OPENCLAW_VERSION;
use crate::crypto::{hex, random_bytes, sha256};
use crate::egress::telegram::TelegramRoute;
use crate::egress::{Egress, Route};
use crate::secrets::SecretBox;
use crate::store::{self, ChannelStore, ChannelToken, EventKind, NewEvent, SharedStore, Store};

const VALIDATE_TIMEOUT: Duration = Duration::from_secs(90);

/// How this host reaches the internet: its proxy and its extra CA certificates. The gateway
/// needs them for LLM providers and for npm when it installs a plugin; nothing else of
/// clawhost's environment is passed on.
pub const NETWORK_ENV: &[&str] = &[
    "HTTPS_PROXY",
    "https_proxy",
    "HTTP_PROXY",
    "http_proxy",
    "NO_PROXY",
    "no_proxy",
    "NODE_EXTRA_CA_CERTS",
    "SSL_CERT_FILE",
    "SSL_CERT_DIR",
];

type Env = Vec<(String, Zeroizing<String>)>;

/// What a start is made from.
pub(crate) struct Launch {
    pub(crate) paths: Paths,
    pub(crate) config: GatewayConfig,
    /// The gateway's HOME (clawhost's own, or the data directory).
    pub(crate) home: PathBuf,
    pub(crate) store: SharedStore,
    pub(crate) sealer: Arc<SecretBox>,
    pub(crate) logs: GatewayLogs,
    pub(crate) egress: Arc<Egress>,
}

/// Everything the gateway process needs to start.
pub(crate) struct Prepared {
    launcher: Launcher,
    env: Env,
    pub(crate) port: u16,
    pub(crate) token: Arc<Zeroizing<String>>,
    pub(crate) installed_version: Option<String>,
}

impl Launch {
    /// What must be in place before a start is even attempted, with what to do about it.
    pub(crate) fn preflight(&self) -> Result<(), String> {
        runtime::locate(&self.paths.runtime_dir, self.config.command.as_deref())
            .map_err(|e| e.to_string())?;
        Ok(())
    }

    /// Prepares a start, reporting each step done to `progress` (phase, detail).
    pub(crate) async fn prepare(
        &self,
        progress: &(dyn Fn(&'static str, String) + Send + Sync),
    ) -> Result<Prepared, String> {
        let (launcher, manifest) =
            runtime::locate(&self.paths.runtime_dir, self.config.command.as_deref())
                .map_err(|e| e.to_string())?;
        let settings = store::run(&self.store, Store::gateway_settings)
            .await
            .map_err(|e| e.to_string())?
            .ok_or("Choose an LLM provider in the setup first.")?;
        let provider = ProviderKind::from_id(&settings.provider).ok_or_else(|| {
            format!(
                "Unknown provider '{}'; choose one again in the setup.",
                settings.provider
            )
        })?;
        let key = match (
            provider_key::open(&self.sealer, &settings)?,
            provider.needs_key(),
        ) {
            (Some(key), true) => Some(key),
            (None, true) => {
                return Err(format!(
                    "Enter the {} API key in the setup first.",
                    provider.name()
                ));
            }
            _ => None,
        };

        let port = pick_port(self.config.port)?;
        crate::fsutil::ensure_private_dir(&self.paths.state_dir()).map_err(|e| e.to_string())?;
        let config_file = self.paths.config_file();
        let (tokens, channels) = self
            .channels(&launcher, manifest.as_ref(), progress)
            .await?;
        let channel_change = self.egress.channel_change().await;
        let telegram = self.telegram(&tokens);
        let existing = openclaw_config::read(&config_file).map_err(|e| e.to_string())?;
        let before = existing.clone();
        let config = openclaw_config::apply(
            existing,
            &openclaw_config::Owned {
                port,
                provider,
                model: &settings.model,
                egress: &self.egress.base_url(),
                log_file: self.paths.log_file(),
                telegram: telegram.as_ref().map(|(r, t)| (r.as_str(), t.as_str())),
                token_channels: channels.sections,
            },
        );
        self.write_config(&config_file, before.as_ref(), &config)?;
        drop(channel_change);
        progress("config_written", config_file.display().to_string());

        let token = Arc::new(Zeroizing::new(hex(&random_bytes::<32>())));
        let mut env = self.base_env(&launcher, &token);
        // The gateway gets the egress proxy's virtual key; the real one stays here.
        let route = Route::new(
            &provider.upstream(settings.base_url.as_deref()),
            provider.auth(),
            key,
        );
        let mut secrets = vec![token.as_str(), route.virtual_key.as_str()];
        secrets.extend(route.key.as_deref().map(String::as_str));
        secrets.extend(channels.secrets());
        self.logs.set_secrets(&secrets);
        env.push((
            EGRESS_KEY_ENV.to_string(),
            Zeroizing::new(route.virtual_key.to_string()),
        ));
        self.egress.set_route(Some(route));
        env.extend(channels.env);

        self.validate(&launcher, &env).await?;
        progress("validated", "OpenClaw accepted the configuration".into());

        let fingerprint = sha256(token.as_bytes());
        let event = NewEvent {
            at: now_ms(),
            kind: EventKind::GatewayCredentialIssued,
            ip: None,
            user_agent: None,
            detail: Some(format!("sha256:{}", &hex(&fingerprint)[..16])),
        };
        store::run(&self.store, move |s| {
            s.record_gateway_credential(fingerprint, &event)
        })
        .await
        .map_err(|e| e.to_string())?;
        Ok(Prepared {
            launcher,
            env,
            port,
            token,
            installed_version: manifest.map(|m| m.openclaw_version),
        })
    }

    /// The channels' stored tokens, and what the gateway is given of Discord and Slack (their
    /// plugins installed first when missing).
    async fn channels(
        &self,
        launcher: &Launcher,
        manifest: Option<&runtime::Manifest>,
        progress: &(dyn Fn(&'static str, String) + Send + Sync),
    ) -> Result<(Vec<ChannelToken>, Given), String> {
        let tokens = store::run(&self.store, ChannelStore::channel_tokens)
            .await
            .map_err(|e| e.to_string())?;
        let channels = Given::open(&self.sealer, &self.config, &self.logs, &tokens);
        let version = manifest.map_or(OPENCLAW_VERSION, |m| m.openclaw_version.as_str());
        let plain = plain_env(launcher, &self.home, &self.paths);
        channels
            .install_plugins(
                || self.command(launcher, &plain),
                &self.logs,
                version,
                progress,
            )
            .await;
        Ok((tokens, channels))
    }

    /// Telegram's route through the egress proxy, when the owner set Telegram up here: the
    /// `apiRoot` and the virtual token the gateway is given.
    fn telegram(&self, tokens: &[ChannelToken]) -> Option<(String, Zeroizing<String>)> {
        // A token that no longer opens costs the channel, never the assistant.
        let route = tokens
            .iter()
            .find(|t| t.channel == telegram::CHANNEL)
            .and_then(|stored| match telegram::open(&self.sealer, stored) {
                Ok(token) => {
                    let root = stored.api_root.as_deref().unwrap_or(telegram::PUBLIC_API);
                    Some(TelegramRoute::new(root, token))
                }
                Err(error) => {
                    tracing::warn!(%error, "Telegram's token cannot be opened: set it again; the gateway starts without Telegram");
                    None
                }
            });
        let root = self.egress.telegram_root();
        self.egress.set_telegram(route).map(|token| (root, token))
    }

    /// Writes the gateway's configuration, keeping the version it replaces in the history
    /// unless only per-start values (ports, virtual tokens) move.
    fn write_config(
        &self,
        config_file: &std::path::Path,
        before: Option<&serde_json::Value>,
        config: &serde_json::Value,
    ) -> Result<(), String> {
        // A start that changes nothing else moves only the ports: no version worth keeping.
        let only_ports_move = before.is_some_and(|before| {
            openclaw_config::without_per_start_values(before)
                == openclaw_config::without_per_start_values(config)
                && std::fs::read(config_file)
                    .is_ok_and(|file| file == openclaw_config::to_bytes(before))
        });
        if !only_ports_move {
            super::config_history::History::new(&self.paths.data_dir)
                .keep(
                    config_file,
                    Some(&openclaw_config::to_bytes(config)),
                    super::config_history::Why::Settings,
                )
                .map_err(|e| format!("cannot keep the configuration's history: {e}"))?;
        }
        openclaw_config::write(config_file, config).map_err(|e| e.to_string())
    }

    /// `openclaw gateway run` on the prepared port, bound to loopback.
    pub(crate) fn gateway_command(&self, prepared: &Prepared) -> Command {
        let mut command = self.command(&prepared.launcher, &prepared.env);
        command.args([
            "gateway",
            "run",
            "--port",
            &prepared.port.to_string(),
            "--bind",
            "loopback",
        ]);
        command
    }

    /// The child's whole environment: nothing is inherited.
    fn base_env(&self, launcher: &Launcher, token: &Zeroizing<String>) -> Env {
        let mut env = plain_env(launcher, &self.home, &self.paths);
        env.push((
            TOKEN_ENV.to_string(),
            Zeroizing::new(token.as_str().to_owned()),
        ));
        if self.config.node_heap_mb > 0 && matches!(launcher, Launcher::Command(_)) {
            env.push((
                "NODE_OPTIONS".into(),
                Zeroizing::new(format!("--max-old-space-size={}", self.config.node_heap_mb)),
            ));
        }
        env
    }

    fn command(&self, launcher: &Launcher, env: &Env) -> Command {
        let (program, lead) = launcher.program();
        let mut command = Command::new(program);
        if self.config.node_heap_mb > 0 && matches!(launcher, Launcher::Installed { .. }) {
            command.arg(format!("--max-old-space-size={}", self.config.node_heap_mb));
        }
        command
            .args(lead)
            .env_clear()
            .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .current_dir(self.paths.state_dir())
            .stdin(Stdio::null());
        command
    }

    /// `openclaw config validate --json`; an invalid file is reported with its offending paths.
    async fn validate(&self, launcher: &Launcher, env: &Env) -> Result<(), String> {
        let mut validate = self.command(launcher, env);
        validate
            .args(["config", "validate", "--json"])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        let output = tokio::time::timeout(VALIDATE_TIMEOUT, validate.output())
            .await
            .map_err(|_| "OpenClaw did not finish checking its configuration in 90 s".to_string())?
            .map_err(|e| format!("cannot run OpenClaw to check its configuration: {e}"))?;
        let stdout = String::from_utf8_lossy(&output.stdout);
        let report: Option<serde_json::Value> = serde_json::from_str(stdout.trim()).ok();
        match report {
            Some(report) if report["valid"] == true => {
                for warning in report["warnings"].as_array().into_iter().flatten() {
                    self.logs.push(
                        "clawhost",
                        &format!("config warning: {}", issue_text(warning)),
                    );
                }
                Ok(())
            }
            Some(report) => {
                let issues: Vec<String> = report["issues"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .map(issue_text)
                    .collect();
                Err(format!(
                    "{} is invalid: {}",
                    self.paths.config_file().display(),
                    if issues.is_empty() {
                        "no details given".to_string()
                    } else {
                        issues.join("; ")
                    }
                ))
            }
            None => {
                let stderr = String::from_utf8_lossy(&output.stderr);
                for line in stderr.lines().chain(stdout.lines()) {
                    self.logs.push("stderr", line);
                }
                Err(format!(
                    "OpenClaw could not check its configuration ({})",
                    output.status
                ))
            }
        }
    }
}

/// The gateway's HOME: clawhost's own, or else the data directory.
pub(crate) fn gateway_home(data_dir: &Path) -> PathBuf {
    std::env::var_os("HOME")
        .map(PathBuf::from)
        .filter(|p| p.is_absolute())
        .unwrap_or_else(|| data_dir.to_path_buf())
}

/// What every `openclaw` process of ours gets: our Node first on PATH, its home, its state
/// directory, the embedding settings, and the host's network settings; nothing else.
fn plain_env(launcher: &Launcher, home: &Path, paths: &Paths) -> Env {
    let plain = |name: &str, value: String| (name.to_string(), Zeroizing::new(value));
    let mut env = vec![
        plain("PATH", launcher.path_env()),
        plain("HOME", home.display().to_string()),
        plain(
            "LANG",
            std::env::var("LANG").unwrap_or_else(|_| "C.UTF-8".into()),
        ),
        plain(
            "OPENCLAW_STATE_DIR",
            paths.state_dir().display().to_string(),
        ),
        plain("OPENCLAW_NO_RESPAWN", "1".into()),
        plain("OPENCLAW_SUPERVISOR_MODE", "external".into()),
        plain("OPENCLAW_NO_AUTO_UPDATE", "1".into()),
        plain("OPENCLAW_DISABLE_BONJOUR", "1".into()),
    ];
    env.extend(network_env(|name| std::env::var(name).ok()));
    env
}

/// `openclaw …` for a one-off command on the state directory (a backup, its check, a
/// restore): the gateway's runtime and environment, without its credential or the key.
pub(crate) struct Tool {
    launcher: Launcher,
    env: Env,
    state_dir: PathBuf,
    pub(crate) version: Option<String>,
}

impl Tool {
    /// The installed runtime (or `gateway.command`), or why there is none.
    pub(crate) fn locate(
        paths: &Paths,
        config: &GatewayConfig,
        home: &Path,
    ) -> Result<Self, runtime::RuntimeError> {
        let (launcher, manifest) = runtime::locate(&paths.runtime_dir, config.command.as_deref())?;
        let env = plain_env(&launcher, home, paths);
        Ok(Self {
            launcher,
            env,
            state_dir: paths.state_dir(),
            version: manifest.map(|m| m.openclaw_version),
        })
    }

    /// The runtime in `dir` (one staged for an update), as it would run here.
    pub(crate) fn at(
        dir: &Path,
        paths: &Paths,
        home: &Path,
    ) -> Result<Self, runtime::RuntimeError> {
        let (launcher, manifest) = runtime::launcher_in(dir)?;
        let env = plain_env(&launcher, home, paths);
        Ok(Self {
            launcher,
            env,
            state_dir: paths.state_dir(),
            version: Some(manifest.openclaw_version),
        })
    }

    /// `openclaw <args>`, in its own process group, killed if dropped; output piped.
    pub(crate) fn command(&self, args: &[&std::ffi::OsStr]) -> Command {
        let (program, lead) = self.launcher.program();
        let mut command = Command::new(program);
        command
            .args(lead)
            .args(args)
            .env_clear()
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .current_dir(self.state_dir.parent().unwrap_or(Path::new("/")))
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        command
    }
}

fn network_env(
    lookup: impl Fn(&str) -> Option<String>,
) -> impl Iterator<Item = (String, Zeroizing<String>)> {
    NETWORK_ENV.iter().filter_map(move |name| {
        let value = lookup(name).filter(|v| !v.is_empty())?;
        Some((name.to_string(), Zeroizing::new(value)))
    })
}

/// One issue of `openclaw config validate --json`, in words.
pub(crate) fn issue_text(issue: &serde_json::Value) -> String {
    match (issue["path"].as_str(), issue["message"].as_str()) {
        (Some(path), Some(message)) if !path.is_empty() => format!("{path}: {message}"),
        (_, Some(message)) => message.to_string(),
        _ => issue.to_string(),
    }
}

/// The configured port, checked free; or any free loopback port when configured as 0.
fn pick_port(configured: u16) -> Result<u16, String> {
    let probe = std::net::TcpListener::bind(("127.0.0.1", configured));
    match probe {
        Ok(listener) => listener
            .local_addr()
            .map(|a| a.port())
            .map_err(|e| e.to_string()),
        Err(_) => Err(format!(
            "Port {configured} on 127.0.0.1 is already in use by another program; stop it, or set gateway.port to a free port (0 picks one)."
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_network_settings_reach_the_gateway() {
        let host = |name: &str| match name {
            "HTTPS_PROXY" => Some("http://proxy:3128".to_string()),
            "NODE_EXTRA_CA_CERTS" => Some("/etc/ssl/certs/ca-certificates.crt".to_string()),
            "NO_PROXY" => Some(String::new()),
            "CLAWHOST_SECRET_KEY_FILE" | "AWS_SECRET_ACCESS_KEY" => Some("secret".to_string()),
            _ => None,
        };
        let passed: Vec<String> = network_env(host).map(|(name, _)| name).collect();
        assert_eq!(passed, ["HTTPS_PROXY", "NODE_EXTRA_CA_CERTS"]);
    }

    #[test]
    fn busy_ports_are_reported() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        let port = taken.local_addr().expect("addr").port();
        let error = pick_port(port).expect_err("in use");
        assert!(error.contains(&port.to_string()), "{error}");
        assert!(pick_port(0).is_ok_and(|p| p != 0));
    }
}
