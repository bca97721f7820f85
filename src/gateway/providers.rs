//! The LLM providers clawhost can configure, the checks on what the owner types for each,
//! and the OpenClaw config fragment each one needs. Keys reach the gateway only through its
//! environment: the config holds a SecretRef naming the variable, never the key.

use serde::Serialize;
use serde_json::{Value, json};

use crate::error::FieldError;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Provider {
    pub id: &'static str,
    pub name: &'static str,
    pub needs_key: bool,
    pub needs_base_url: bool,
    /// Model id within the provider (the part after `provider/` in OpenClaw's model ref).
    pub default_model: &'static str,
    #[serde(skip)]
    key: KeyRule,
    /// The environment variable the gateway reads the key from.
    #[serde(skip)]
    pub key_env: Option<&'static str>,
    /// The id under `models.providers` in openclaw.json.
    #[serde(skip)]
    pub openclaw_id: &'static str,
    #[serde(skip)]
    pub default_base_url: Option<&'static str>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct KeyRule {
    prefix: &'static str,
    min: usize,
    max: usize,
    /// Vendor keys are `[A-Za-z0-9_-]`; other endpoints may use anything printable.
    strict_charset: bool,
}

const NO_KEY: KeyRule = KeyRule {
    prefix: "",
    min: 0,
    max: 0,
    strict_charset: false,
};

pub const PROVIDERS: &[Provider] = &[
    Provider {
        id: "anthropic",
        name: "Anthropic",
        needs_key: true,
        needs_base_url: false,
        default_model: "claude-opus-5",
        key: KeyRule {
            prefix: "sk-ant-",
            min: 20,
            max: 256,
            strict_charset: true,
        },
        key_env: Some("ANTHROPIC_API_KEY"),
        openclaw_id: "anthropic",
        default_base_url: None,
    },
    Provider {
        id: "openai",
        name: "OpenAI",
        needs_key: true,
        needs_base_url: false,
        default_model: "gpt-6-astra",
        key: KeyRule {
            prefix: "sk-",
            min: 20,
            max: 256,
            strict_charset: true,
        },
        key_env: Some("OPENAI_API_KEY"),
        openclaw_id: "openai",
        default_base_url: None,
    },
    Provider {
        id: "openrouter",
        name: "OpenRouter",
        needs_key: true,
        needs_base_url: false,
        default_model: "auto",
        key: KeyRule {
            prefix: "sk-or-",
            min: 20,
            max: 256,
            strict_charset: true,
        },
        key_env: Some("OPENROUTER_API_KEY"),
        openclaw_id: "openrouter",
        default_base_url: None,
    },
    Provider {
        id: "openai-compatible",
        name: "OpenAI-compatible endpoint",
        needs_key: true,
        needs_base_url: true,
        default_model: "default",
        key: KeyRule {
            prefix: "",
            min: 1,
            max: 1024,
            strict_charset: false,
        },
        key_env: Some("OPENAI_COMPATIBLE_API_KEY"),
        openclaw_id: "custom",
        default_base_url: None,
    },
    Provider {
        id: "ollama",
        name: "Ollama (local)",
        needs_key: false,
        needs_base_url: true,
        default_model: "gemma4",
        key: NO_KEY,
        key_env: None,
        openclaw_id: "ollama",
        default_base_url: Some("http://127.0.0.1:11434"),
    },
];

pub fn find(id: &str) -> Option<&'static Provider> {
    PROVIDERS.iter().find(|p| p.id == id)
}

/// Checks a key for `provider`; the message says what a good one looks like.
pub fn check_key(provider: &Provider, key: &str) -> Result<(), FieldError> {
    let rule = provider.key;
    let error = |message: String| Err(FieldError::new("api_key", message));
    if !provider.needs_key {
        return error(format!("{} needs no key; leave it empty.", provider.name));
    }
    if key.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return error("The key must not contain spaces, line breaks or control characters; copy it again without them.".into());
    }
    let chars = key.chars().count();
    if chars < rule.min || chars > rule.max {
        return error(format!(
            "A {} key is {} to {} characters long; this one has {chars}.",
            provider.name, rule.min, rule.max
        ));
    }
    if !key.starts_with(rule.prefix) {
        return error(format!(
            "{} keys start with \"{}\"; check that you copied the whole key for the right provider.",
            provider.name, rule.prefix
        ));
    }
    if rule.strict_charset
        && !key
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    {
        return error(format!(
            "{} keys contain only letters, digits, '-' and '_'.",
            provider.name
        ));
    }
    Ok(())
}

/// Model ids as OpenClaw refers to them: `claude-opus-5`, `google/gemini-3.1-flash`, `llama3:8b`.
pub fn check_model(model: &str) -> Result<(), FieldError> {
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

/// An `http(s)://host[:port][/path]` URL with no credentials, query or fragment.
pub fn check_base_url(provider: &Provider, url: &str) -> Result<(), FieldError> {
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
    if provider.id == "ollama" && url.trim_end_matches('/').ends_with("/v1") {
        return error("Use Ollama's native URL without /v1, e.g. http://127.0.0.1:11434.");
    }
    Ok(())
}

/// What `models.providers.<openclaw_id>` and the primary model become for these choices.
pub fn config_fragment(
    provider: &Provider,
    model: &str,
    base_url: Option<&str>,
) -> (Value, String) {
    let secret = |env: &str| json!({"source": "env", "provider": "default", "id": env});
    let fragment = match provider.id {
        "openai-compatible" => json!({
            "baseUrl": base_url.unwrap_or_default(),
            "api": "openai-completions",
            "apiKey": secret(provider.key_env.unwrap_or_default()),
            "models": [{
                "id": model,
                "name": model,
                "input": ["text"],
                "contextWindow": 128000,
                "maxTokens": 4096,
            }],
        }),
        "ollama" => json!({
            "baseUrl": base_url.or(provider.default_base_url).unwrap_or_default(),
            "api": "ollama",
            "models": [{"id": model, "name": model}],
        }),
        // The built-in OpenClaw runtime, not a plugin runtime that would try to install itself.
        "openai" => json!({
            "apiKey": secret(provider.key_env.unwrap_or_default()),
            "agentRuntime": {"id": "openclaw"},
        }),
        _ => json!({"apiKey": secret(provider.key_env.unwrap_or_default())}),
    };
    (fragment, format!("{}/{model}", provider.openclaw_id))
}

/// The key's last four characters, to show which key is set without showing it.
pub fn last4(key: &str) -> String {
    let chars: Vec<char> = key.chars().collect();
    chars[chars.len().saturating_sub(4)..].iter().collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn provider(id: &str) -> &'static Provider {
        find(id).expect("provider")
    }

    #[test]
    fn vendor_keys_are_checked() {
        let anthropic = provider("anthropic");
        assert!(check_key(anthropic, "sk-ant-api03-abcdefghijklmnop").is_ok());
        let wrong = check_key(anthropic, "sk-or-v1-abcdefghijklmnopqrs").expect_err("prefix");
        assert!(wrong.message.contains("sk-ant-"), "{}", wrong.message);
        assert!(check_key(anthropic, "sk-ant-short").is_err());
        assert!(check_key(anthropic, "sk-ant-api03 abcdefghijklmnop").is_err());
        assert!(check_key(anthropic, "sk-ant-api03-abcdefghijklmnop$").is_err());
        assert!(check_key(provider("openrouter"), "sk-or-v1-0123456789abcdef").is_ok());
    }

    #[test]
    fn compatible_keys_may_hold_shell_metacharacters() {
        let key = "sk-test\";$(touch${IFS}pwned);`id`;#'|&&x";
        assert!(check_key(provider("openai-compatible"), key).is_ok());
        assert!(check_key(provider("openai-compatible"), "a\nb").is_err());
        assert!(check_key(provider("ollama"), "anything").is_err());
    }

    #[test]
    fn models_and_urls() {
        assert!(check_model("google/gemini-3.1-flash").is_ok());
        assert!(check_model("llama3:8b").is_ok());
        assert!(check_model("--help").is_err());
        assert!(check_model("a b").is_err());
        let compatible = provider("openai-compatible");
        assert!(check_base_url(compatible, "http://127.0.0.1:9000/v1").is_ok());
        assert!(check_base_url(compatible, "ftp://x").is_err());
        assert!(check_base_url(compatible, "https://user:pw@x/v1").is_err());
        assert!(check_base_url(compatible, "https://x/v1?key=1").is_err());
        assert!(check_base_url(provider("ollama"), "http://127.0.0.1:11434/v1").is_err());
    }

    #[test]
    fn fragments_name_the_variable_not_the_key() {
        let (fragment, primary) = config_fragment(
            provider("openai-compatible"),
            "test-model",
            Some("http://127.0.0.1:1/v1"),
        );
        assert_eq!(primary, "custom/test-model");
        assert_eq!(fragment["apiKey"]["id"], "OPENAI_COMPATIBLE_API_KEY");
        assert_eq!(fragment["models"][0]["id"], "test-model");
        let (_, primary) = config_fragment(provider("openrouter"), "auto", None);
        assert_eq!(primary, "openrouter/auto");
        assert_eq!(last4("sk-abcdef"), "cdef");
        assert_eq!(last4("ab"), "ab");
    }
}
