//! The owner's session cookie: its name, its attributes, and reading it back. And the device
//! cookie, which says a browser signed in before (it gives no access of its own: only a lane
//! of sign-in checks that an attack on the account cannot crowd out).

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, header};

use crate::config::PublicUrl;

/// Tokens are 64 hex characters; anything much longer is not ours.
const MAX_VALUE: usize = 128;
/// Browsers keep a cookie for at most 400 days.
const DEVICE_MAX_AGE: u64 = 400 * 86_400;

pub(crate) struct SessionCookie {
    https: bool,
    max_age: u64,
}

impl SessionCookie {
    /// A cookie for `public_url` that lives as long as a session may.
    pub(crate) fn new(public_url: &PublicUrl, session_absolute: Duration) -> Self {
        Self {
            https: public_url.is_https(),
            max_age: session_absolute.as_secs(),
        }
    }

    /// `__Host-` binds the cookie to this exact origin over https; plain http cannot use it.
    pub(crate) fn name(&self) -> &'static str {
        if self.https {
            "__Host-clawhost_session"
        } else {
            "clawhost_session"
        }
    }

    /// `Set-Cookie` for a new session: HttpOnly, SameSite=Lax, Path=/, Secure on https.
    pub(crate) fn set(&self, token: &str) -> HeaderValue {
        self.header(self.name(), token, self.max_age, "Lax")
    }

    fn device_name(&self) -> &'static str {
        if self.https {
            "__Host-clawhost_device"
        } else {
            "clawhost_device"
        }
    }

    /// `Set-Cookie` for a browser's device token: HttpOnly, SameSite=Strict, 400 days.
    pub(crate) fn set_device(&self, token: &str) -> HeaderValue {
        self.header(self.device_name(), token, DEVICE_MAX_AGE, "Strict")
    }

    /// The device token the request carries, if any.
    pub(crate) fn read_device<'a>(&self, headers: &'a HeaderMap) -> Option<&'a str> {
        find(headers, self.device_name())
    }

    fn sign_in_flow_name(&self) -> &'static str {
        if self.https {
            "__Host-clawhost_oidc"
        } else {
            "clawhost_oidc"
        }
    }

    /// `Set-Cookie` for a sign-in at an OpenID Connect issuer under way: the key of its
    /// `state` and `nonce` (kept on the server), for as long as the sign-in may take.
    /// SameSite=Lax: the issuer sends the browser back with a cross-site navigation.
    pub(crate) fn set_sign_in_flow(&self, key: &str, lifetime: Duration) -> HeaderValue {
        self.header(self.sign_in_flow_name(), key, lifetime.as_secs(), "Lax")
    }

    pub(crate) fn read_sign_in_flow<'a>(&self, headers: &'a HeaderMap) -> Option<&'a str> {
        find(headers, self.sign_in_flow_name())
    }

    /// `Set-Cookie` that removes the sign-in flow's cookie.
    pub(crate) fn clear_sign_in_flow(&self) -> HeaderValue {
        self.header(self.sign_in_flow_name(), "", 0, "Lax")
    }

    /// `Set-Cookie` that removes the session cookie.
    pub(crate) fn clear(&self) -> HeaderValue {
        self.header(self.name(), "", 0, "Lax")
    }

    fn header(&self, name: &str, value: &str, max_age: u64, same_site: &str) -> HeaderValue {
        let secure = if self.https { "; Secure" } else { "" };
        let text = format!(
            "{name}={value}; Path=/; HttpOnly; SameSite={same_site}; Max-Age={max_age}{secure}"
        );
        HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
    }

    /// The session token the request carries, if any.
    pub(crate) fn read<'a>(&self, headers: &'a HeaderMap) -> Option<&'a str> {
        find(headers, self.name())
    }
}

fn find<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|line| line.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
        .filter(|value| !value.is_empty() && value.len() <= MAX_VALUE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_our_cookie_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; clawhost_session=abc; b=2"),
        );
        let day = Duration::from_hours(24);
        let http = PublicUrl::parse("http://127.0.0.1:8080").expect("url");
        assert_eq!(SessionCookie::new(&http, day).read(&headers), Some("abc"));
        let https = PublicUrl::parse("https://claw.example.com").expect("url");
        let secure = SessionCookie::new(&https, day);
        assert_eq!(secure.read(&headers), None, "__Host-clawhost_session only");
        let set = secure.set("tok");
        let set = set.to_str().expect("ascii");
        assert!(set.starts_with("__Host-clawhost_session=tok;") && set.ends_with("; Secure"));
    }
}
