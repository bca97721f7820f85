//! What handlers share: configuration, the public origin, and the auth service.

use std::ops::Deref;
use std::sync::Arc;

use axum::http::HeaderValue;

use crate::auth::Auth;
use crate::auth::limiter::RateLimit;
use crate::channels::whatsapp_link::Linker;
use crate::config::{Config, PublicUrl};
use crate::gateway::supervisor::Gateway;
use crate::proxy::Proxy;
use crate::secrets::SecretBox;
use crate::store::SharedStore;
use std::net::IpAddr;

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub config: Config,
    pub public_url: PublicUrl,
    pub auth: Auth,
    pub store: SharedStore,
    pub sealer: Arc<SecretBox>,
    pub gateway: Arc<Gateway>,
    pub whatsapp: Linker,
    pub proxy: Proxy,
    /// Anonymous `POST /api/status` per client address.
    pub status_limit: RateLimit<IpAddr>,
}

impl Deref for AppState {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub fn new(inner: Inner) -> Self {
        Self(Arc::new(inner))
    }

    /// `__Host-` binds the cookie to this exact origin over https; plain http cannot use it.
    pub fn cookie_name(&self) -> &'static str {
        if self.public_url.is_https() {
            "__Host-clawhost_session"
        } else {
            "clawhost_session"
        }
    }

    /// `Set-Cookie` for a new session: HttpOnly, SameSite=Lax, Path=/, Secure on https.
    pub fn session_cookie(&self, token: &str) -> HeaderValue {
        let max_age = self.config.session_absolute.as_secs();
        self.cookie(token, max_age)
    }

    /// `Set-Cookie` that removes the session cookie.
    pub fn cleared_cookie(&self) -> HeaderValue {
        self.cookie("", 0)
    }

    fn cookie(&self, value: &str, max_age: u64) -> HeaderValue {
        let secure = if self.public_url.is_https() {
            "; Secure"
        } else {
            ""
        };
        let text = format!(
            "{}={value}; Path=/; HttpOnly; SameSite=Lax; Max-Age={max_age}{secure}",
            self.cookie_name()
        );
        HeaderValue::from_str(&text).unwrap_or_else(|_| HeaderValue::from_static(""))
    }
}
