//! clawhost: host an OpenClaw gateway on your own server, safely.
//!
//! `app` is the one place that assembles every route and layer; `run` starts the whole
//! service (store, background tasks, listener) and stops it gracefully; [`cli`] is the
//! command line around them.
//!
//! # Which module may name which
//!
//! Imports point down, never up, and no two files import each other through any chain:
//!
//! - **The edge** turns HTTP into domain calls and domain results into responses: `api`
//!   (JSON handlers), `ui` (pages), `proxy` (the Control UI), `web` (middleware, extractors,
//!   and the one translation of each domain error into a status and a sentence, in
//!   `web::error`), `state` (what handlers share), `server` (the accept loop) and `cli`.
//! - **The domain** decides: `auth`, `gateway`, `channels`, `store`, `secrets`, and every
//!   module added below the edge later.
//! - **The base** is what everything uses, and names only itself: `config`, `clock`,
//!   `crypto`, `fsutil`, `logging`, `outbound` (the one HTTP client for requests out),
//!   `validation`.
//!
//! Nothing below the edge names `state`, `web`, `api`, `ui`, `proxy`, `server`, `cli`, or
//! `ApiError`: a domain function returns its own error type and takes what it works with
//! (a store, a sealer), never the app state. `tests/it/layout.rs` parses `src/` and fails on
//! an upward import, an import cycle, or a file over 600 lines.

// Every dependency is used (a test build also sees the integration tests' dev-dependencies).
#![cfg_attr(not(test), warn(unused_crate_dependencies))]

mod api;
mod auth;
mod backup;
mod channels;
pub mod cli;
mod clock;
mod config;
mod crypto;
mod devices;
mod egress;
mod fsutil;
mod gateway;
mod logging;
mod metrics;
mod notify;
mod outbound;
mod proxy;
mod secrets;
mod server;
mod state;
mod store;
mod tls;
mod ui;
mod update;
mod validation;
mod web;

use std::future::Future;
use std::io::IsTerminal;
use std::sync::Arc;

use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::StatusCode;
use axum::middleware::{from_fn, from_fn_with_state};
use axum::routing::{any, get};
use tokio::net::TcpListener;
use tower::ServiceBuilder;
use tower_http::timeout::TimeoutLayer;

use crate::auth::{Auth, AuthSettings};
use crate::config::{Config, PublicUrl, TlsMode};
use crate::gateway::logs::GatewayLogs;
use crate::gateway::paths::Paths;
use crate::gateway::supervisor::{Gateway, GatewayDeps};
use crate::secrets::SecretBox;
use crate::state::AppState;
use crate::store::sqlite::SqliteStore;
use crate::store::{SharedStore, Store};
use crate::web::cookie::SessionCookie;
use crate::web::host::KnownHosts;

// What the integration tests compare against, from the inside.
pub use crate::config::OPENCLAW_VERSION;
pub use crate::gateway::launch::NETWORK_ENV;
pub use crate::gateway::rpc::{RpcClient, RpcError};
pub use crate::web::headers::CONTENT_SECURITY_POLICY;

/// Memory freed after password hashing goes back to the OS (see Cargo.toml).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// Form posts from our pages are small; the API gets the configured limit.
const FORM_BODY_LIMIT: usize = 64 * 1024;
/// Anonymous `POST /api/status` per client address: a burst of this many requests…
const STATUS_BURST: u32 = 30;
/// …then this many per second.
const STATUS_PER_SECOND: f64 = 0.5;

/// Every route, behind every layer. Layers run top to bottom on the way in.
fn app(state: AppState) -> Router {
    // Our own handlers answer within the request timeout; the proxy has its own timeouts and
    // long-lived sockets, so the timeout is not applied there.
    let timeout = || {
        TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, state.config.request_timeout)
    };
    let (api, api_streamed, _) = api::routes();
    // Uploads go to disk as they arrive, for as long as they take: web::upload bounds them.
    let streamed = api_streamed
        .merge(ui::streamed_routes())
        .layer(DefaultBodyLimit::disable());
    let api = api
        .layer(DefaultBodyLimit::max(state.config.body_limit))
        .layer(timeout());
    let pages = ui::routes()
        .layer(DefaultBodyLimit::max(FORM_BODY_LIMIT))
        .layer(timeout());
    let control_ui = Router::new()
        .route("/openclaw", any(proxy::handler::handle))
        .route("/openclaw/", any(proxy::handler::handle))
        .route("/openclaw/{*rest}", any(proxy::handler::handle))
        .route(proxy::remote::PATH, get(proxy::remote::handle));
    let metrics = &state.config.metrics;
    let mut routes = Router::new()
        .merge(api)
        .merge(pages)
        .merge(streamed)
        .merge(control_ui);
    if metrics.enabled && metrics.listen.is_none() {
        routes = routes.route(web::metrics::PATH, get(web::metrics::with_token));
    }
    let routes = routes
        .fallback(web::problems::not_found)
        .method_not_allowed_fallback(web::problems::method_not_allowed);
    let hosts = KnownHosts::new(&state.public_url, &state.config.allowed_hosts);
    let public_url = state.public_url.clone();
    let counted = metrics.enabled;
    layered(routes, &public_url, hosts, counted).with_state(state)
}

/// What every request passes through, outermost first: its id and log line, its count
/// (with metrics on), security headers, the Host check, error shaping, the same-origin check, and an answer even when a
/// handler panics.
fn layered<S: Clone + Send + Sync + 'static>(
    routes: Router<S>,
    public_url: &PublicUrl,
    hosts: KnownHosts,
    counted: bool,
) -> Router<S> {
    routes.layer(
        ServiceBuilder::new()
            .layer(from_fn(web::request_context::request_context))
            .option_layer(counted.then(|| from_fn(web::metrics::count)))
            .layer(from_fn_with_state(
                public_url.clone(),
                web::headers::security_headers,
            ))
            .layer(from_fn_with_state(
                public_url.clone(),
                web::notice::connection_notice,
            ))
            .layer(from_fn_with_state(hosts, web::host::require_known_host))
            .layer(from_fn(web::problems::shape_errors))
            .layer(from_fn_with_state(
                public_url.clone(),
                web::csrf::require_same_origin,
            ))
            .layer(web::panics::layer()),
    )
}

/// The listener's TLS, if clawhost serves https itself; plain http on a network address only
/// when the owner said a TLS proxy is in front.
fn tls_for(
    config: &Config,
    local: std::net::SocketAddr,
    store: &SharedStore,
) -> anyhow::Result<Option<tls::Tls>> {
    let tls = match config.tls.mode {
        TlsMode::Off => None,
        TlsMode::Files => {
            let files = tls::CertFiles {
                cert: config.tls.cert_file.clone().unwrap_or_default(),
                key: config.tls.key_file.clone().unwrap_or_default(),
            };
            Some(
                tls::Tls::from_files(files)
                    .map_err(|e| anyhow::anyhow!("tls.mode = \"files\": {e}"))?,
            )
        }
        TlsMode::Acme => {
            let deps = tls::AcmeDeps {
                store: store.clone(),
                dir: config.data_dir.join("acme"),
                http01: config.redirect_listen.is_some(),
            };
            Some(
                tls::Tls::acme(&config.tls.acme, deps)
                    .map_err(|e| anyhow::anyhow!("tls.mode = \"acme\": {e}"))?,
            )
        }
    };
    if tls.is_none() && !local.ip().is_loopback() && !config.tls.allow_plain_http {
        anyhow::bail!(
            "clawhost would serve plain http on {local}, where passwords and conversations cross the network readable. Serve https itself (tls.mode = \"acme\" with tls.acme.names, or tls.mode = \"files\" with tls.cert_file and tls.key_file), reach it through an SSH tunnel with listen = \"127.0.0.1:8080\", or, behind a TLS proxy, set tls.allow_plain_http = true"
        );
    }
    Ok(tls)
}

/// The public URL when none is set: the first ACME name (with the port unless it is 443),
/// else the address bound.
fn default_public_url(
    config: &Config,
    local: std::net::SocketAddr,
    https: bool,
) -> anyhow::Result<PublicUrl> {
    if let (TlsMode::Acme, Some(first)) = (config.tls.mode, config.tls.acme.names.first()) {
        return Ok(PublicUrl::from_host(&first.url_host(), local.port(), true));
    }
    if local.ip().is_unspecified() {
        anyhow::bail!(
            "clawhost listens on every address ({local}), so it cannot tell which one browsers use: set public_url (e.g. --public-url https://claw.example.com or http://192.0.2.10:{})",
            local.port()
        );
    }
    Ok(PublicUrl::from_listen(local, https))
}

/// Opens the data directory and the store, binds, and serves until `shutdown` resolves.
/// Prints a claim code on stdout the first time an unclaimed instance starts in a terminal.
async fn run(config: Config, shutdown: impl Future<Output = ()> + Send) -> anyhow::Result<()> {
    let _instance_lock = open_instance(&config).await?;
    let store: SharedStore = {
        let path = config.database_path();
        Arc::new(tokio::task::spawn_blocking(move || SqliteStore::open(&path)).await??)
    };

    let listener = TcpListener::bind(&config.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", config.listen))?;
    let local = listener.local_addr()?;
    let public_url = match &config.public_url {
        Some(url) => url.clone(),
        None => default_public_url(&config, local, config.tls.mode != TlsMode::Off)?,
    };
    let tls = tls_for(&config, local, &store)?;
    if let Some(warning) = web::notice::insecure_warning(&public_url) {
        tracing::warn!("{warning}");
    }
    let challenges = tls.as_ref().map(|t| t.challenges.clone());
    let redirects = server::redirects_for(&config, &public_url, challenges).await?;

    announce_claim(&store, &config, &public_url).await?;

    let SignIn {
        auth,
        oidc,
        passkeys,
        exchange,
    } = sign_in_for(&config, &public_url, &store).await?;
    let sealer = Arc::new(open_secret_box(&config)?);
    let (gateway, egress) = start_gateway(&config, &store, &sealer).await?;
    let (backups, updater) = backups_and_updates(&config, &gateway, &store, &sealer);
    let header_timeout = config.header_timeout;
    let metrics_token = web::metrics::token(&config)?;
    let state = AppState::new(state::Inner {
        backups: backups.clone(),
        updater: updater.clone(),
        oidc,
        passkeys,
        exchange,
        cookie: SessionCookie::new(&public_url, config.session_absolute),
        proxy: proxy::service::Proxy::new(config.proxy.clone()),
        config,
        public_url: public_url.clone(),
        auth,
        store,
        sealer,
        gateway: gateway.clone(),
        egress: egress.clone(),
        tls: tls
            .as_ref()
            .map_or_else(tls::Status::off, |t| t.status.clone()),
        whatsapp: channels::whatsapp_link::Linker::new(gateway.clone()),
        devices: devices::inbox::Inbox::new(),
        status_limit: auth::limiter::RateLimit::new(STATUS_BURST, STATUS_PER_SECOND),
        streams: web::slots::SessionSlots::new(
            web::streams::STREAMS_PER_SESSION,
            web::slots::WhenFull::EndOldest,
        ),
        metrics_token,
    });
    let metrics_side = web::metrics::listener(&state).await?;

    let (stop_tasks, tasks_stopped) = tokio::sync::watch::channel(false);
    backups.start_schedule(tasks_stopped.clone());
    let inbox = {
        let (state, stopped) = (state.clone(), tasks_stopped.clone());
        tokio::spawn(async move { state.devices.follow(state.gateway.clone(), stopped).await })
    };
    let watcher = {
        let state = state.clone();
        tokio::spawn(async move { state.auth.watch(tasks_stopped).await })
    };

    tracing::info!(addr = %local, public_url = %public_url, "listening");
    notify::notify(&format!(
        "READY=1\nSTATUS=listening on {local}, public URL {public_url}"
    ));
    let shutdown = async {
        shutdown.await;
        notify::notify("STOPPING=1\nSTATUS=stopping the gateway and closing connections");
    };
    server::serve(
        listener,
        app(state),
        header_timeout,
        tls.as_ref().map(|t| t.acceptor.clone()),
        shutdown,
    )
    .await;

    for side in [redirects, metrics_side].into_iter().flatten() {
        side.stop().await;
    }
    let _ = stop_tasks.send(true);
    updater.shut_down().await;
    backups.shut_down().await;
    gateway.shut_down().await;
    egress.shut_down().await;
    watcher.await?;
    inbox.await?;
    tracing::info!("stopped");
    Ok(())
}

/// The data directory, private and held by this server alone, with a restore a crash cut
/// short finished before anything reads it.
async fn open_instance(config: &Config) -> anyhow::Result<nix::fcntl::Flock<std::fs::File>> {
    fsutil::ensure_private_dir(&config.data_dir)?;
    let lock = fsutil::lock_instance(&config.data_dir)?;
    if let Some(done) = backup::commit::recover(&config.data_dir).await? {
        tracing::warn!("{done}");
    }
    let state_dir = config.data_dir.join("openclaw");
    if let Some(done) = update::recover(&config.data_dir, &config.runtime_dir, &state_dir).await {
        tracing::warn!("{done}");
    }
    Ok(lock)
}

/// What keeps the assistant safe: backups, and updates that take one first.
/// The egress proxy, and the gateway's supervisor (which starts the gateway again when the
/// owner left it running).
async fn start_gateway(
    config: &Config,
    store: &SharedStore,
    sealer: &Arc<SecretBox>,
) -> anyhow::Result<(Arc<Gateway>, Arc<egress::Egress>)> {
    let egress = egress::start(store.clone(), config.usage).await?;
    let gateway = Gateway::start_up(GatewayDeps {
        paths: Paths {
            data_dir: config.data_dir.clone(),
            runtime_dir: config.runtime_dir.clone(),
        },
        config: config.gateway.clone(),
        store: store.clone(),
        sealer: sealer.clone(),
        logs: GatewayLogs::default(),
        egress: egress.clone(),
    })
    .await?;
    Ok((gateway, egress))
}

fn backups_and_updates(
    config: &Config,
    gateway: &Arc<Gateway>,
    store: &SharedStore,
    sealer: &Arc<SecretBox>,
) -> (Arc<backup::service::Backups>, Arc<update::Updater>) {
    let instance = backup::Instance {
        data_dir: config.data_dir.clone(),
        state_dir: gateway.paths().state_dir(),
        config_file: config.settings_file.clone(),
        secret_key_file: config.secret_key_file.clone(),
        store: store.clone(),
        sealer: sealer.clone(),
    };
    let backups = Arc::new(backup::service::Backups::new(
        instance,
        gateway.clone(),
        config.backup.clone(),
    ));
    let updater = Arc::new(update::Updater::new(
        gateway.clone(),
        backups.clone(),
        store.clone(),
        config.runtime_dir.clone(),
        config.data_dir.clone(),
    ));
    (backups, updater)
}

/// Every way the owner signs in, as configured.
struct SignIn {
    auth: Auth,
    oidc: Option<auth::oidc::Oidc>,
    passkeys: auth::passkeys::Passkeys,
    exchange: Option<auth::exchange::SessionExchange>,
}

async fn sign_in_for(
    config: &Config,
    public_url: &PublicUrl,
    store: &SharedStore,
) -> anyhow::Result<SignIn> {
    let passkeys = auth::passkeys::Passkeys::new(public_url.origin(), public_url.host());
    let auth = Auth::new(
        store.clone(),
        AuthSettings {
            session_absolute: config.session_absolute,
            session_idle: config.session_idle,
            reauth_window: config.reauth_window,
            // Only where passkeys work: elsewhere the owner could not give the second one.
            require_second_factor: config.require_second_factor && passkeys.unavailable().is_none(),
            passkey_rp_id: passkeys
                .unavailable()
                .is_none()
                .then(|| public_url.host().to_owned()),
            oidc_issuer: config.oidc.as_ref().map(|oidc| oidc.issuer.clone()),
        },
    )
    .await?;
    let exchange = config
        .session_exchange_url
        .clone()
        .map(auth::exchange::SessionExchange::new)
        .transpose()
        .map_err(|e| anyhow::anyhow!("auth.session_exchange.url: {e}"))?;
    let oidc = oidc_for(config, public_url)?;
    auth.keep_a_way_in().await?;
    Ok(SignIn {
        auth,
        oidc,
        passkeys,
        exchange,
    })
}

/// The OpenID Connect sign-in, when an issuer is set; its client secret read from its file.
fn oidc_for(config: &Config, public_url: &PublicUrl) -> anyhow::Result<Option<auth::oidc::Oidc>> {
    let Some(oidc) = &config.oidc else {
        return Ok(None);
    };
    let client_secret = match &oidc.client_secret_file {
        Some(path) => {
            let shown = path.display();
            let metadata = std::fs::metadata(path)
                .map_err(|e| anyhow::anyhow!("auth.oidc.client_secret_file {shown}: {e}"))?;
            let mode = std::os::unix::fs::PermissionsExt::mode(&metadata.permissions()) & 0o777;
            if mode & 0o077 != 0 {
                anyhow::bail!(
                    "auth.oidc.client_secret_file {shown} is readable by others (mode {mode:o}); run: chmod 600 {shown}"
                );
            }
            let text = std::fs::read_to_string(path)
                .map_err(|e| anyhow::anyhow!("auth.oidc.client_secret_file {shown}: {e}"))?;
            let secret = text.trim();
            if secret.is_empty() {
                anyhow::bail!("auth.oidc.client_secret_file {shown} is empty");
            }
            Some(secret.to_owned())
        }
        None => None,
    };
    let settings = auth::oidc::OidcSettings {
        issuer: oidc.issuer.clone(),
        client_id: oidc.client_id.clone(),
        client_secret,
        scopes: oidc.scopes.clone(),
        display_name: oidc.display_name.clone(),
        redirect_uri: format!("{}/auth/oidc/callback", public_url.origin()),
    };
    Ok(Some(
        auth::oidc::Oidc::new(settings).map_err(|e| anyhow::anyhow!("auth.oidc: {e}"))?,
    ))
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
    // Under a service manager stdout is a log that outlives the code's single use: a code is
    // printed only to a person at a terminal, the others run `clawhost claim-code`.
    let terminal = std::io::stdout().is_terminal();
    let fresh_code = store::run(store, move |s| {
        if !terminal || s.owner()?.is_some() || s.has_live_claim_code(clock::now_ms())? {
            return Ok(None);
        }
        auth::issue_claim_code(s, ttl)
    })
    .await?;
    let claimed = store::run(store, Store::owner).await?.is_some();
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

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use axum::http::{Request, header};
    use axum::routing::get;
    use http_body_util::BodyExt;
    use tower::ServiceExt;

    use super::*;

    /// A handler that panics gets the server's usual 500 problem, with a request id to quote
    /// and nothing of the panic; the connection is not dropped.
    #[tokio::test]
    async fn a_panicking_handler_still_gets_an_answer() {
        async fn boom() -> &'static str {
            let secret_looking = "sk-never-shown";
            panic!("boom with {secret_looking}")
        }
        let routes: Router = Router::new().route("/boom", get(boom));
        let url = PublicUrl::parse("http://127.0.0.1:8080").expect("url");
        let request = Request::get("/boom")
            .header(header::HOST, "127.0.0.1:8080")
            .body(Body::empty())
            .expect("request");
        let response = layered(routes, &url, KnownHosts::new(&url, &[]), false)
            .oneshot(request)
            .await
            .expect("an answer");
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(
            response.headers()[header::CONTENT_TYPE],
            web::problems::PROBLEM_JSON
        );
        assert!(response.headers().contains_key("x-request-id"));
        assert!(
            response
                .headers()
                .contains_key(header::CONTENT_SECURITY_POLICY)
        );
        let body = response
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes();
        let body = String::from_utf8_lossy(&body);
        assert!(
            body.contains("x-request-id") && !body.contains("sk-never"),
            "{body}"
        );
    }
}
