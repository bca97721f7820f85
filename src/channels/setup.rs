//! Channels set up from clawhost (Telegram): the token checked with the channel, sealed and
//! kept, then given to a running gateway at once: OpenClaw applies a change under
//! `channels.*` without a restart. A stopped gateway gets it at its next start.

use std::sync::Arc;

use serde::Serialize;
use zeroize::Zeroizing;

use super::telegram::{self, TelegramError};
use crate::clock::now_ms;
use crate::egress::Egress;
use crate::egress::telegram::TelegramRoute;
use crate::gateway::config_history::{History, Why};
use crate::gateway::openclaw_config;
use crate::gateway::supervisor::Gateway;
use crate::secrets::SecretBox;
use crate::store::{self, ChannelStore, ChannelToken, NewEvent, SharedStore, StoreError};

/// What clawhost needs to set a channel up.
pub(crate) struct Setup<'a> {
    pub(crate) store: &'a SharedStore,
    pub(crate) sealer: &'a SecretBox,
    pub(crate) egress: &'a Arc<Egress>,
    pub(crate) gateway: &'a Gateway,
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

#[derive(Debug, thiserror::Error)]
pub(crate) enum SetupError {
    #[error(transparent)]
    Telegram(#[from] TelegramError),
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The token could not be sealed, or the configuration not written.
    #[error("{0}")]
    Failed(String),
}

impl Setup<'_> {
    /// Telegram as set up now, if it is.
    pub(crate) async fn telegram(&self) -> Result<Option<TelegramSetup>, StoreError> {
        let tokens = store::run(self.store, ChannelStore::channel_tokens).await?;
        let running = self.gateway.credential().is_some();
        Ok(tokens
            .into_iter()
            .find(|t| t.channel == telegram::CHANNEL)
            .map(|t| TelegramSetup {
                bot: t.account,
                last4: t.last4,
                api_root: t.api_root,
                applied: running,
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
        let sealed =
            telegram::seal(self.sealer, &token).map_err(|e| SetupError::Failed(e.to_string()))?;
        let last4: String = token
            .chars()
            .rev()
            .take(4)
            .collect::<Vec<_>>()
            .into_iter()
            .rev()
            .collect();
        let stored = ChannelToken {
            channel: telegram::CHANNEL.into(),
            sealed,
            last4: last4.clone(),
            api_root: (root != telegram::PUBLIC_API).then(|| root.clone()),
            account: Some(bot.clone()),
            updated_at: now_ms(),
        };
        let kept = stored.clone();
        store::run(self.store, move |s| s.save_channel_token(&kept, &event)).await?;
        let applied = self.apply(Some(TelegramRoute::new(&root, token))).await?;
        Ok(TelegramSetup {
            bot: Some(bot),
            last4,
            api_root: stored.api_root,
            applied,
        })
    }

    /// Forgets Telegram's token and takes the channel off the running gateway; `false` when
    /// Telegram was not set up here.
    pub(crate) async fn remove_telegram(&self, event: NewEvent) -> Result<bool, SetupError> {
        let removed = store::run(self.store, move |s| {
            s.remove_channel_token(telegram::CHANNEL, &event)
        })
        .await?;
        if removed {
            self.apply(None).await?;
        }
        Ok(removed)
    }

    /// Routes Telegram through the egress proxy (or not) and, while the gateway runs, writes
    /// its section of `openclaw.json`, which OpenClaw applies hot. Whether it was applied.
    async fn apply(&self, route: Option<TelegramRoute>) -> Result<bool, SetupError> {
        if self.gateway.credential().is_none() {
            return Ok(false);
        }
        let _telegram_change = self.egress.telegram_change().await;
        let virtual_token = self.egress.set_telegram(route);
        let root = self.egress.telegram_root();
        let (file, data_dir) = (
            self.gateway.paths().config_file(),
            self.gateway.paths().data_dir.clone(),
        );
        tokio::task::spawn_blocking(move || {
            let mut config = openclaw_config::read(&file)
                .map_err(|e| e.to_string())?
                .unwrap_or_default();
            openclaw_config::set_telegram(
                &mut config,
                virtual_token.as_ref().map(|t| (root.as_str(), t.as_str())),
            );
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
        .map_err(SetupError::Failed)?;
        Ok(true)
    }
}
