//! The owner's gateway settings: provider, model, base URL and the sealed key. Shared by the
//! JSON API and the setup page, so both check and store exactly the same way.

use serde::{Deserialize, Serialize};

use super::providers::{self, PROVIDERS};
use super::supervisor::KEY_PURPOSE;
use crate::auth::ClientInfo;
use crate::clock::now_ms;
use crate::error::{ApiError, FieldError};
use crate::state::AppState;
use crate::store::{self, EventKind, GatewaySettings};

#[derive(Serialize, utoipa::ToSchema)]
pub struct SettingsView {
    pub provider: Option<String>,
    pub model: Option<String>,
    pub base_url: Option<String>,
    pub key: KeyView,
}

#[derive(Serialize, utoipa::ToSchema)]
pub struct KeyView {
    pub set: bool,
    pub last4: Option<String>,
}

pub fn view(settings: Option<GatewaySettings>) -> SettingsView {
    match settings {
        Some(s) => SettingsView {
            provider: Some(s.provider),
            model: Some(s.model),
            base_url: s.base_url,
            key: KeyView {
                set: s.api_key_sealed.is_some(),
                last4: s.api_key_last4,
            },
        },
        None => SettingsView {
            provider: None,
            model: None,
            base_url: None,
            key: KeyView {
                set: false,
                last4: None,
            },
        },
    }
}

/// The stored provider key, opened (in memory only), when one is stored.
pub fn open_key(
    sealer: &crate::secrets::SecretBox,
    settings: &GatewaySettings,
) -> Result<Option<zeroize::Zeroizing<String>>, String> {
    let Some(sealed) = &settings.api_key_sealed else {
        return Ok(None);
    };
    let bytes = sealer
        .open(KEY_PURPOSE, sealed)
        .map_err(|e| e.to_string())?;
    String::from_utf8(bytes.to_vec())
        .map(|key| Some(zeroize::Zeroizing::new(key)))
        .map_err(|_| "the stored key is not text".to_string())
}

pub async fn current(state: &AppState) -> Result<SettingsView, ApiError> {
    let settings = store::run(&state.store, |s| s.gateway_settings()).await?;
    Ok(view(settings))
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SettingsRequest {
    /// One of the ids `/api/gateway/providers` lists.
    #[schema(pattern = r"^(anthropic|openai|openrouter|openai-compatible|ollama)$")]
    pub provider: String,
    pub api_key: Option<String>,
    pub base_url: Option<String>,
    pub model: Option<String>,
}

/// Checks and saves; every problem comes back as a field error.
pub async fn save(
    state: &AppState,
    client: &ClientInfo,
    body: SettingsRequest,
) -> Result<SettingsView, ApiError> {
    let Some(provider) = providers::find(&body.provider) else {
        let ids: Vec<&str> = PROVIDERS.iter().map(|p| p.id).collect();
        return Err(ApiError::field(
            "provider",
            format!("Choose one of: {}.", ids.join(", ")),
        ));
    };
    let previous = store::run(&state.store, |s| s.gateway_settings()).await?;
    let same_provider = previous.as_ref().is_some_and(|p| p.provider == provider.id);
    let mut errors: Vec<FieldError> = Vec::new();

    let model = body
        .model
        .as_deref()
        .map(str::trim)
        .filter(|m| !m.is_empty())
        .unwrap_or(provider.default_model)
        .to_string();
    if let Err(error) = providers::check_model(&model) {
        errors.push(error);
    }

    let base_url = match body
        .base_url
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty())
    {
        _ if !provider.needs_base_url => None,
        Some(url) => Some(url.trim_end_matches('/').to_string()),
        None => match provider.default_base_url {
            Some(default) => Some(default.to_string()),
            None => {
                errors.push(FieldError::new(
                    "base_url",
                    format!(
                        "{} needs the endpoint's base URL, e.g. https://llm.example.com/v1.",
                        provider.name
                    ),
                ));
                None
            }
        },
    };
    if let Some(url) = &base_url
        && let Err(error) = providers::check_base_url(provider, url)
    {
        errors.push(error);
    }

    let key = body.api_key.filter(|k| !k.is_empty());
    let sealed = match (&key, provider.needs_key) {
        (Some(key), _) => match providers::check_key(provider, key) {
            Ok(()) => Some((
                state
                    .sealer
                    .seal(KEY_PURPOSE, key.as_bytes())
                    .map_err(ApiError::internal)?,
                providers::last4(key),
            )),
            Err(error) => {
                errors.push(error);
                None
            }
        },
        (None, true) if same_provider => previous
            .as_ref()
            .and_then(|p| p.api_key_sealed.clone().zip(p.api_key_last4.clone())),
        (None, true) => {
            errors.push(FieldError::new(
                "api_key",
                format!("Paste your {} API key.", provider.name),
            ));
            None
        }
        (None, false) => None,
    };
    if !errors.is_empty() {
        return Err(ApiError::Validation(errors));
    }
    let (api_key_sealed, api_key_last4) = sealed.unzip();
    let settings = GatewaySettings {
        provider: provider.id.to_string(),
        model,
        base_url,
        api_key_sealed,
        api_key_last4,
        updated_at: now_ms(),
    };
    let event = client.event(EventKind::GatewaySettingsChanged);
    let saved = settings.clone();
    store::run(&state.store, move |s| {
        s.save_gateway_settings(&saved, &event)
    })
    .await?;
    Ok(view(Some(settings)))
}
