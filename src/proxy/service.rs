//! The proxy's service: one pooled loopback client for the Control UI's HTTP, the count of
//! open sockets per session, and the configured limits. Held in the app state; it knows
//! nothing of requests.

use std::time::Duration;

use axum::body::Body;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use super::assets::AssetCache;
use crate::config::ProxyConfig;
use crate::web::slots::{SessionSlots, WhenFull};

pub(crate) type UpstreamClient = Client<HttpConnector, Body>;

pub(crate) struct Proxy {
    pub(crate) client: UpstreamClient,
    pub(crate) config: ProxyConfig,
    /// Control UI sockets per session.
    pub(crate) sockets: SessionSlots,
    pub(crate) assets: AssetCache,
}

impl Proxy {
    pub(crate) fn new(config: ProxyConfig) -> Self {
        Self {
            client: upstream_client(),
            sockets: SessionSlots::new(config.ws_per_session, WhenFull::Refuse),
            assets: AssetCache::new(config.asset_cache),
            config,
        }
    }
}

/// How long an idle pooled connection is kept: under Node's keep-alive timeout (5 s, the
/// gateway's `Keep-Alive: timeout=5`), so a request is never sent on a connection the gateway
/// is closing at that moment.
const POOL_IDLE: Duration = Duration::from_secs(4);

/// The pooled loopback client, made once at start.
fn upstream_client() -> UpstreamClient {
    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(Duration::from_secs(5)));
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(POOL_IDLE)
        .pool_max_idle_per_host(64)
        .build(connector)
}
