//! The one HTTP client for clawhost's own requests out (testing a provider key, an OpenID
//! Connect issuer): pooled, rustls on ring, never following a redirect (an answer that points
//! elsewhere is reported, not obeyed, so no setting can be turned into a request to a host
//! nobody named), with its own timeouts.

use std::sync::OnceLock;
use std::time::Duration;

pub(crate) const TIMEOUT: Duration = Duration::from_secs(10);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// The shared client; an error only when the TLS setup itself fails.
pub(crate) fn client() -> Result<&'static reqwest::Client, String> {
    static CLIENT: OnceLock<Result<reqwest::Client, String>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            // Another part of the process may have installed it already; either is fine.
            let _ = rustls::crypto::ring::default_provider().install_default();
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(TIMEOUT)
                .connect_timeout(CONNECT_TIMEOUT)
                .user_agent(concat!("clawhost/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// Why an answer's body was not read whole.
pub(crate) enum BodyError {
    /// It is longer than the caller takes.
    TooLarge,
    /// It broke off, or did not arrive within the request's time.
    Broken(reqwest::Error),
}

/// An answer's body, read as it arrives up to `max` bytes: a longer one is not read on.
pub(crate) async fn body_up_to(
    response: &mut reqwest::Response,
    max: usize,
) -> Result<Vec<u8>, BodyError> {
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await.map_err(BodyError::Broken)? {
        if body.len() + chunk.len() > max {
            return Err(BodyError::TooLarge);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}
