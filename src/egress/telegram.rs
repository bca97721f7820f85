//! Telegram's Bot API through the egress proxy: the gateway's Telegram channel has
//! `<egress>/telegram` as its `apiRoot` and a virtual token; a request to
//! `/telegram/bot<virtual>/<method>` (or `/telegram/file/bot<virtual>/<path>`) goes to the
//! Bot API with the real token in its place, and its answer streams back (long polls too).
//! The virtual token is the bot's number (public: `getMe` says it, and OpenClaw reads it from
//! the token) and a random secret, new at each gateway start and each new token.

use zeroize::Zeroizing;

use crate::crypto::{hex, random_bytes};

/// Where Telegram's requests enter.
pub(crate) const TELEGRAM: &str = "/telegram";

/// Telegram's API, the real token, and the virtual one the gateway was given.
pub(crate) struct TelegramRoute {
    pub(super) api_root: String,
    pub(super) token: Zeroizing<String>,
    pub(crate) virtual_token: Zeroizing<String>,
}

impl TelegramRoute {
    pub(crate) fn new(api_root: &str, token: Zeroizing<String>) -> Self {
        let bot = token.split(':').next().unwrap_or_default();
        let virtual_token =
            Zeroizing::new(format!("{bot}:clawhost-{}", hex(&random_bytes::<24>())));
        Self {
            api_root: api_root.trim_end_matches('/').to_owned(),
            token,
            virtual_token,
        }
    }
}

/// Whether `token` is a virtual token of clawhost's (kept out of the configuration's history).
pub(crate) fn is_virtual(token: &str) -> bool {
    token.contains(":clawhost-")
}

/// `(files, token, rest)` of `/telegram/bot<token>/<rest>` or `/telegram/file/bot<token>/<rest>`.
pub(super) fn split(path: &str) -> Option<(bool, &str, &str)> {
    let path = path.strip_prefix(TELEGRAM)?;
    let (files, path) = match path.strip_prefix("/file") {
        Some(rest) => (true, rest),
        None => (false, path),
    };
    let (token, rest) = path.strip_prefix("/bot")?.split_once('/')?;
    Some((files, token, rest))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_name_the_token_and_the_rest() {
        assert_eq!(
            split("/telegram/bot1:clawhost-ab/getMe"),
            Some((false, "1:clawhost-ab", "getMe"))
        );
        assert_eq!(
            split("/telegram/file/bot1:x/photos/a.jpg"),
            Some((true, "1:x", "photos/a.jpg"))
        );
        assert_eq!(split("/telegram/bot1:x"), None);
        assert_eq!(split("/upstream/bot1:x/getMe"), None);
        let route = TelegramRoute::new(
            "https://api.telegram.org/",
            Zeroizing::new("42:secret".into()),
        );
        assert!(route.virtual_token.starts_with("42:clawhost-"));
        assert!(is_virtual(&route.virtual_token));
        assert_eq!(route.api_root, "https://api.telegram.org");
    }
}
