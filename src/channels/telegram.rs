//! Telegram set up from clawhost: the bot token is checked with Telegram (`getMe`) before
//! anything is kept, sealed at rest, and never given to the gateway. The gateway's Telegram
//! channel gets the egress proxy as its `apiRoot` and a virtual token; the proxy puts the
//! real token into each request's path (see [`crate::egress`]).

use zeroize::Zeroizing;

use super::check::{self, CheckError};
use crate::secrets::SecretBox;
use crate::store::ChannelToken;

pub(crate) const CHANNEL: &str = "telegram";
/// Telegram's Bot API, unless the owner runs their own.
pub(crate) const PUBLIC_API: &str = "https://api.telegram.org";

/// A bot token as @BotFather gives it: the bot's number, a colon, its secret.
pub(crate) fn check_token(token: &str) -> Result<&str, CheckError> {
    let token = token.trim();
    let fits = token.split_once(':').is_some_and(|(id, secret)| {
        (1..=20).contains(&id.len())
            && id.bytes().all(|b| b.is_ascii_digit())
            && (20..=100).contains(&secret.len())
            && secret
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    });
    if fits {
        Ok(token)
    } else {
        Err(CheckError::invalid(
            "bot_token",
            "That is not a bot token: @BotFather gives one like 123456789:AAH… (digits, a colon, then letters).",
        ))
    }
}

/// The Bot API's root: `https://api.telegram.org`, or an `http(s)` URL of a server of the
/// owner's, without a trailing slash, query or fragment.
pub(crate) fn check_api_root(root: Option<&str>) -> Result<String, CheckError> {
    let Some(root) = root.map(str::trim).filter(|r| !r.is_empty()) else {
        return Ok(PUBLIC_API.to_owned());
    };
    let invalid = |message: String| CheckError::invalid("api_root", message);
    let parsed = reqwest::Url::parse(root)
        .map_err(|e| invalid(format!("The Bot API URL is not a URL: {e}.")))?;
    if !matches!(parsed.scheme(), "http" | "https")
        || parsed.host().is_none()
        || parsed.query().is_some()
        || parsed.fragment().is_some()
        || !parsed.username().is_empty()
        || parsed.password().is_some()
    {
        return Err(invalid(
            "The Bot API URL must be http(s)://host[:port][/path], with no query or credentials."
                .into(),
        ));
    }
    Ok(root.trim_end_matches('/').to_owned())
}

/// Asks Telegram who the bot is: its `@username`, or why not.
pub(crate) async fn who_is(api_root: &str, token: &str) -> Result<String, CheckError> {
    let request = check::client()?.get(format!("{api_root}/bot{token}/getMe"));
    let (status, answer) = check::ask(request, "Telegram's Bot API").await?;
    if answer["ok"] == true && answer["result"]["is_bot"] == true {
        let name = answer["result"]["username"].as_str().unwrap_or_default();
        return Ok(format!("@{name}"));
    }
    let said = answer["description"]
        .as_str()
        .map_or_else(|| status.to_string(), |d| format!("{status}: {d}"));
    if status.is_client_error() {
        Err(CheckError::invalid(
            "bot_token",
            format!("Telegram refused the token ({said}). Copy it again from @BotFather (/token)."),
        ))
    } else {
        Err(CheckError::Unreachable(format!(
            "Cannot reach Telegram's Bot API: it answered {said}"
        )))
    }
}

/// The stored token, opened (in memory only).
pub(crate) fn open(sealer: &SecretBox, stored: &ChannelToken) -> Result<Zeroizing<String>, String> {
    super::open_token(sealer, stored)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_and_roots_are_checked() {
        assert!(check_token(" 123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw ").is_ok());
        for bad in [
            "",
            "123456789",
            "abc:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw",
            "123:short",
            "123456789:AAHdqTcvCH1vGWJxfSeofSAs0K5PALDsaw/../x",
        ] {
            assert!(check_token(bad).is_err(), "{bad}");
        }
        assert_eq!(check_api_root(None).expect("default"), PUBLIC_API);
        assert_eq!(
            check_api_root(Some("http://127.0.0.1:8081/")).expect("own server"),
            "http://127.0.0.1:8081"
        );
        for bad in [
            "ftp://x",
            "127.0.0.1:8081",
            "https://x/?a=1",
            "https://u:p@x",
        ] {
            assert!(check_api_root(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_sealed_token_opens_only_as_a_token() {
        let dir = tempfile::tempdir().expect("dir");
        let sealer = SecretBox::load_or_create(&dir.path().join("secret.key"), true).expect("key");
        let mut stored = ChannelToken {
            channel: CHANNEL.into(),
            sealed: super::super::seal_token(&sealer, CHANNEL, "1:x").expect("seal"),
            last4: "1:x".into(),
            api_root: None,
            account: None,
            updated_at: 0,
            mention_only: false,
        };
        assert_eq!(open(&sealer, &stored).expect("open").as_str(), "1:x");
        stored.sealed = sealer.seal("another/purpose", b"1:x").expect("seal");
        assert!(open(&sealer, &stored).is_err());
    }
}
