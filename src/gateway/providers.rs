//! The LLM providers clawhost can configure. A provider is one value, [`ProviderKind`]: what
//! the owner must give for it (a key of a known shape, a base URL), the one cheap call that
//! tests a key, the OpenClaw config fragment it needs, and its default model. Nothing else in
//! clawhost decides by a provider's id.
//!
//! The gateway never holds a key: its provider's base URL is clawhost's egress proxy
//! (`crate::egress`), and the key it is given is that proxy's virtual key, named in the
//! config by a SecretRef to [`EGRESS_KEY_ENV`]. The proxy sends the real key on to
//! [`ProviderKind::upstream`].

use serde::Serialize;
use serde_json::{Value, json};

use crate::validation::FieldError;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProviderKind {
    Anthropic,
    OpenAi,
    OpenRouter,
    OpenAiCompatible,
    Ollama,
}

/// What a key for a provider looks like.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct KeyRule {
    prefix: &'static str,
    min: usize,
    max: usize,
    /// Vendor keys are `[A-Za-z0-9_-]`; other endpoints may use anything printable.
    strict_charset: bool,
}

/// The environment variable that holds the egress proxy's virtual key for the gateway.
pub(crate) const EGRESS_KEY_ENV: &str = "CLAWHOST_EGRESS_KEY";

const VENDOR_KEY_CHARS: (usize, usize) = (20, 256);

/// How a provider is described to the owner (the API's provider list, the setup page).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub(crate) struct Provider {
    pub(crate) id: &'static str,
    pub(crate) name: &'static str,
    pub(crate) needs_key: bool,
    pub(crate) needs_base_url: bool,
    /// Model id within the provider (the part after `provider/` in OpenClaw's model ref);
    /// `null` where only the endpoint knows its models, so the owner must name one.
    pub(crate) default_model: Option<&'static str>,
}

/// The one request that tells whether a key works, before the gateway starts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Probe {
    pub(crate) url: String,
    pub(crate) auth: ProbeAuth,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum ProbeAuth {
    /// `Authorization: Bearer <key>`.
    Bearer,
    /// Anthropic's own headers: `x-api-key` and the API version.
    AnthropicHeaders,
    /// No key (a local Ollama).
    None,
}

impl ProviderKind {
    /// Every provider, in the order the owner is offered them.
    pub(crate) const ALL: [ProviderKind; 5] = [
        ProviderKind::Anthropic,
        ProviderKind::OpenAi,
        ProviderKind::OpenRouter,
        ProviderKind::OpenAiCompatible,
        ProviderKind::Ollama,
    ];

    /// The one the setup page selects before the owner chose any.
    pub(crate) const DEFAULT: ProviderKind = Self::ALL[0];

    pub(crate) fn from_id(id: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|kind| kind.id() == id)
    }

    /// The id clawhost stores and the API takes.
    pub(crate) fn id(self) -> &'static str {
        match self {
            ProviderKind::Anthropic => "anthropic",
            ProviderKind::OpenAi => "openai",
            ProviderKind::OpenRouter => "openrouter",
            ProviderKind::OpenAiCompatible => "openai-compatible",
            ProviderKind::Ollama => "ollama",
        }
    }

    pub(crate) fn name(self) -> &'static str {
        match self {
            ProviderKind::Anthropic => "Anthropic",
            ProviderKind::OpenAi => "OpenAI",
            ProviderKind::OpenRouter => "OpenRouter",
            ProviderKind::OpenAiCompatible => "OpenAI-compatible endpoint",
            ProviderKind::Ollama => "Ollama (local)",
        }
    }

    /// The model used when the owner names none; an endpoint of unknown make has none.
    pub(crate) fn default_model(self) -> Option<&'static str> {
        match self {
            ProviderKind::Anthropic => Some("claude-opus-5"),
            ProviderKind::OpenAi => Some("gpt-6-astra"),
            ProviderKind::OpenRouter => Some("auto"),
            ProviderKind::OpenAiCompatible => None,
            ProviderKind::Ollama => Some("gemma4"),
        }
    }

    fn key_rule(self) -> Option<KeyRule> {
        let vendor = |prefix| KeyRule {
            prefix,
            min: VENDOR_KEY_CHARS.0,
            max: VENDOR_KEY_CHARS.1,
            strict_charset: true,
        };
        match self {
            ProviderKind::Anthropic => Some(vendor("sk-ant-")),
            ProviderKind::OpenAi => Some(vendor("sk-")),
            ProviderKind::OpenRouter => Some(vendor("sk-or-")),
            ProviderKind::OpenAiCompatible => Some(KeyRule {
                prefix: "",
                min: 1,
                max: 1024,
                strict_charset: false,
            }),
            ProviderKind::Ollama => None,
        }
    }

    pub(crate) fn needs_key(self) -> bool {
        self.key_rule().is_some()
    }

    pub(crate) fn needs_base_url(self) -> bool {
        matches!(self, ProviderKind::OpenAiCompatible | ProviderKind::Ollama)
    }

    /// The base URL taken when the owner gives none (where one is needed).
    pub(crate) fn default_base_url(self) -> Option<&'static str> {
        match self {
            ProviderKind::Ollama => Some("http://127.0.0.1:11434"),
            _ => None,
        }
    }

    /// The id under `models.providers` in openclaw.json.
    pub(crate) fn openclaw_id(self) -> &'static str {
        match self {
            ProviderKind::OpenAiCompatible => "custom",
            other => other.id(),
        }
    }

    /// clawhost writes this provider's whole `models.providers` entry (endpoint and model
    /// list), so switching to another provider removes the entry, not only the key.
    pub(crate) fn owns_its_config_entry(self) -> bool {
        self == ProviderKind::OpenAiCompatible
    }

    pub(crate) fn describe(self) -> Provider {
        Provider {
            id: self.id(),
            name: self.name(),
            needs_key: self.needs_key(),
            needs_base_url: self.needs_base_url(),
            default_model: self.default_model(),
        }
    }

    /// Checks a key for this provider; the message says what a good one looks like.
    pub(crate) fn check_key(self, key: &str) -> Result<(), FieldError> {
        let error = |message: String| Err(FieldError::new("api_key", message));
        let Some(rule) = self.key_rule() else {
            return error(format!("{} needs no key; leave it empty.", self.name()));
        };
        if key.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return error("The key must not contain spaces, line breaks or control characters; copy it again without them.".into());
        }
        let chars = key.chars().count();
        if chars < rule.min || chars > rule.max {
            return error(format!(
                "{} keys are {} to {} characters long; this one has {chars}.",
                self.name(),
                rule.min,
                rule.max
            ));
        }
        if !key.starts_with(rule.prefix) {
            return error(format!(
                "{} keys start with \"{}\"; check that you copied the whole key for the right provider.",
                self.name(),
                rule.prefix
            ));
        }
        if rule.strict_charset
            && !key
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return error(format!(
                "{} keys contain only letters, digits, '-' and '_'.",
                self.name()
            ));
        }
        Ok(())
    }

    /// An `http(s)://host[:port][/path]` URL with no credentials, query or fragment.
    pub(crate) fn check_base_url(self, url: &str) -> Result<(), FieldError> {
        let error = |message: &str| Err(FieldError::new("base_url", message));
        if url.len() > 2048 || url.chars().any(|c| c.is_whitespace() || c.is_control()) {
            return error("Enter a URL like https://llm.example.com/v1, without spaces.");
        }
        let Some((scheme, rest)) = url.split_once("://") else {
            return error("Enter a full URL starting with http:// or https://.");
        };
        if !matches!(scheme, "http" | "https") {
            return error("The URL must start with http:// or https://.");
        }
        let host = rest.split('/').next().unwrap_or("");
        if host.is_empty() || host.contains('@') {
            return error("The URL needs a host, and no user name or password in it.");
        }
        if url.contains(['?', '#']) {
            return error("Leave out any ?query or #fragment.");
        }
        if self == ProviderKind::Ollama && url.trim_end_matches('/').ends_with("/v1") {
            return error("Use Ollama's native URL without /v1, e.g. http://127.0.0.1:11434.");
        }
        Ok(())
    }

    /// Where the provider's API is, as its clients name it (the path they add follows):
    /// what the egress proxy sends the gateway's requests on to.
    pub(crate) fn upstream(self, base_url: Option<&str>) -> String {
        let given = base_url.or(self.default_base_url()).unwrap_or_default();
        match self {
            // Anthropic's clients add `/v1/messages`.
            ProviderKind::Anthropic => "https://api.anthropic.com",
            ProviderKind::OpenAi => "https://api.openai.com/v1",
            ProviderKind::OpenRouter => "https://openrouter.ai/api/v1",
            ProviderKind::OpenAiCompatible | ProviderKind::Ollama => given,
        }
        .trim_end_matches('/')
        .to_owned()
    }

    /// How the provider takes its key.
    pub(crate) fn auth(self) -> ProbeAuth {
        match self {
            ProviderKind::Anthropic => ProbeAuth::AnthropicHeaders,
            ProviderKind::Ollama => ProbeAuth::None,
            ProviderKind::OpenAi | ProviderKind::OpenRouter | ProviderKind::OpenAiCompatible => {
                ProbeAuth::Bearer
            }
        }
    }

    /// The cheapest real call that needs the key: the model list (OpenRouter's key endpoint).
    pub(crate) fn probe(self, base_url: Option<&str>) -> Probe {
        let path = match self {
            ProviderKind::Anthropic => "/v1/models",
            ProviderKind::OpenAi | ProviderKind::OpenAiCompatible => "/models",
            ProviderKind::OpenRouter => "/key",
            ProviderKind::Ollama => "/api/tags",
        };
        Probe {
            url: format!("{}{path}", self.upstream(base_url)),
            auth: self.auth(),
        }
    }

    /// What `models.providers.<openclaw_id>` and the primary model become for these choices,
    /// with the egress proxy at `egress` as the provider's base URL. `auth: "api-key"` makes
    /// OpenClaw take the configured key over any it might find elsewhere.
    pub(crate) fn config_fragment(self, model: &str, egress: &str) -> (Value, String) {
        let mut fragment = match self {
            ProviderKind::OpenAiCompatible => json!({
                "api": "openai-completions",
                "models": [{
                    "id": model,
                    "name": model,
                    "input": ["text"],
                    "contextWindow": 128_000,
                    "maxTokens": 4096,
                }],
            }),
            ProviderKind::Ollama => json!({
                "api": "ollama",
                "models": [{"id": model, "name": model}],
            }),
            // The built-in OpenClaw runtime, not a plugin runtime that would try to install itself.
            ProviderKind::OpenAi => json!({"agentRuntime": {"id": "openclaw"}}),
            ProviderKind::Anthropic | ProviderKind::OpenRouter => json!({}),
        };
        fragment["baseUrl"] = json!(egress);
        fragment["apiKey"] = json!({"source": "env", "provider": "default", "id": EGRESS_KEY_ENV});
        fragment["auth"] = json!("api-key");
        (fragment, format!("{}/{model}", self.openclaw_id()))
    }
}

/// The `provider` field's schema in the OpenAPI document: exactly the ids of [`ProviderKind::ALL`].
pub(crate) fn id_schema() -> utoipa::openapi::schema::Object {
    let ids: Vec<&str> = ProviderKind::ALL.iter().map(|kind| kind.id()).collect();
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::String)
        .description(Some("One of the ids `/api/gateway/providers` lists."))
        .enum_values(Some(ids.clone()))
        .pattern(Some(format!("^({})$", ids.join("|"))))
        .build()
}

/// Model ids as OpenClaw refers to them: `claude-opus-5`, `google/gemini-3.1-flash`, `llama3:8b`.
pub(crate) fn check_model(model: &str) -> Result<(), FieldError> {
    let ok = !model.is_empty()
        && model.len() <= 200
        && !model.starts_with(['/', '-', '.'])
        && model
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._:/@+-".contains(c));
    if ok {
        Ok(())
    } else {
        Err(FieldError::new(
            "model",
            "Use the model's id as the provider writes it, e.g. gpt-6-astra or google/gemini-3.1-flash (letters, digits and . _ : / @ + -).",
        ))
    }
}

/// The key's last four characters, to show which key is set without showing it.
pub(crate) fn last4(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    chars[chars.len().saturating_sub(4)..].iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider(id: &str) -> ProviderKind {
        ProviderKind::from_id(id).expect("provider")
    }

    #[test]
    fn vendor_keys_are_checked() {
        let anthropic = provider("anthropic");
        assert!(anthropic.check_key("sk-ant-api03-abcdefghijklmnop").is_ok());
        let wrong = anthropic
            .check_key("sk-or-v1-abcdefghijklmnopqrs")
            .expect_err("prefix");
        assert!(wrong.message.contains("sk-ant-"), "{}", wrong.message);
        assert!(anthropic.check_key("sk-ant-short").is_err());
        assert!(
            anthropic
                .check_key("sk-ant-api03 abcdefghijklmnop")
                .is_err()
        );
        assert!(
            anthropic
                .check_key("sk-ant-api03-abcdefghijklmnop$")
                .is_err()
        );
        assert!(
            provider("openrouter")
                .check_key("sk-or-v1-0123456789abcdef")
                .is_ok()
        );
    }

    #[test]
    fn compatible_keys_may_hold_shell_metacharacters() {
        let key = "sk-test\";$(touch${IFS}pwned);`id`;#'|&&x";
        assert!(provider("openai-compatible").check_key(key).is_ok());
        assert!(provider("openai-compatible").check_key("a\nb").is_err());
        assert!(provider("ollama").check_key("anything").is_err());
    }

    #[test]
    fn models_and_urls() {
        assert!(check_model("google/gemini-3.1-flash").is_ok());
        assert!(check_model("llama3:8b").is_ok());
        assert!(check_model("--help").is_err());
        assert!(check_model("a b").is_err());
        let compatible = provider("openai-compatible");
        assert!(
            compatible
                .check_base_url("http://127.0.0.1:9000/v1")
                .is_ok()
        );
        assert!(compatible.check_base_url("ftp://x").is_err());
        assert!(compatible.check_base_url("https://user:pw@x/v1").is_err());
        assert!(compatible.check_base_url("https://x/v1?key=1").is_err());
        assert!(
            provider("ollama")
                .check_base_url("http://127.0.0.1:11434/v1")
                .is_err()
        );
    }

    #[test]
    fn fragments_name_the_variable_not_the_key() {
        let (fragment, primary) = provider("openai-compatible")
            .config_fragment("test-model", "http://127.0.0.1:1/upstream");
        assert_eq!(primary, "custom/test-model");
        assert_eq!(fragment["apiKey"]["id"], EGRESS_KEY_ENV);
        assert_eq!(fragment["baseUrl"], "http://127.0.0.1:1/upstream");
        assert_eq!(fragment["auth"], "api-key");
        assert_eq!(fragment["models"][0]["id"], "test-model");
        let (_, primary) =
            provider("openrouter").config_fragment("auto", "http://127.0.0.1:1/upstream");
        assert_eq!(primary, "openrouter/auto");
        assert_eq!(last4("sk-abcdef"), "cdef");
        assert_eq!(last4("ab"), "ab");
    }

    #[test]
    fn every_provider_is_one_consistent_value() {
        for kind in ProviderKind::ALL {
            assert_eq!(ProviderKind::from_id(kind.id()), Some(kind));
            if let Some(model) = kind.default_model() {
                assert!(check_model(model).is_ok(), "{kind:?}");
            }
            let probe = kind.probe(kind.default_base_url().or(Some("http://127.0.0.1:9/v1")));
            assert!(probe.url.starts_with("http"), "{kind:?}");
            assert_eq!(probe.auth == ProbeAuth::None, !kind.needs_key(), "{kind:?}");
            let egress = "http://127.0.0.1:9/upstream";
            let (fragment, primary) = kind.config_fragment("m", egress);
            assert_eq!(primary, format!("{}/m", kind.openclaw_id()));
            assert_eq!(
                fragment["baseUrl"], egress,
                "{kind:?} goes through the egress proxy"
            );
            assert_eq!(
                fragment["apiKey"]["id"], EGRESS_KEY_ENV,
                "{kind:?} names the virtual key's variable, never a key"
            );
            assert!(
                kind.upstream(Some("http://127.0.0.1:9/v1"))
                    .starts_with("http"),
                "{kind:?}"
            );
        }
        assert_eq!(ProviderKind::from_id("Anthropic"), None);
    }
}
