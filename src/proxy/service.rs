//! The proxy's service: one pooled loopback client for the Control UI's HTTP, the count of
//! open sockets per session, and the configured limits. Held in the app state; it knows
//! nothing of requests.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::config::ProxyConfig;

pub(crate) type UpstreamClient = Client<HttpConnector, Body>;

pub(crate) struct Proxy {
    pub(crate) client: UpstreamClient,
    pub(crate) config: ProxyConfig,
    sockets: Arc<Mutex<HashMap<String, usize>>>,
}

/// Holds one of a session's socket slots until dropped.
pub(crate) struct SocketSlot {
    session: String,
    sockets: Arc<Mutex<HashMap<String, usize>>>,
}

impl Drop for SocketSlot {
    fn drop(&mut self) {
        let mut sockets = self
            .sockets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if let Some(count) = sockets.get_mut(&self.session) {
            *count -= 1;
            if *count == 0 {
                sockets.remove(&self.session);
            }
        }
    }
}

impl Proxy {
    pub(crate) fn new(config: ProxyConfig) -> Self {
        Self {
            client: upstream_client(),
            config,
            sockets: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// One more socket for `session`, or `None` when it has all it may open.
    pub(crate) fn claim_socket(&self, session: &str) -> Option<SocketSlot> {
        let mut sockets = self
            .sockets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let count = sockets.entry(session.to_owned()).or_insert(0);
        if *count >= self.config.ws_per_session {
            return None;
        }
        *count += 1;
        Some(SocketSlot {
            session: session.to_owned(),
            sockets: self.sockets.clone(),
        })
    }
}

/// The pooled loopback client, made once at start.
fn upstream_client() -> UpstreamClient {
    let mut connector = HttpConnector::new();
    connector.set_connect_timeout(Some(Duration::from_secs(5)));
    connector.set_nodelay(true);
    Client::builder(TokioExecutor::new())
        .pool_idle_timeout(Duration::from_secs(30))
        .pool_max_idle_per_host(64)
        .build(connector)
}
