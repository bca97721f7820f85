//! Discord set up from clawhost: the bot token is checked with Discord before anything is
//! kept (`users/@me` says whose bot it is, `oauth2/applications/@me` whether its application
//! may read message content), sealed at rest, and given to the gateway's Discord channel at
//! each start as an environment SecretRef, never written into `openclaw.json`.
//!
//! A bot without the Message Content intent sees no ordinary guild messages, and asking for
//! the intent it lacks ends its gateway session (close 4014). So such a bot is refused unless
//! the owner picks mention-only mode, which does not ask for the intent.

use serde::Serialize;
use zeroize::Zeroizing;

use super::check::{self, CheckError};

pub(crate) const CHANNEL: &str = "discord";
/// Discord's REST API (versioned), unless configured otherwise.
pub(crate) const PUBLIC_API: &str = "https://discord.com/api/v10";
/// Where the gateway finds the token (an environment SecretRef names it).
pub(crate) const TOKEN_ENV: &str = "CLAWHOST_DISCORD_TOKEN";
/// OpenClaw's Discord plugin, from the npm registry.
pub(crate) const PLUGIN: &str = "@openclaw/discord";

/// `GATEWAY_MESSAGE_CONTENT` and `GATEWAY_MESSAGE_CONTENT_LIMITED` in the application's flags.
const MESSAGE_CONTENT: u64 = 1 << 18;
const MESSAGE_CONTENT_LIMITED: u64 = 1 << 19;

/// Whether the bot's application may read message content.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub(crate) enum MessageContent {
    Enabled,
    /// Granted without verification (bots in fewer than 100 servers).
    Limited,
    Disabled,
}

impl MessageContent {
    fn from_flags(flags: u64) -> Self {
        if flags & MESSAGE_CONTENT != 0 {
            Self::Enabled
        } else if flags & MESSAGE_CONTENT_LIMITED != 0 {
            Self::Limited
        } else {
            Self::Disabled
        }
    }
}

/// The bot as Discord described it when its token was checked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct DiscordBot {
    /// `@username`.
    pub(crate) name: String,
    pub(crate) message_content: MessageContent,
}

/// A bot token as the Developer Portal's Bot page gives it: three dot-separated base64url
/// parts (a leading `Bot ` is taken off, as OpenClaw does).
pub(crate) fn check_token(token: &str) -> Result<Zeroizing<String>, CheckError> {
    let token = token.trim();
    let token = token
        .get(..4)
        .filter(|lead| lead.eq_ignore_ascii_case("bot "))
        .map_or(token, |_| token[4..].trim_start());
    if !token.is_empty() && token.bytes().all(|b| b.is_ascii_digit()) {
        return Err(CheckError::invalid(
            "token",
            "That is the application's ID, not its bot token: copy the token from the Bot page (Reset Token), not from General Information.",
        ));
    }
    let parts: Vec<&str> = token.split('.').collect();
    let fits = parts.len() == 3
        && parts.iter().all(|part| !part.is_empty())
        && check::token_shaped(token, 50..=200, b"-_.");
    if fits {
        Ok(Zeroizing::new(token.to_owned()))
    } else {
        Err(CheckError::invalid(
            "token",
            "That is not a bot token: the Developer Portal's Bot page gives one like MTA1N….GhX….abc… (three parts joined by dots).",
        ))
    }
}

/// Asks Discord whose bot the token is and what its application may read.
pub(crate) async fn who_is(api: &str, token: &str) -> Result<DiscordBot, CheckError> {
    let api = check::base(api);
    let client = check::client()?;
    let get = |path: &str| {
        client
            .get(format!("{api}/{path}"))
            .header(reqwest::header::AUTHORIZATION, format!("Bot {token}"))
    };
    let (status, me) = check::ask(get("users/@me"), "Discord").await?;
    if status == reqwest::StatusCode::UNAUTHORIZED || status == reqwest::StatusCode::FORBIDDEN {
        return Err(CheckError::invalid(
            "token",
            format!(
                "Discord refused the token ({status}). Reset it on the Developer Portal's Bot page and paste the new one."
            ),
        ));
    }
    let Some(name) = me["username"].as_str().filter(|_| status.is_success()) else {
        return Err(CheckError::Unreachable(format!(
            "Cannot reach Discord: it answered {status}"
        )));
    };
    if me["bot"] != true {
        return Err(CheckError::invalid(
            "token",
            "That token belongs to a person's account, not a bot: use the token from the application's Bot page.",
        ));
    }
    let (status, application) = check::ask(get("oauth2/applications/@me"), "Discord").await?;
    let Some(flags) = application["flags"]
        .as_u64()
        .filter(|_| status.is_success())
    else {
        return Err(CheckError::Unreachable(format!(
            "Cannot reach Discord: the bot's application could not be read ({status})"
        )));
    };
    Ok(DiscordBot {
        name: format!("@{name}"),
        message_content: MessageContent::from_flags(flags),
    })
}

/// Whether the bot can run as asked: without the Message Content intent only mention-only.
pub(crate) fn admit(bot: &DiscordBot, mention_only: bool) -> Result<(), CheckError> {
    if bot.message_content == MessageContent::Disabled && !mention_only {
        return Err(CheckError::invalid(
            "mention_only",
            format!(
                "{}'s application does not have the Message Content intent, so it would not see ordinary messages in your servers. Turn on Bot → Privileged Gateway Intents → Message Content Intent in Discord's Developer Portal and try again, or choose mention-only mode.",
                bot.name
            ),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "MTA5ODc2NTQzMjEwOTg3NjU0Mw.GhXyZa.abcdefghijklmnopqrstuvwxyz0123456789AB";

    #[test]
    fn tokens_are_checked_for_their_form() {
        assert_eq!(check_token(TOKEN).expect("token").as_str(), TOKEN);
        assert_eq!(
            check_token(&format!("  Bot {TOKEN} "))
                .expect("prefixed")
                .as_str(),
            TOKEN
        );
        let digits = check_token("1098765432109876543").expect_err("an application id");
        assert!(digits.to_string().contains("application's ID"), "{digits}");
        for bad in [
            "",
            "abc",
            "MTA5ODc2NTQzMjEwOTg3NjU0Mw.GhXyZa",
            "MTA5ODc2NTQzMjEwOTg3NjU0Mw..abcdefghijklmnopqrstuvwxyz0123456789AB",
            "MTA5ODc2NTQzMjEwOTg3NjU0Mw.GhXyZa.abcdefghijklmnopqrstuvwxyz0123456789A/",
        ] {
            assert!(check_token(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_message_content_intent_decides_the_mode() {
        assert_eq!(MessageContent::from_flags(1 << 18), MessageContent::Enabled);
        assert_eq!(
            MessageContent::from_flags((1 << 18) | (1 << 19)),
            MessageContent::Enabled
        );
        assert_eq!(MessageContent::from_flags(1 << 19), MessageContent::Limited);
        assert_eq!(
            MessageContent::from_flags((1 << 12) | (1 << 14)),
            MessageContent::Disabled
        );
        let bot = |message_content| DiscordBot {
            name: "@clawbot".into(),
            message_content,
        };
        assert!(admit(&bot(MessageContent::Limited), false).is_ok());
        let refused = admit(&bot(MessageContent::Disabled), false).expect_err("no intent");
        assert!(matches!(
            refused,
            CheckError::Invalid {
                field: "mention_only",
                ..
            }
        ));
        assert!(admit(&bot(MessageContent::Disabled), true).is_ok());
    }
}
