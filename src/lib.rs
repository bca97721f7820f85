//! clawhost: host an OpenClaw gateway on your own server, safely.
//!
//! [`app`] is the one place that assembles every route and layer; [`run`] starts the whole
//! service (store, background tasks, listener) and stops it gracefully.

pub mod api;
pub mod auth;
pub mod channels;
pub mod clock;
pub mod config;
pub mod error;
pub mod fsutil;
pub mod gateway;
pub mod logging;
pub mod paging;
pub mod proxy;
pub mod secrets;
pub mod server;
pub mod state;
pub mod store;
pub mod ui;
pub mod web;

use std::future::Future;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::any;
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::timeout::TimeoutLayer;

use crate::auth::{Auth, AuthSettings};
use crate::config::{Config, PublicUrl};
use crate::gateway::logs::GatewayLogs;
use crate::gateway::supervisor::{Gateway, GatewayDeps, Paths};
use crate::secrets::SecretBox;
use crate::state::AppState;
use crate::store::{SharedStore, SqliteStore};

/// Form posts from our pages are small; the API gets the configured limit.
const FORM_BODY_LIMIT: usize = 64 * 1024;

/// Every route, behind every layer. Layers run top to bottom on the way in.
pub fn app(state: AppState) -> Router {
    // Our own handlers answer within the request timeout; the proxy has its own timeouts and
    // long-lived sockets, so the timeout is not applied there.
    let timeout = || {
        TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, state.config.request_timeout)
    };
    let (api, _) = api::routes();
    let api = api
        .layer(DefaultBodyLimit::max(state.config.body_limit))
        .layer(timeout());
    let pages = ui::routes()
        .layer(DefaultBodyLimit::max(FORM_BODY_LIMIT))
        .layer(timeout());
    let control_ui = Router::new()
        .route("/openclaw", any(proxy::handle))
        .route("/openclaw/", any(proxy::handle))
        .route("/openclaw/{*rest}", any(proxy::handle));
    Router::new()
        .merge(api)
        .merge(pages)
        .merge(control_ui)
        .fallback(web::problems::not_found)
        .method_not_allowed_fallback(web::problems::method_not_allowed)
        .layer(
            ServiceBuilder::new()
                .layer(from_fn(web::request_context::request_context))
                .layer(from_fn_with_state(
                    state.clone(),
                    web::headers::security_headers,
                ))
                .layer(from_fn(web::problems::shape_errors))
                .layer(from_fn_with_state(
                    state.clone(),
                    web::csrf::require_same_origin,
                )),
        )
        .with_state(state)
}

/// Opens the data directory and the store, binds, and serves until `shutdown` resolves.
/// Prints the claim code on stdout the first time an unclaimed instance starts.
pub async fn run(config: Config, shutdown: impl Future<Output = ()> + Send) -> anyhow::Result<()> {
    fsutil::ensure_private_dir(&config.data_dir)?;
    let store: SharedStore = {
        let path = config.database_path();
        Arc::new(tokio::task::spawn_blocking(move || SqliteStore::open(&path)).await??)
    };

    let listener = TcpListener::bind(&config.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
    let local = listener.local_addr()?;
    let public_url = config
        .public_url
        .clone()
        .unwrap_or_else(|| PublicUrl::from_listen(local));

    announce_claim(&store, &config, &public_url).await?;

    let auth = Auth::new(
        store.clone(),
        AuthSettings {
            session_absolute: config.session_absolute,
            session_idle: config.session_idle,
        },
    )
    .await?;
    let sealer = Arc::new(open_secret_box(&config)?);
    let gateway = Gateway::start_up(GatewayDeps {
        paths: Paths {
            data_dir: config.data_dir.clone(),
            runtime_dir: config.runtime_dir.clone(),
        },
        config: config.gateway.clone(),
        store: store.clone(),
        sealer: sealer.clone(),
        logs: GatewayLogs::default(),
    })
    .await?;
    let header_timeout = config.header_timeout;
    let config_proxy = config.proxy.clone();
    let state = AppState::new(state::Inner {
        config,
        public_url: public_url.clone(),
        auth,
        store,
        sealer,
        gateway: gateway.clone(),
        whatsapp: crate::channels::whatsapp_link::Linker::new(gateway.clone()),
        proxy: proxy::Proxy::new(config_proxy),
        status_limit: auth::limiter::RateLimit::new(30, 0.5),
    });

    let (stop_tasks, tasks_stopped) = tokio::sync::watch::channel(false);
    let watcher = {
        let state = state.clone();
        tokio::spawn(async move { state.auth.sessions.watch(tasks_stopped).await })
    };

    tracing::info!(addr = %local, public_url = %public_url, "listening");
    server::serve(listener, app(state), header_timeout, shutdown).await;

    gateway.shut_down().await;
    let _ = stop_tasks.send(true);
    watcher.await?;
    tracing::info!("stopped");
    Ok(())
}

/// The key that seals provider keys: created at first start in the data directory; a file
/// named by `secret_key_file` (e.g. a systemd credential) must already exist.
fn open_secret_box(config: &Config) -> anyhow::Result<SecretBox> {
    let default = config.data_dir.join("secret.key");
    let create = config.secret_key_file == default;
    Ok(SecretBox::load_or_create(&config.secret_key_file, create)?)
}

async fn announce_claim(
    store: &SharedStore,
    config: &Config,
    public_url: &PublicUrl,
) -> anyhow::Result<()> {
    let ttl = config.claim_code_ttl;
    let fresh_code = store::run(store, move |s| {
        if s.owner()?.is_some() || s.has_live_claim_code(clock::now_ms())? {
            return Ok(None);
        }
        auth::issue_claim_code(s, ttl)
    })
    .await?;
    let claimed = store::run(store, |s| s.owner()).await?.is_some();
    if claimed {
        return Ok(());
    }
    if let Some(code) = fresh_code {
        // stdout, once, for the person starting the server; never the structured log.
        println!(
            "clawhost has no owner yet. Claim code (single use, valid for {}):",
            config::format_duration(ttl)
        );
        println!("{code}");
    }
    tracing::info!(
        "Open {public_url}/claim and enter the claim code printed by 'clawhost claim-code'"
    );
    Ok(())
}
