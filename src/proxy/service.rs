//! The proxy's service: one pooled loopback client for the Control UI's HTTP, the count of
//! open sockets per session, the configured limits, and what bounds remote clients. Held in
//! the app state; it knows nothing of requests.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::sync::Semaphore;

use super::assets::AssetCache;
use crate::auth::limiter::RateLimit;
use crate::config::ProxyConfig;
use crate::web::slots::{SessionSlots, WhenFull};

pub(crate) type UpstreamClient = Client<HttpConnector, Body>;

pub(crate) struct Proxy {
    pub(crate) client: UpstreamClient,
    pub(crate) config: ProxyConfig,
    /// Control UI sockets per session.
    pub(crate) sockets: SessionSlots,
    pub(crate) assets: AssetCache,
    pub(crate) remote: RemoteClients,
}

impl Proxy {
    pub(crate) fn new(config: ProxyConfig) -> Self {
        Self {
            client: upstream_client(),
            sockets: SessionSlots::new(config.ws_per_session, WhenFull::Refuse),
            assets: AssetCache::new(config.asset_cache),
            remote: RemoteClients::new(),
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

/// Upgrades per client address: a burst of this many…
const REMOTE_BURST: u32 = 20;
/// …then this many per second (an app reconnecting with backoff stays well under it).
const REMOTE_PER_SECOND: f64 = 0.5;
/// Remote sockets open at once from one address (a phone, a laptop and a node behind one
/// home router stay well under it).
const REMOTE_PER_ADDRESS: usize = 8;
/// Remote sockets open at once, for every device together.
const REMOTE_SOCKETS: usize = 64;
/// Remote sockets not yet admitted by their first message, at once, and per address. Each
/// may send a message of up to `proxy.ws_max_message` before it is read whole, so this bounds
/// what strangers can make clawhost hold; per address, so that one cannot hold them all (a
/// device's first message comes within moments).
const REMOTE_PENDING: usize = 8;
/// Connects of devices not paired yet (each makes a pairing request in the owner's inbox),
/// from every address together: a burst of this many, then one every 10 s. A device that
/// asks keeps its one pending request while it waits, so the limit only slows a flood of
/// new identities filling the inbox.
const NEW_DEVICES_BURST: u32 = 10;
const NEW_DEVICES_PER_SECOND: f64 = 0.1;
const REMOTE_PENDING_PER_ADDRESS: usize = 2;

/// What bounds remote clients: upgrades per address, and sockets open at once.
pub(crate) struct RemoteClients {
    pub(super) upgrades: RateLimit<IpAddr>,
    pub(super) sockets: Arc<Semaphore>,
    /// Sockets not yet admitted by their first message, in all and per address.
    pub(super) pending: Arc<Semaphore>,
    pub(super) pending_per_address: SessionSlots,
    /// Connects of devices the gateway has not paired, from everywhere.
    pub(super) new_devices: RateLimit<()>,
    /// Sockets per client address (its abuse-limit key), so a few cannot hold them all.
    pub(super) per_address: SessionSlots,
}

impl RemoteClients {
    pub(crate) fn new() -> Self {
        Self {
            upgrades: RateLimit::new(REMOTE_BURST, REMOTE_PER_SECOND),
            sockets: Arc::new(Semaphore::new(REMOTE_SOCKETS)),
            pending: Arc::new(Semaphore::new(REMOTE_PENDING)),
            pending_per_address: SessionSlots::new(REMOTE_PENDING_PER_ADDRESS, WhenFull::Refuse),
            new_devices: RateLimit::new(NEW_DEVICES_BURST, NEW_DEVICES_PER_SECOND),
            per_address: SessionSlots::new(REMOTE_PER_ADDRESS, WhenFull::Refuse),
        }
    }
}
