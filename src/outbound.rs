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
