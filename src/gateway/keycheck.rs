//! "Test key": one cheap, real call to the chosen provider (its model list, or OpenRouter's
//! key endpoint) with a short timeout, to tell the owner whether the key works before the
//! gateway starts. Redirects are not followed, so a base URL cannot bounce the key elsewhere.

use reqwest::StatusCode;

use super::provider_key;
use super::providers::{ProbeAuth, ProviderKind};
use super::settings::SettingsError;
use crate::secrets::SecretBox;
use crate::store::{self, SharedStore, Store};

/// How a test of the saved key went, in a sentence for the owner.
pub(crate) struct KeyTest {
    pub(crate) ok: bool,
    pub(crate) detail: String,
}

/// Tests the saved provider settings with their (opened) key.
pub(crate) async fn test_saved(
    store: &SharedStore,
    sealer: &SecretBox,
) -> Result<KeyTest, SettingsError> {
    let settings = store::run(store, Store::gateway_settings)
        .await?
        .ok_or(SettingsError::NothingSaved)?;
    let key = provider_key::open(sealer, &settings).map_err(SettingsError::Key)?;
    let outcome = match ProviderKind::from_id(&settings.provider) {
        Some(provider) => {
            check(
                provider,
                settings.base_url.as_deref(),
                key.as_ref().map(|k| k.as_str()),
            )
            .await
        }
        None => Err("Unknown provider; choose one again.".to_string()),
    };
    Ok(KeyTest {
        ok: outcome.is_ok(),
        detail: match outcome {
            Ok(detail) | Err(detail) => detail,
        },
    })
}

/// `Ok(what worked)` or `Err(what to do)`, both as sentences for the owner.
async fn check(
    provider: ProviderKind,
    base_url: Option<&str>,
    key: Option<&str>,
) -> Result<String, String> {
    let client = crate::outbound::client()?;
    let key = key.unwrap_or_default();
    let probe = provider.probe(base_url);
    let request = client.get(&probe.url);
    let request = match probe.auth {
        ProbeAuth::Bearer => request.bearer_auth(key),
        ProbeAuth::AnthropicHeaders => request
            .header("x-api-key", key)
            .header("anthropic-version", "2023-06-01"),
        ProbeAuth::None => request,
    };
    let response = request.send().await.map_err(|error| {
        if error.is_timeout() {
            format!(
                "{} did not answer within {} s.",
                provider.name(),
                crate::outbound::TIMEOUT.as_secs()
            )
        } else {
            format!(
                "Cannot reach {}: check the URL and the network ({}).",
                provider.name(),
                without_url(&error)
            )
        }
    })?;
    match response.status() {
        status if status.is_success() => Ok(format!("{} accepted the key.", provider.name())),
        StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN => Err(format!(
            "{} refused the key ({}). Check that you pasted the whole key and that it is active.",
            provider.name(),
            response.status().as_u16()
        )),
        StatusCode::NOT_FOUND if provider.needs_base_url() => Err(format!(
            "{} answered 404: the base URL is probably wrong (for OpenAI-compatible endpoints it usually ends in /v1).",
            provider.name()
        )),
        status => Err(format!("{} answered {}.", provider.name(), status.as_u16())),
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
