//! Discord and Slack as set up from clawhost, for one start: their tokens opened into the
//! gateway's environment (`openclaw.json` names them by SecretRef only), their APIs when
//! configured otherwise, and their OpenClaw plugins installed first when missing.
//!
//! Neither ever keeps the assistant down: a token that no longer opens or a plugin that
//! cannot be installed costs that channel (said in the gateway's log), not the start.

use std::time::Duration;

use serde_json::Value;
use zeroize::Zeroizing;

use super::logs::GatewayLogs;
use super::openclaw_config::TokenChannels;
use crate::channels::slack::SlackTokens;
use crate::channels::{self, discord, slack};
use crate::config::GatewayConfig;
use crate::secrets::SecretBox;
use crate::store::ChannelToken;

type Env = Vec<(String, Zeroizing<String>)>;

/// npm fetches ~70 MB for a plugin; slow links need minutes.
const INSTALL_TIMEOUT: Duration = Duration::from_mins(10);
const LIST_TIMEOUT: Duration = Duration::from_mins(1);

/// What a start gives the gateway of Discord and Slack.
#[derive(Default)]
pub(crate) struct Given {
    pub(crate) sections: TokenChannels,
    pub(crate) env: Env,
    /// `(plugin id, npm package)` of each channel set up.
    plugins: Vec<(&'static str, &'static str)>,
}

impl Given {
    /// The stored tokens of Discord and Slack, opened.
    pub(crate) fn open(
        sealer: &SecretBox,
        config: &GatewayConfig,
        logs: &GatewayLogs,
        tokens: &[ChannelToken],
    ) -> Self {
        let mut given = Self::default();
        let theirs = tokens
            .iter()
            .filter(|t| [discord::CHANNEL, slack::CHANNEL].contains(&t.channel.as_str()));
        for stored in theirs {
            let opened = match channels::open_token(sealer, stored) {
                Ok(opened) => opened,
                Err(error) => {
                    logs.push(
                        "clawhost",
                        &format!("{}'s token cannot be opened ({error}): set it again; the gateway starts without it", stored.channel),
                    );
                    continue;
                }
            };
            let plain =
                |name: &str, value: &str| (name.to_owned(), Zeroizing::new(value.to_owned()));
            match stored.channel.as_str() {
                discord::CHANNEL => {
                    given.env.push(plain(discord::TOKEN_ENV, &opened));
                    if config.discord_api != discord::PUBLIC_API {
                        given
                            .env
                            .push(plain("DISCORD_API_URL", &config.discord_api));
                    }
                    given.sections.discord = Some(stored.mention_only);
                    given.plugins.push((discord::CHANNEL, discord::PLUGIN));
                }
                slack::CHANNEL => {
                    let Ok(tokens) = SlackTokens::split(&opened) else {
                        continue;
                    };
                    given.env.push(plain(slack::BOT_TOKEN_ENV, &tokens.bot));
                    given.env.push(plain(slack::APP_TOKEN_ENV, &tokens.app));
                    if config.slack_api != slack::PUBLIC_API {
                        given.env.push(plain("SLACK_API_URL", &config.slack_api));
                    }
                    given.sections.slack = true;
                    given.plugins.push((slack::CHANNEL, slack::PLUGIN));
                }
                _ => {}
            }
        }
        given
    }

    /// The tokens, for the log to hide.
    pub(crate) fn secrets(&self) -> impl Iterator<Item = &str> {
        self.env
            .iter()
            .filter(|(name, _)| name.starts_with("CLAWHOST_"))
            .map(|(_, value)| value.as_str())
    }

    /// Installs the plugins of the channels set up that the runtime lacks, pinned to its
    /// version (`version`); `openclaw` makes a command of the runtime to add arguments to.
    pub(crate) async fn install_plugins(
        &self,
        openclaw: impl Fn() -> tokio::process::Command,
        logs: &GatewayLogs,
        version: &str,
        progress: &(dyn Fn(&'static str, String) + Send + Sync),
    ) {
        if self.plugins.is_empty() {
            return;
        }
        let installed = match installed_plugins(openclaw()).await {
            Ok(installed) => installed,
            Err(error) => {
                logs.push(
                    "clawhost",
                    &format!("cannot list OpenClaw's plugins: {error}"),
                );
                return;
            }
        };
        for (id, package) in &self.plugins {
            if installed.iter().any(|have| have == id) {
                continue;
            }
            let spec = format!("{package}@{version}");
            progress("plugins", format!("Installing {spec}"));
            logs.push(
                "clawhost",
                &format!("installing {spec} for the {id} channel"),
            );
            let mut install = openclaw();
            install.args(["plugins", "install", &spec]);
            if let Err(error) = finished(install, INSTALL_TIMEOUT).await {
                logs.push(
                    "clawhost",
                    &format!("installing {spec} failed, so the {id} channel does not run: {error}"),
                );
            }
        }
    }
}

/// The ids of the plugins OpenClaw has (`plugins list --json`).
async fn installed_plugins(mut list: tokio::process::Command) -> Result<Vec<String>, String> {
    list.args(["plugins", "list", "--json"]);
    let stdout = finished(list, LIST_TIMEOUT).await?;
    let listed: Value =
        serde_json::from_slice(&stdout).map_err(|e| format!("its list is not JSON: {e}"))?;
    Ok(listed["plugins"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|plugin| plugin["id"].as_str().map(str::to_owned))
        .collect())
}

/// Runs `command` to its end within `timeout`: its standard output, or why it failed.
async fn finished(
    mut command: tokio::process::Command,
    timeout: Duration,
) -> Result<Vec<u8>, String> {
    command
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .process_group(0)
        .kill_on_drop(true);
    let output = tokio::time::timeout(timeout, command.output())
        .await
        .map_err(|_| format!("it did not finish in {} s", timeout.as_secs()))?
        .map_err(|e| format!("cannot run OpenClaw: {e}"))?;
    if output.status.success() {
        return Ok(output.stdout);
    }
    let said = String::from_utf8_lossy(&output.stderr);
    let said = said
        .lines()
        .rev()
        .find(|l| !l.trim().is_empty())
        .unwrap_or_default();
    Err(format!("{} ({said})", output.status))
}
