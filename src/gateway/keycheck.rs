//! "Test key": one cheap, real call to the chosen provider (its model list, or OpenRouter's
//! key endpoint) with a short timeout, to tell the owner whether the key works before the
//! gateway starts. Redirects are not followed, so a base URL cannot bounce the key elsewhere.

use std::sync::OnceLock;
use std::time::Duration;

use reqwest::StatusCode;

use super::providers;
use crate::store::GatewaySettings;

const TIMEOUT: Duration = Duration::from_secs(10);

fn client() -> Result<&'static reqwest::Client, String> {
    static CLIENT: OnceLock<Result<reqwest::Client, String>> = OnceLock::new();
    CLIENT
        .get_or_init(|| {
            // Another part of the process may have installed it already; either is fine.
            let _ = rustls::crypto::ring::default_provider().install_default();
            reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .timeout(TIMEOUT)
                .connect_timeout(Duration::from_secs(5))
                .user_agent(concat!("clawhost/", env!("CARGO_PKG_VERSION")))
                .build()
                .map_err(|e| e.to_string())
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// `Ok(what worked)` or `Err(what to do)`, both as sentences for the owner.
pub async fn check(settings: &GatewaySettings, key: Option<&str>) -> Result<String, String> {
    let provider =
        providers::find(&settings.provider).ok_or("Unknown provider; choose one again.")?;
    let client = client()?;
    let key = key.unwrap_or_default();
    let base = settings
        .base_url
        .as_deref()
        .unwrap_or_default()
        .trim_end_matches('/');
    let request = match provider.id {
        "anthropic" => client
            .get("https://api.anthropic.com/v1/models")
            .header("x-api-key", key)
            .header("anthropic-version", "2023-06-01"),
        "openai" => client
            .get("https://api.openai.com/v1/models")
            .bearer_auth(key),
        "openrouter" => client
            .get("https://openrouter.ai/api/v1/key")
            .bearer_auth(key),
        "openai-compatible" => client.get(format!("{base}/models")).bearer_auth(key),
        "ollama" => client.get(format!("{base}/api/tags")),
        _ => return Err("This provider cannot be tested.".into()),
    };
    let response = request.send().await.map_err(|error| {
        if error.is_timeout() {
            format!(
                "{} did not answer within {} s.",
                provider.name,
                TIMEOUT.as_secs()
            )
        } else {
            format!(
                "Cannot reach {}: check the URL and the network ({}).",
                provider.name,
                without_url(&error)
            )
        }
    })?;
    match response.status() {
        status if status.is_success() => Ok(format!("{} accepted the key.", provider.name)),
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(format!(
            "{} refused the key ({}). Check that you pasted the whole key and that it is active.",
            provider.name,
            response.status().as_u16()
        )),
        StatusCode::NOT_FOUND if provider.needs_base_url => Err(format!(
            "{} answered 404: the base URL is probably wrong (for OpenAI-compatible endpoints it usually ends in /v1).",
            provider.name
        )),
        status => Err(format!("{} answered {}.", provider.name, status.as_u16())),
    }
}

/// reqwest's errors quote the URL; the message shown needs only the cause.
fn without_url(error: &reqwest::Error) -> String {
    let mut source: Option<&dyn std::error::Error> = std::error::Error::source(error);
    let mut last = error.to_string();
    while let Some(inner) = source {
        last = inner.to_string();
        source = inner.source();
    }
    last
}
