//! The replaced wrapper's sign-in, kept for its users (`auth.session_exchange.url`, off by
//! default): a sign-in broker sends the browser back with an opaque session id (in the URL
//! fragment); the page hands it to clawhost, which asks the broker, server to server, who
//! that session is (`GET <url>` with `X-Session-ID`). Only an answer naming the owner's email,
//! the one the owner set in the settings, and saying the broker verified it, signs in.
//!
//! The broker is called through the one outbound client (no redirects followed), with a
//! 5 s limit and an answer of at most 64 KiB; a session id is 1 to 512 visible ASCII
//! characters.

use std::time::Duration;

use crate::outbound::{BodyError, body_up_to};

const TIMEOUT: Duration = Duration::from_secs(5);
const MAX_ANSWER: usize = 64 * 1024;
pub(crate) const MAX_SESSION_ID: usize = 512;

#[derive(Debug, thiserror::Error)]
pub(crate) enum ExchangeError {
    #[error("no sign-in broker is configured")]
    NotConfigured,
    /// The broker could not be asked, or answered what is not a session.
    #[error("{0}")]
    Unreachable(String),
}

/// Who the broker says the session is.
#[derive(Debug, serde::Deserialize)]
struct BrokerAnswer {
    email: Option<String>,
    #[serde(default)]
    email_verified: bool,
}

/// Why a broker's answer signs nobody in (for the event, never the page).
pub(crate) enum Refusal {
    Unknown(u16),
    Unverified,
    NotTheOwner,
}

pub(crate) struct SessionExchange {
    url: String,
    http: reqwest::Client,
}

impl SessionExchange {
    pub(crate) fn new(url: String) -> Result<Self, String> {
        Ok(Self {
            url,
            http: crate::outbound::client()?.clone(),
        })
    }

    /// The broker's answer for `session_id`: its email when it vouches for one, or why not.
    pub(crate) async fn ask(
        &self,
        session_id: &str,
    ) -> Result<Result<String, Refusal>, ExchangeError> {
        let unreachable = |why: String| ExchangeError::Unreachable(why);
        let mut response = self
            .http
            .get(&self.url)
            .header("x-session-id", session_id)
            .timeout(TIMEOUT)
            .send()
            .await
            .map_err(|e| {
                unreachable(if e.is_timeout() {
                    format!("it did not answer within {} s", TIMEOUT.as_secs())
                } else {
                    "it could not be reached".into()
                })
            })?;
        let status = response.status();
        if status.is_redirection() {
            return Err(unreachable(format!(
                "it answered with a redirect ({status}), which clawhost does not follow"
            )));
        }
        if status.is_client_error() {
            return Ok(Err(Refusal::Unknown(status.as_u16())));
        }
        if !status.is_success() {
            return Err(unreachable(format!("it answered {status}")));
        }
        // The request's time limit covers its body too.
        let body = body_up_to(&mut response, MAX_ANSWER)
            .await
            .map_err(|error| match error {
                BodyError::TooLarge => unreachable(format!(
                    "its answer is larger than {} KiB",
                    MAX_ANSWER / 1024
                )),
                BodyError::Broken(e) if e.is_timeout() => {
                    unreachable("its answer did not arrive in time".into())
                }
                BodyError::Broken(_) => unreachable("its answer broke off".into()),
            })?;
        let answer: BrokerAnswer = serde_json::from_slice(&body)
            .map_err(|_| unreachable("its answer is not the JSON of a session".into()))?;
        Ok(match answer.email {
            Some(email) if answer.email_verified => Ok(email),
            _ => Err(Refusal::Unverified),
        })
    }
}

/// A session id as brokers make them: visible ASCII, bounded.
pub(crate) fn checked_session_id(id: &str) -> Option<&str> {
    let id = id.trim();
    let fine =
        !id.is_empty() && id.len() <= MAX_SESSION_ID && id.bytes().all(|b| b.is_ascii_graphic());
    fine.then_some(id)
}

/// Emails compare as their owners type them: without surrounding space, in any case.
pub(crate) fn same_email(a: &str, b: &str) -> bool {
    a.trim().eq_ignore_ascii_case(b.trim())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn session_ids_are_visible_ascii_and_bounded() {
        assert_eq!(checked_session_id(" abc-123_XYZ "), Some("abc-123_XYZ"));
        for bad in ["", "   ", "a b", "a\nb", "é", &"x".repeat(513)] {
            assert!(checked_session_id(bad).is_none(), "{bad:?}");
        }
        assert!(checked_session_id(&"x".repeat(512)).is_some());
    }

    #[test]
    fn emails_compare_without_case_or_space() {
        assert!(same_email("Owner@Example.com ", "owner@example.com"));
        assert!(!same_email("owner@example.com.evil", "owner@example.com"));
    }
}
