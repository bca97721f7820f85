//! Checking a channel's token with the channel before anything is kept: what the check can
//! say, and how clawhost asks (its one outbound client, a bounded answer, and words that
//! never quote a URL, which may hold a token).

use reqwest::StatusCode;
use serde_json::Value;

use crate::outbound::{BodyError, body_up_to};

/// The answers checked (`getMe`, `users/@me`, `auth.test` …) are a few hundred bytes.
const ANSWER_MAX: usize = 64 * 1024;

#[derive(Debug, thiserror::Error)]
pub(crate) enum CheckError {
    /// What the owner gave in `field` cannot be used: its form, or the channel refused it.
    #[error("{message}")]
    Invalid {
        field: &'static str,
        message: String,
    },
    /// The channel could not be asked, or answered nothing that can be read.
    #[error("{0}")]
    Unreachable(String),
}

impl CheckError {
    pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        Self::Invalid {
            field,
            message: message.into(),
        }
    }
}

/// Sends `request` and reads its answer as JSON (`Value::Null` when it is not JSON);
/// `service` names who was asked in the error.
pub(crate) async fn ask(
    request: reqwest::RequestBuilder,
    service: &str,
) -> Result<(StatusCode, Value), CheckError> {
    let unreachable =
        |why: String| CheckError::Unreachable(format!("Cannot reach {service}: {why}"));
    let mut answer = request
        .send()
        .await
        // reqwest's words quote the URL, which may hold the token.
        .map_err(|e| unreachable(e.without_url().to_string()))?;
    let status = answer.status();
    let body = body_up_to(&mut answer, ANSWER_MAX)
        .await
        .map_err(|e| match e {
            BodyError::TooLarge => unreachable("the answer is too large".into()),
            BodyError::Broken(e) => unreachable(e.without_url().to_string()),
        })?;
    Ok((status, serde_json::from_slice(&body).unwrap_or(Value::Null)))
}

/// The shared outbound client, or why there is none.
pub(crate) fn client() -> Result<&'static reqwest::Client, CheckError> {
    crate::outbound::client().map_err(CheckError::Unreachable)
}

/// The last four characters of a token, which is all of it ever shown.
pub(crate) fn last4(token: &str) -> String {
    let start = token
        .char_indices()
        .rev()
        .nth(3)
        .map_or(0, |(index, _)| index);
    token[start..].to_owned()
}

/// A token that is only letters, digits and `allowed`, of a length in `lengths`.
pub(crate) fn token_shaped(
    token: &str,
    lengths: std::ops::RangeInclusive<usize>,
    allowed: &[u8],
) -> bool {
    lengths.contains(&token.len())
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || allowed.contains(&b))
}

/// An API base the owner configured: `base` with no trailing slash.
pub(crate) fn base(base: &str) -> &str {
    base.trim_end_matches('/')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_last_four_are_shown() {
        assert_eq!(last4("123456789:AAHdqTcvCH1vGWJ"), "1vGWJ"[1..]);
        assert_eq!(last4("ab"), "ab");
        assert_eq!(last4("xoxb-é1234"), "1234");
        assert!(token_shaped("xoxb-1-a", 1..=10, b"-"));
        assert!(!token_shaped("xoxb 1", 1..=10, b"-"));
        assert!(!token_shaped("xoxb-1", 7..=10, b"-"));
        assert_eq!(base("https://slack.com/api/"), "https://slack.com/api");
    }
}
