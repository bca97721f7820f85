//! Channels set up from clawhost (Telegram, Discord, Slack): each token checked with its
//! channel before anything is kept, sealed, then given to the gateway.
//!
//! - Telegram reaches the gateway at once: OpenClaw applies a change under `channels.*`
//!   without a restart, and its token never enters the gateway (see [`crate::egress`]).
//! - Discord's and Slack's tokens reach the gateway through its environment, which is set
//!   at a start: a running gateway restarts to take them (installing the channel's plugin
//!   the first time). Removing one needs no restart: its section leaves `openclaw.json`.
//!
//! A stopped gateway gets every change at its next start.

use std::sync::Arc;

use serde::Serialize;
use serde_json::Value;
use zeroize::Zeroizing;

use super::check::{self, CheckError};
use super::slack::SlackTokens;
use super::{discord, slack, telegram};
use crate::clock::now_ms;
use crate::config::GatewayConfig;
use crate::egress::Egress;
use crate::egress::telegram::TelegramRoute;
use crate::gateway::config_history::{History, Why};
use crate::gateway::openclaw_config::{self, TokenChannels};
use crate::gateway::status::GatewayState;
use crate::gateway::supervisor::Gateway;
use crate::secrets::SecretBox;
use crate::store::{self, ChannelStore, ChannelToken, NewEvent, SharedStore, StoreError};

/// What clawhost needs to set a channel up.
pub(crate) struct Setup<'a> {
    pub(crate) store: &'a SharedStore,
    pub(crate) sealer: &'a SecretBox,
    pub(crate) egress: &'a Arc<Egress>,
    pub(crate) gateway: &'a Gateway,
    /// Where Discord's and Slack's APIs are.
    pub(crate) apis: &'a GatewayConfig,
}

/// Telegram as set up here, as the owner may see it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub(crate) struct TelegramSetup {
    /// The bot, `@name`, as Telegram named it when the token was checked.
    pub(crate) bot: Option<String>,
    /// The token's last four characters.
    pub(crate) last4: String,
    /// A Bot API server of the owner's; `null` for Telegram's own.
    pub(crate) api_root: Option<String>,
    /// Whether the running gateway has it now (otherwise at its next start).
    pub(crate) applied: bool,
}

/// Discord or Slack as set up here, as the owner may see it.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub(crate) struct TokenChannelSetup {
    /// The bot as the channel named it when its token was checked: `@name` (Discord),
    /// `@name in Workspace` (Slack).
    pub(crate) bot: Option<String>,
    /// The last four characters of the (bot) token.
    pub(crate) last4: String,
    /// Discord: guild messages are read only when the bot is mentioned (its application
    /// lacks the Message Content intent). Always `false` for Slack.
    pub(crate) mention_only: bool,
    /// Right after a change while the gateway runs: it is restarting to take it (the first
    /// time also installing the channel's plugin, about a minute). Otherwise `false`.
    pub(crate) restarting: bool,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum SetupError {
    #[error(transparent)]
    Check(#[from] CheckError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The token could not be sealed, or the configuration not written.
    #[error("{0}")]
    Failed(String),
}

impl Setup<'_> {
    async fn stored(&self, channel: &'static str) -> Result<Option<ChannelToken>, StoreError> {
        let tokens = store::run(self.store, ChannelStore::channel_tokens).await?;
        Ok(tokens.into_iter().find(|t| t.channel == channel))
    }

    /// Telegram as set up now, if it is.
    pub(crate) async fn telegram(&self) -> Result<Option<TelegramSetup>, StoreError> {
        let running = self.gateway.credential().is_some();
        Ok(self
            .stored(telegram::CHANNEL)
            .await?
            .map(|t| TelegramSetup {
                bot: t.account,
                last4: t.last4,
                api_root: t.api_root,
                applied: running,
            }))
    }

    /// Discord or Slack as set up now, if it is.
    pub(crate) async fn token_channel(
        &self,
        channel: &'static str,
    ) -> Result<Option<TokenChannelSetup>, StoreError> {
        Ok(self.stored(channel).await?.map(|t| TokenChannelSetup {
            bot: t.account,
            last4: t.last4,
            mention_only: t.mention_only,
            restarting: false,
        }))
    }

    /// Checks `token` with Telegram, keeps it sealed, and gives it to the running gateway.
    pub(crate) async fn set_telegram(
        &self,
        token: &str,
        api_root: Option<&str>,
        event: NewEvent,
    ) -> Result<TelegramSetup, SetupError> {
        let token = Zeroizing::new(telegram::check_token(token)?.to_owned());
        let root = telegram::check_api_root(api_root)?;
        let bot = telegram::who_is(&root, &token).await?;
        let api_root = (root != telegram::PUBLIC_API).then(|| root.clone());
        let stored = self
            .keep(
                telegram::CHANNEL,
                &token,
                &token,
                Some(bot),
                false,
                api_root,
                event,
            )
            .await?;
        let applied = self
            .apply_telegram(Some(TelegramRoute::new(&root, token)))
            .await?;
        Ok(TelegramSetup {
            bot: stored.account,
            last4: stored.last4,
            api_root: stored.api_root,
            applied,
        })
    }

    /// Checks `token` with Discord (the bot, and its Message Content intent unless
    /// `mention_only`), keeps it sealed, and restarts a running gateway to take it.
    pub(crate) async fn set_discord(
        &self,
        token: &str,
        mention_only: bool,
        event: NewEvent,
    ) -> Result<TokenChannelSetup, SetupError> {
        let token = discord::check_token(token)?;
        let bot = discord::who_is(&self.apis.discord_api, &token).await?;
        discord::admit(&bot, mention_only)?;
        let stored = self
            .keep(
                discord::CHANNEL,
                &token,
                &token,
                Some(bot.name),
                mention_only,
                None,
                event,
            )
            .await?;
        self.restarted(stored).await
    }

    /// Checks the bot token (`auth.test`) and the app-level token (`apps.connections.open`)
    /// with Slack, keeps them sealed, and restarts a running gateway to take them.
    pub(crate) async fn set_slack(
        &self,
        bot_token: &str,
        app_token: &str,
        event: NewEvent,
    ) -> Result<TokenChannelSetup, SetupError> {
        let tokens = SlackTokens::check(bot_token, app_token)?;
        let bot = slack::who_is(&self.apis.slack_api, &tokens).await?;
        let stored = self
            .keep(
                slack::CHANNEL,
                &tokens.joined(),
                &tokens.bot,
                Some(bot),
                false,
                None,
                event,
            )
            .await?;
        self.restarted(stored).await
    }

    /// Seals `secret` for `channel` and keeps it (with the event that says so), replacing
    /// what was there; `shown` is the token whose last four characters may be shown.
    #[allow(
        clippy::too_many_arguments,
        reason = "one row's fields, named at each call"
    )]
    async fn keep(
        &self,
        channel: &'static str,
        secret: &str,
        shown: &str,
        account: Option<String>,
        mention_only: bool,
        api_root: Option<String>,
        event: NewEvent,
    ) -> Result<ChannelToken, SetupError> {
        let sealed = super::seal_token(self.sealer, channel, secret)
            .map_err(|e| SetupError::Failed(e.to_string()))?;
        let stored = ChannelToken {
            channel: channel.into(),
            sealed,
            last4: check::last4(shown),
            api_root,
            account,
            updated_at: now_ms(),
            mention_only,
        };
        let kept = stored.clone();
        store::run(self.store, move |s| s.save_channel_token(&kept, &event)).await?;
        Ok(stored)
    }

    /// Restarts a running gateway so that it takes a channel's new token; one that is
    /// starting too, since it may have read the tokens before this one was kept.
    async fn restarted(&self, stored: ChannelToken) -> Result<TokenChannelSetup, SetupError> {
        let restarting = matches!(
            self.gateway.status().state,
            GatewayState::Running | GatewayState::Starting
        );
        if restarting {
            self.gateway
                .restart()
                .await
                .map_err(|e| SetupError::Failed(format!("the gateway could not restart: {e}")))?;
        }
        Ok(TokenChannelSetup {
            bot: stored.account,
            last4: stored.last4,
            mention_only: stored.mention_only,
            restarting,
        })
    }

    /// Forgets `channel`'s token and takes the channel off the running gateway (no restart);
    /// `false` when it was not set up here.
    pub(crate) async fn remove(
        &self,
        channel: &'static str,
        event: NewEvent,
    ) -> Result<bool, SetupError> {
        let removed =
            store::run(self.store, move |s| s.remove_channel_token(channel, &event)).await?;
        if !removed {
            return Ok(false);
        }
        if channel == telegram::CHANNEL {
            self.apply_telegram(None).await?;
        } else {
            let left = store::run(self.store, ChannelStore::channel_tokens).await?;
            let sections = TokenChannels {
                discord: left
                    .iter()
                    .find(|t| t.channel == discord::CHANNEL)
                    .map(|t| t.mention_only),
                slack: left.iter().any(|t| t.channel == slack::CHANNEL),
            };
            self.write_config(move |config| {
                openclaw_config::set_token_channels(config, sections);
            })
            .await?;
        }
        Ok(true)
    }

    /// Routes Telegram through the egress proxy (or not) and, while the gateway runs, writes
    /// its section of `openclaw.json`, which OpenClaw applies hot. Whether it was applied.
    async fn apply_telegram(&self, route: Option<TelegramRoute>) -> Result<bool, SetupError> {
        if self.gateway.credential().is_none() {
            return Ok(false);
        }
        let _channel_change = self.egress.channel_change().await;
        let virtual_token = self.egress.set_telegram(route);
        let root = self.egress.telegram_root();
        self.write_config_held(move |config| {
            openclaw_config::set_telegram(
                config,
                virtual_token.as_ref().map(|t| (root.as_str(), t.as_str())),
            );
        })
        .await?;
        Ok(true)
    }

    /// While the gateway runs, changes `openclaw.json` with `edit` (a stopped gateway's file
    /// is written at its next start).
    async fn write_config(
        &self,
        edit: impl FnOnce(&mut Value) + Send + 'static,
    ) -> Result<(), SetupError> {
        if self.gateway.credential().is_none() {
            return Ok(());
        }
        let _channel_change = self.egress.channel_change().await;
        self.write_config_held(edit).await
    }

    /// Changes `openclaw.json` with `edit`, keeping the version replaced; the caller holds
    /// [`Egress::channel_change`].
    async fn write_config_held(
        &self,
        edit: impl FnOnce(&mut Value) + Send + 'static,
    ) -> Result<(), SetupError> {
        let (file, data_dir) = (
            self.gateway.paths().config_file(),
            self.gateway.paths().data_dir.clone(),
        );
        tokio::task::spawn_blocking(move || {
            let mut config = openclaw_config::read(&file)
                .map_err(|e| e.to_string())?
                .unwrap_or_default();
            edit(&mut config);
            History::new(&data_dir)
                .keep(
                    &file,
                    Some(&openclaw_config::to_bytes(&config)),
                    Why::Channel,
                )
                .map_err(|e| format!("cannot keep the configuration's history: {e}"))?;
            openclaw_config::write(&file, &config).map_err(|e| e.to_string())
        })
        .await
        .map_err(|e| SetupError::Failed(e.to_string()))?
        .map_err(SetupError::Failed)
    }
}
