//! Slack set up from clawhost, in Socket Mode (no public URL needed): the bot token is
//! checked with `auth.test` (it must be a bot's, not a person's) and the app-level token with
//! `apps.connections.open` (it proves Socket Mode is on and the token may connect) before
//! anything is kept. Both are sealed at rest together and given to the gateway's Slack
//! channel at each start as environment SecretRefs, never written into `openclaw.json`.

use zeroize::Zeroizing;

use super::check::{self, CheckError};

pub(crate) const CHANNEL: &str = "slack";
/// Slack's Web API, unless configured otherwise.
pub(crate) const PUBLIC_API: &str = "https://slack.com/api/";
/// Where the gateway finds the tokens (environment SecretRefs name them).
pub(crate) const BOT_TOKEN_ENV: &str = "CLAWHOST_SLACK_BOT_TOKEN";
pub(crate) const APP_TOKEN_ENV: &str = "CLAWHOST_SLACK_APP_TOKEN";
/// OpenClaw's Slack plugin, from the npm registry.
pub(crate) const PLUGIN: &str = "@openclaw/slack";

/// The Bot User OAuth Token and the app-level token, as kept together (sealed).
pub(crate) struct SlackTokens {
    pub(crate) bot: Zeroizing<String>,
    pub(crate) app: Zeroizing<String>,
}

impl SlackTokens {
    /// Both tokens, checked for their form.
    pub(crate) fn check(bot: &str, app: &str) -> Result<Self, CheckError> {
        let (bot, app) = (bot.trim(), app.trim());
        let misplaced = |field, message: &str| Err(CheckError::invalid(field, message));
        if bot.starts_with("xapp-") {
            return misplaced(
                "bot_token",
                "That is the app-level token (xapp-…): it goes in the second field. Here goes the Bot User OAuth Token (xoxb-…) from Install App.",
            );
        }
        if bot.starts_with("xoxp-") {
            return misplaced(
                "bot_token",
                "That is a user token (xoxp-…): paste the Bot User OAuth Token (xoxb-…) from Install App.",
            );
        }
        if !bot.starts_with("xoxb-") || !check::token_shaped(bot, 20..=255, b"-") {
            return misplaced(
                "bot_token",
                "That is not a bot token: Slack's Install App page shows one like xoxb-1234-5678-AbCd….",
            );
        }
        if !app.starts_with("xapp-") || !check::token_shaped(app, 20..=255, b"-") {
            return misplaced(
                "app_token",
                "That is not an app-level token: Basic Information → App-Level Tokens gives one like xapp-1-A0123-4567-abcd… (scope connections:write).",
            );
        }
        Ok(Self {
            bot: Zeroizing::new(bot.to_owned()),
            app: Zeroizing::new(app.to_owned()),
        })
    }

    /// The two as one sealed text (a line each; neither can hold a line break).
    pub(crate) fn joined(&self) -> Zeroizing<String> {
        Zeroizing::new(format!("{}\n{}", self.bot.as_str(), self.app.as_str()))
    }

    /// The two from their sealed text.
    pub(crate) fn split(joined: &str) -> Result<Self, String> {
        let (bot, app) = joined
            .split_once('\n')
            .ok_or("the stored Slack tokens are not two")?;
        Ok(Self {
            bot: Zeroizing::new(bot.to_owned()),
            app: Zeroizing::new(app.to_owned()),
        })
    }
}

/// Asks Slack whose bot the bot token is (`@name` in the workspace), and whether the
/// app-level token may open a Socket Mode connection.
pub(crate) async fn who_is(api: &str, tokens: &SlackTokens) -> Result<String, CheckError> {
    let api = check::base(api);
    let client = check::client()?;
    let call = |method: &str, token: &str| {
        client
            .post(format!("{api}/{method}"))
            .bearer_auth(token)
            .header(
                reqwest::header::CONTENT_TYPE,
                "application/x-www-form-urlencoded",
            )
            .body("")
    };
    let (status, me) = check::ask(call("auth.test", &tokens.bot), "Slack").await?;
    refused_or_unreachable(
        status,
        &me,
        "bot_token",
        "bot token",
        "Reinstall the app (Install App) and copy its Bot User OAuth Token again.",
    )?;
    if me["bot_id"].as_str().is_none_or(str::is_empty) {
        return Err(CheckError::invalid(
            "bot_token",
            "That token belongs to a person, not the app's bot: paste the Bot User OAuth Token (xoxb-…) from Install App.",
        ));
    }
    let bot = me["user"].as_str().unwrap_or("bot");
    let team = me["team"].as_str().unwrap_or("the workspace");
    let (status, opened) = check::ask(call("apps.connections.open", &tokens.app), "Slack").await?;
    refused_or_unreachable(
        status,
        &opened,
        "app_token",
        "app-level token",
        "Turn Socket Mode on (Settings → Socket Mode) and generate an app-level token with the connections:write scope (Basic Information → App-Level Tokens).",
    )?;
    Ok(format!("@{bot} in {team}"))
}

/// Slack answers 200 with `ok:false` and an error code for a token it refuses.
fn refused_or_unreachable(
    status: reqwest::StatusCode,
    answer: &serde_json::Value,
    field: &'static str,
    what: &str,
    fix: &str,
) -> Result<(), CheckError> {
    if status.is_success() && answer["ok"] == true {
        return Ok(());
    }
    match answer["error"].as_str() {
        Some(error) if status.is_success() || status.is_client_error() => Err(CheckError::invalid(
            field,
            format!("Slack refused the {what} ({error}). {fix}"),
        )),
        _ => Err(CheckError::Unreachable(format!(
            "Cannot reach Slack: it answered {status}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const BOT: &str = "xoxb-1234567890-0987654321-AbCdEfGhIjKlMnOp";
    const APP: &str = "xapp-1-A0123456789-1234567890-abcdef0123456789";

    #[test]
    fn tokens_are_checked_for_their_form_and_place() {
        let tokens = SlackTokens::check(&format!(" {BOT} "), APP).expect("tokens");
        assert_eq!(tokens.bot.as_str(), BOT);
        let again = SlackTokens::split(&tokens.joined()).expect("split");
        assert_eq!((again.bot.as_str(), again.app.as_str()), (BOT, APP));
        for (bot, app, field, words) in [
            (APP, APP, "bot_token", "second field"),
            (
                "xoxp-1234567890-0987654321-AbCd",
                APP,
                "bot_token",
                "user token",
            ),
            ("xoxb-short", APP, "bot_token", "not a bot token"),
            (BOT, BOT, "app_token", "not an app-level token"),
            (
                BOT,
                "xapp-1-A0123456789-1234567890\nabc",
                "app_token",
                "not an app-level",
            ),
        ] {
            match SlackTokens::check(bot, app) {
                Err(CheckError::Invalid { field: f, message }) => {
                    assert_eq!(f, field, "{bot} {app}");
                    assert!(message.contains(words), "{message}");
                }
                _ => panic!("{bot} {app} accepted"),
            }
        }
        assert!(SlackTokens::split("no line").is_err());
    }

    #[test]
    fn slack_refusals_name_the_token() {
        let ok = json!({"ok": true});
        assert!(
            refused_or_unreachable(reqwest::StatusCode::OK, &ok, "bot_token", "bot token", "")
                .is_ok()
        );
        let refused = json!({"ok": false, "error": "invalid_auth"});
        let error = refused_or_unreachable(
            reqwest::StatusCode::OK,
            &refused,
            "app_token",
            "app-level token",
            "Fix.",
        )
        .expect_err("refused");
        assert!(matches!(
            error,
            CheckError::Invalid {
                field: "app_token",
                ..
            }
        ));
        assert!(error.to_string().contains("invalid_auth"), "{error}");
        let down = refused_or_unreachable(
            reqwest::StatusCode::BAD_GATEWAY,
            &serde_json::Value::Null,
            "bot_token",
            "bot token",
            "",
        )
        .expect_err("down");
        assert!(matches!(down, CheckError::Unreachable(_)));
    }
}
