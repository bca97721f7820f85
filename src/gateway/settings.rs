//! The owner's gateway settings: provider, model, base URL and the sealed key. [`check`] is
//! the whole decision (what a request becomes, given what is stored), without side effects;
//! [`save`] seals a new key and stores the result. The JSON API and the setup page both go
//! through here, so they check and store exactly the same way.

use serde::{Deserialize, Serialize};
use zeroize::Zeroizing;

use super::provider_key;
use super::providers::{self, ProviderKind};
use crate::clock::now_ms;
use crate::egress::Egress;
use crate::secrets::SecretBox;
use crate::store::{self, GatewaySettings, NewEvent, SharedStore, Store, StoreError};
use crate::validation::FieldError;

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct SettingsView {
    pub(crate) provider: Option<String>,
    pub(crate) model: Option<String>,
    pub(crate) base_url: Option<String>,
    pub(crate) key: KeyView,
}

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct KeyView {
    pub(crate) set: bool,
    pub(crate) last4: Option<String>,
}

#[derive(Deserialize, Default, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub(crate) struct SettingsRequest {
    #[schema(schema_with = providers::id_schema)]
    pub(crate) provider: String,
    pub(crate) api_key: Option<String>,
    pub(crate) base_url: Option<String>,
    pub(crate) model: Option<String>,
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum SettingsError {
    #[error("the settings are not valid")]
    Invalid(Vec<FieldError>),
    #[error("no provider is saved yet")]
    NothingSaved,
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the provider key: {0}")]
    Key(String),
}

/// A request that passed every check, before its key is sealed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Checked {
    pub(crate) provider: ProviderKind,
    pub(crate) model: String,
    pub(crate) base_url: Option<String>,
    pub(crate) key: KeyChoice,
}

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum KeyChoice {
    /// A new key to seal.
    New(Zeroizing<String>),
    /// The stored key stays (same provider, no new key given).
    Keep { sealed: Vec<u8>, last4: String },
    /// The provider takes no key.
    None,
}

pub(crate) fn view(settings: Option<GatewaySettings>) -> SettingsView {
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

pub(crate) async fn current(store: &SharedStore) -> Result<SettingsView, StoreError> {
    Ok(view(store::run(store, Store::gateway_settings).await?))
}

/// Checks a request against what is stored; every problem comes back as a field error.
pub(crate) fn check(
    request: SettingsRequest,
    previous: Option<&GatewaySettings>,
) -> Result<Checked, Vec<FieldError>> {
    let Some(provider) = ProviderKind::from_id(&request.provider) else {
        let ids: Vec<&str> = ProviderKind::ALL.iter().map(|p| p.id()).collect();
        return Err(vec![FieldError::new(
            "provider",
            format!("Choose one of: {}.", ids.join(", ")),
        )]);
    };
    let same_provider = previous.is_some_and(|p| p.provider == provider.id());
    let mut errors: Vec<FieldError> = Vec::new();

    // Left out, an endpoint of unknown make keeps the model it had (it has no default).
    let kept = previous
        .filter(|_| same_provider && provider.default_model().is_none())
        .map(|p| p.model.as_str());
    let given = request
        .model
        .as_deref()
        .filter(|m| !m.trim().is_empty())
        .or(kept);
    let model = checked_model(provider, given).unwrap_or_else(|error| {
        errors.push(error);
        String::new()
    });

    let given_url = request
        .base_url
        .as_deref()
        .map(str::trim)
        .filter(|u| !u.is_empty());
    let base_url = match given_url {
        _ if !provider.needs_base_url() => None,
        Some(url) => Some(url.trim_end_matches('/').to_string()),
        None => {
            if let Some(default) = provider.default_base_url() {
                Some(default.to_string())
            } else {
                errors.push(FieldError::new(
                    "base_url",
                    format!(
                        "{} needs the endpoint's base URL, e.g. https://llm.example.com/v1.",
                        provider.name()
                    ),
                ));
                None
            }
        }
    };
    if let Some(url) = &base_url
        && let Err(error) = provider.check_base_url(url)
    {
        errors.push(error);
    }

    let key = match (
        request.api_key.filter(|k| !k.is_empty()),
        provider.needs_key(),
    ) {
        (Some(key), _) => match provider.check_key(&key) {
            Ok(()) => KeyChoice::New(Zeroizing::new(key)),
            Err(error) => {
                errors.push(error);
                KeyChoice::None
            }
        },
        // The stored key goes only where it went before: a new scheme, host or port needs
        // the key again, or anyone holding the session could send it to a server of theirs.
        (None, true)
            if same_provider
                && !same_origin(
                    previous.and_then(|p| p.base_url.as_deref()),
                    base_url.as_deref(),
                ) =>
        {
            errors.push(FieldError::new(
                "api_key",
                format!(
                    "The endpoint is not where the saved key was sent before: paste the {} key again for it.",
                    provider.name()
                ),
            ));
            KeyChoice::None
        }
        (None, true) if same_provider => previous
            .and_then(|p| p.api_key_sealed.clone().zip(p.api_key_last4.clone()))
            .map_or(KeyChoice::None, |(sealed, last4)| KeyChoice::Keep {
                sealed,
                last4,
            }),
        (None, true) => {
            errors.push(FieldError::new(
                "api_key",
                format!("Paste your {} API key.", provider.name()),
            ));
            KeyChoice::None
        }
        (None, false) => KeyChoice::None,
    };
    if !errors.is_empty() {
        return Err(errors);
    }
    Ok(Checked {
        provider,
        model,
        base_url,
        key,
    })
}

/// The model named, or the provider's default; a provider without one needs it named.
fn checked_model(provider: ProviderKind, given: Option<&str>) -> Result<String, FieldError> {
    let given = given.map(str::trim).filter(|m| !m.is_empty());
    let Some(model) = given.or(provider.default_model()) else {
        return Err(FieldError::new(
            "model",
            format!(
                "Name the model to use: {} has no default. Its /models list names the ones it serves.",
                provider.name()
            ),
        ));
    };
    providers::check_model(model)?;
    Ok(model.to_string())
}

/// Whether two base URLs (already checked) name the same scheme, host and port.
fn same_origin(a: Option<&str>, b: Option<&str>) -> bool {
    let origin = |url: Option<&str>| {
        let url = url?.to_ascii_lowercase();
        let (scheme, rest) = url.split_once("://")?;
        let authority = rest.split('/').next().unwrap_or("");
        let default = if scheme == "https" { ":443" } else { ":80" };
        let authority = authority.strip_suffix(default).unwrap_or(authority);
        Some(format!("{scheme}://{authority}"))
    };
    origin(a) == origin(b)
}

/// Checks and saves; `event` is recorded with the change. A new key for the provider the
/// gateway uses now goes to the egress proxy at once.
pub(crate) async fn save(
    store: &SharedStore,
    sealer: &SecretBox,
    egress: &Egress,
    event: NewEvent,
    request: SettingsRequest,
) -> Result<SettingsView, SettingsError> {
    let previous = store::run(store, Store::gateway_settings).await?;
    let checked = check(request, previous.as_ref()).map_err(SettingsError::Invalid)?;
    let (provider, new_key) = match &checked.key {
        KeyChoice::New(key) => (checked.provider, Some(key.clone())),
        _ => (checked.provider, None),
    };
    let (api_key_sealed, api_key_last4) = match checked.key {
        KeyChoice::New(key) => {
            let ciphertext =
                provider_key::seal(sealer, &key).map_err(|e| SettingsError::Key(e.to_string()))?;
            (Some(ciphertext), Some(providers::last4(&key)))
        }
        KeyChoice::Keep { sealed, last4 } => (Some(sealed), Some(last4)),
        KeyChoice::None => (None, None),
    };
    let settings = GatewaySettings {
        provider: checked.provider.id().to_string(),
        model: checked.model,
        base_url: checked.base_url,
        api_key_sealed,
        api_key_last4,
        updated_at: now_ms(),
    };
    let saved = settings.clone();
    store::run(store, move |s| s.save_gateway_settings(&saved, &event)).await?;
    if let Some(key) = new_key {
        let upstream = provider.upstream(settings.base_url.as_deref());
        egress.rekey(&upstream, provider.auth(), &key);
    }
    Ok(view(Some(settings)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(provider: &str, key: Option<&str>) -> SettingsRequest {
        SettingsRequest {
            provider: provider.into(),
            api_key: key.map(str::to_string),
            ..SettingsRequest::default()
        }
    }

    fn stored(provider: &str) -> GatewaySettings {
        GatewaySettings {
            provider: provider.into(),
            model: "m".into(),
            base_url: None,
            api_key_sealed: Some(vec![1, 2, 3]),
            api_key_last4: Some("wxyz".into()),
            updated_at: 0,
        }
    }

    fn fields(errors: &[FieldError]) -> Vec<&str> {
        errors.iter().map(|e| e.field.as_str()).collect()
    }

    #[test]
    fn defaults_fill_what_the_owner_left_out() {
        let checked = check(
            request("anthropic", Some("sk-ant-api03-abcdefghijklmnop")),
            None,
        )
        .expect("valid");
        assert_eq!(
            Some(checked.model.as_str()),
            ProviderKind::Anthropic.default_model()
        );
        assert_eq!(checked.base_url, None, "vendors take no base URL");
        assert!(matches!(checked.key, KeyChoice::New(_)));
        let ollama = check(request("ollama", None), None).expect("valid");
        assert_eq!(ollama.base_url.as_deref(), Some("http://127.0.0.1:11434"));
        assert_eq!(ollama.key, KeyChoice::None);
    }

    #[test]
    fn a_stored_key_stays_only_for_the_same_provider() {
        let previous = stored("anthropic");
        let kept = check(request("anthropic", None), Some(&previous)).expect("kept");
        assert_eq!(
            kept.key,
            KeyChoice::Keep {
                sealed: vec![1, 2, 3],
                last4: "wxyz".into()
            }
        );
        let other = check(request("openai", None), Some(&previous)).expect_err("no key");
        assert_eq!(fields(&other), ["api_key"]);
    }

    /// Issue 11, defect 2: the saved key is never sent to another host without being given
    /// again; another path on the same endpoint is fine.
    #[test]
    fn a_new_endpoint_needs_the_key_again() {
        let mut previous = stored("openai-compatible");
        previous.base_url = Some("https://llm.example.com/v1".into());
        let moved = |url: &str| SettingsRequest {
            provider: "openai-compatible".into(),
            base_url: Some(url.into()),
            model: Some("m".into()),
            ..SettingsRequest::default()
        };
        for elsewhere in [
            "https://evil.example/v1",
            "http://llm.example.com/v1",
            "https://llm.example.com:8443/v1",
        ] {
            let errors = check(moved(elsewhere), Some(&previous)).expect_err(elsewhere);
            assert_eq!(fields(&errors), ["api_key"], "{elsewhere}");
        }
        for same in [
            "https://llm.example.com/v2",
            "https://LLM.example.com:443/v1",
        ] {
            let checked = check(moved(same), Some(&previous)).expect(same);
            assert!(matches!(checked.key, KeyChoice::Keep { .. }), "{same}");
        }
        let with_key = SettingsRequest {
            api_key: Some("a-new-key".into()),
            ..moved("https://other.example/v1")
        };
        assert!(check(with_key, Some(&previous)).is_ok());
    }

    #[test]
    fn every_problem_is_reported_at_once() {
        let bad = SettingsRequest {
            provider: "openai-compatible".into(),
            api_key: Some("a b".into()),
            base_url: None,
            model: Some("--help".into()),
        };
        let errors = check(bad, None).expect_err("invalid");
        assert_eq!(fields(&errors), ["model", "base_url", "api_key"]);
        let unknown = check(request("gemini", None), None).expect_err("unknown");
        assert_eq!(fields(&unknown), ["provider"]);
        assert!(unknown[0].message.contains("openai-compatible"));
        let trailing = SettingsRequest {
            provider: "openai-compatible".into(),
            api_key: Some("k".into()),
            base_url: Some(" http://127.0.0.1:9/v1/ ".into()),
            model: Some("m".into()),
        };
        let checked = check(trailing, None).expect("valid");
        assert_eq!(checked.base_url.as_deref(), Some("http://127.0.0.1:9/v1"));
    }

    /// Issue 12, defect 6: an endpoint of unknown make has no default model; an empty one
    /// was stored as the id `default`, which no such endpoint serves.
    #[test]
    fn an_endpoint_of_unknown_make_needs_a_model() {
        let unnamed = SettingsRequest {
            provider: "openai-compatible".into(),
            api_key: Some("k".into()),
            base_url: Some("http://127.0.0.1:9/v1".into()),
            model: Some("  ".into()),
        };
        let errors = check(unnamed, None).expect_err("no model");
        assert_eq!(fields(&errors), ["model"]);
        assert!(
            errors[0].message.contains("/models"),
            "{}",
            errors[0].message
        );
    }
}
