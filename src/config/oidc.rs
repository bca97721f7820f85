//! `auth.oidc.*`: signing in with an OpenID Connect issuer, when one is set.

use std::path::PathBuf;

use super::load::{ConfigError, Values};

#[derive(Debug, Clone)]
pub(crate) struct OidcConfig {
    pub(crate) issuer: String,
    pub(crate) client_id: String,
    pub(crate) client_secret_file: Option<PathBuf>,
    /// Besides `openid`, which is always asked for.
    pub(crate) scopes: Vec<String>,
    pub(crate) display_name: String,
}

const GOOGLE_ISSUER: &str = "https://accounts.google.com";

pub(super) fn oidc_config(values: &Values) -> Result<Option<OidcConfig>, ConfigError> {
    let issuer: Option<String> = values.optional("auth.oidc.issuer")?;
    let client_id: Option<String> = values.optional("auth.oidc.client_id")?;
    let client_id = client_id.filter(|id| !id.trim().is_empty());
    let (issuer, client_id) = match (issuer, client_id) {
        (None, None) => return Ok(None),
        (Some(issuer), Some(client_id)) => (issuer, client_id),
        (Some(_), None) => {
            return Err(ConfigError::Invalid {
                key: "auth.oidc.client_id".into(),
                origin: values.source("auth.oidc.issuer"),
                reason:
                    "signing in with an OpenID Connect issuer needs the client id it gave clawhost"
                        .into(),
            });
        }
        (None, Some(_)) => {
            return Err(ConfigError::Invalid {
                key: "auth.oidc.issuer".into(),
                origin: values.source("auth.oidc.client_id"),
                reason: "a client id without auth.oidc.issuer: set the issuer too, or remove the client id".into(),
            });
        }
    };
    let scopes: String = values.get("auth.oidc.scopes")?;
    let scopes = scopes
        .split_whitespace()
        .filter(|scope| *scope != "openid")
        .map(str::to_owned)
        .collect();
    let display_name = match values.optional::<String>("auth.oidc.display_name")? {
        Some(name) if !name.trim().is_empty() => name.trim().to_owned(),
        _ if issuer.trim_end_matches('/') == GOOGLE_ISSUER => "Google".to_owned(),
        _ => issuer_host(&issuer).to_owned(),
    };
    Ok(Some(OidcConfig {
        issuer,
        client_id,
        client_secret_file: values.optional("auth.oidc.client_secret_file")?,
        scopes,
        display_name,
    }))
}

/// `https://id.example.com/realms/home` → `id.example.com`.
fn issuer_host(issuer: &str) -> &str {
    let rest = issuer.split_once("://").map_or(issuer, |(_, rest)| rest);
    rest.split(['/', '?', '#']).next().unwrap_or(rest)
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use super::super::load::{Layers, Values};
    use super::super::values::parse_service_url;
    use super::{OidcConfig, oidc_config};

    /// The `auth.oidc` settings from these `CLAWHOST_*` variables (without the prefix).
    fn load(pairs: &[(&str, &str)]) -> Result<Option<OidcConfig>, String> {
        let env: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (format!("CLAWHOST_{k}"), (*v).to_string()))
            .collect();
        let mut layers = Layers::new();
        layers.env(&env).map_err(|e| e.to_string())?;
        let values = Values::check(layers).map_err(|e| e.to_string())?;
        oidc_config(&values).map_err(|e| e.to_string())
    }

    #[test]
    fn issuers_are_https_but_on_loopback() {
        for good in [
            "https://accounts.google.com",
            "https://id.example.com/realms/home",
            "http://127.0.0.1:9010",
            "http://localhost:8080/issuer",
            "http://[::1]:9000",
        ] {
            assert_eq!(parse_service_url(good).as_deref(), Ok(good));
        }
        for bad in [
            "http://id.example.com",
            "http://192.0.2.10",
            "ftp://id.example.com",
            "https://",
            "https:///path",
            "https://id.example.com/?x=1",
            "https://id.example.com/#top",
            "https://id example.com",
        ] {
            assert!(parse_service_url(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_button_is_named_after_the_issuer_and_openid_is_not_asked_twice() {
        let google = load(&[
            ("AUTH_OIDC_ISSUER", "https://accounts.google.com"),
            ("AUTH_OIDC_CLIENT_ID", "id"),
        ])
        .expect("config")
        .expect("oidc");
        assert_eq!(google.display_name, "Google");
        assert_eq!(google.scopes, ["email", "profile"]);
        assert_eq!(google.client_secret_file, None);
        let own = load(&[
            ("AUTH_OIDC_ISSUER", "https://id.example.com/realms/home"),
            ("AUTH_OIDC_CLIENT_ID", "id"),
            ("AUTH_OIDC_SCOPES", "openid  email groups"),
        ])
        .expect("config")
        .expect("oidc");
        assert_eq!(own.display_name, "id.example.com");
        assert_eq!(own.scopes, ["email", "groups"]);
        let named = load(&[
            ("AUTH_OIDC_ISSUER", "https://id.example.com"),
            ("AUTH_OIDC_CLIENT_ID", "id"),
            ("AUTH_OIDC_DISPLAY_NAME", " Authentik "),
        ])
        .expect("config")
        .expect("oidc");
        assert_eq!(named.display_name, "Authentik");
        assert!(load(&[]).expect("config").is_none());
    }

    #[test]
    fn an_issuer_and_its_client_id_come_together() {
        let error = load(&[("AUTH_OIDC_ISSUER", "https://id.example.com")]).expect_err("no id");
        assert!(error.contains("auth.oidc.client_id"), "{error}");
        let error = load(&[("AUTH_OIDC_CLIENT_ID", "id")]).expect_err("no issuer");
        assert!(error.contains("auth.oidc.issuer"), "{error}");
        let error = load(&[
            ("AUTH_OIDC_ISSUER", "http://id.example.com"),
            ("AUTH_OIDC_CLIENT_ID", "id"),
        ])
        .expect_err("plain http");
        assert!(error.contains("https://"), "{error}");
    }
}
