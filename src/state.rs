//! What handlers share: configuration, the public origin, the session cookie, and the
//! services (auth, the gateway, WhatsApp linking, the Control UI proxy).

use std::net::IpAddr;
use std::ops::Deref;
use std::sync::Arc;

use crate::auth::Auth;
use crate::auth::exchange::SessionExchange;
use crate::auth::limiter::RateLimit;
use crate::auth::oidc::Oidc;
use crate::auth::passkeys::Passkeys;
use crate::backup::service::Backups;
use crate::channels::whatsapp_link::Linker;
use crate::config::{Config, PublicUrl};
use crate::gateway::first_run::{self, FirstRun};
use crate::gateway::supervisor::Gateway;
use crate::proxy::service::Proxy;
use crate::secrets::SecretBox;
use crate::store::{SharedStore, StoreError};
use crate::update::Updater;
use crate::web::cookie::SessionCookie;
use crate::web::slots::SessionSlots;

#[derive(Clone)]
pub(crate) struct AppState(Arc<Inner>);

pub(crate) struct Inner {
    pub(crate) config: Config,
    pub(crate) backups: Arc<Backups>,
    pub(crate) updater: Arc<Updater>,
    pub(crate) public_url: PublicUrl,
    pub(crate) cookie: SessionCookie,
    pub(crate) auth: Auth,
    /// Signing in at an OpenID Connect issuer, when one is configured.
    pub(crate) oidc: Option<Oidc>,
    pub(crate) passkeys: Passkeys,
    /// The replaced wrapper's sign-in broker, when configured.
    pub(crate) exchange: Option<SessionExchange>,
    pub(crate) store: SharedStore,
    pub(crate) sealer: Arc<SecretBox>,
    pub(crate) gateway: Arc<Gateway>,
    /// The loopback proxy between the gateway and its provider.
    pub(crate) egress: Arc<crate::egress::Egress>,
    /// What clawhost's own https serves (mode `off` when it serves none).
    pub(crate) tls: crate::tls::Status,
    pub(crate) whatsapp: Linker,
    /// The gateway's devices as it last reported them, kept current.
    pub(crate) devices: Arc<crate::devices::inbox::Inbox>,
    pub(crate) proxy: Proxy,
    /// Anonymous `POST /api/status` per client address.
    pub(crate) status_limit: RateLimit<IpAddr>,
    /// Open event streams per session.
    pub(crate) streams: SessionSlots,
    /// The bearer token of `/metrics` on the main listener (`metrics.token_file`).
    pub(crate) metrics_token: Option<zeroize::Zeroizing<String>>,
}

impl AppState {
    /// How far the owner's first run has come, the runtime looked for only when it matters.
    pub(crate) async fn first_run(&self) -> Result<FirstRun, StoreError> {
        let config = &self.config;
        first_run::progress(
            &self.store,
            first_run::runtime_installed(&config.runtime_dir, config.gateway.command.as_deref()),
        )
        .await
    }
}

impl Deref for AppState {
    type Target = Inner;

    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    pub(crate) fn new(inner: Inner) -> Self {
        Self(Arc::new(inner))
    }
}
