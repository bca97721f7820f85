//! `GET /metrics` (`metrics.enabled`): on a listener of its own (`metrics.listen`, no
//! credential: the address is the protection, e.g. loopback), or on the main listener with
//! `Authorization: Bearer <metrics.token_file>`; and the layer that counts every request by
//! the route template it matched.

use std::time::Instant;

use axum::Router;
use axum::extract::{MatchedPath, Request, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use tokio::net::TcpListener;
use zeroize::Zeroizing;

use crate::config::Config;
use crate::crypto::same_secret;
use crate::gateway::status::GatewayState;
use crate::metrics::{self, Snapshot};
use crate::server::Side;
use crate::state::AppState;
use crate::store;
use crate::web::problems::{ABOUT_BLANK, problem};

pub(crate) const PATH: &str = "/metrics";

/// Counts the request by the route template it matched, with its status class and time.
pub(crate) async fn count(request: Request, next: Next) -> Response {
    let route = request.extensions().get::<MatchedPath>().cloned();
    let started = Instant::now();
    let response = next.run(request).await;
    metrics::request(
        route
            .as_ref()
            .map_or(metrics::UNMATCHED, MatchedPath::as_str),
        response.status().as_u16(),
        started.elapsed().as_secs_f64(),
    );
    response
}

/// On the main listener: only with the bearer token of `metrics.token_file`.
pub(crate) async fn with_token(State(state): State<AppState>, headers: HeaderMap) -> Response {
    let given = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "));
    let allowed = match (given, state.metrics_token.as_deref()) {
        (Some(given), Some(token)) => same_secret(given.trim().as_bytes(), token.as_bytes()),
        _ => false,
    };
    if !allowed {
        let mut refused = problem(
            StatusCode::UNAUTHORIZED,
            ABOUT_BLANK,
            Some("The metrics need `Authorization: Bearer <the token in metrics.token_file>`."),
            None,
        );
        refused.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Bearer realm=\"clawhost metrics\""),
        );
        return refused;
    }
    page(&state).await
}

/// On `metrics.listen`: whoever reaches that address.
pub(crate) async fn open(State(state): State<AppState>) -> Response {
    page(&state).await
}

async fn page(state: &AppState) -> Response {
    let text = metrics::render(&snapshot(state).await);
    (
        [
            (header::CONTENT_TYPE, metrics::CONTENT_TYPE),
            (header::CACHE_CONTROL, "no-store"),
        ],
        text,
    )
        .into_response()
}

/// What the metrics read of clawhost now.
async fn snapshot(state: &AppState) -> Snapshot {
    let status = state.gateway.status();
    let running = status.state == GatewayState::Running;
    let uptime = status
        .started_at
        .as_deref()
        .filter(|_| running)
        .and_then(|at| chrono::DateTime::parse_from_rfc3339(at).ok())
        .map_or(0.0, |at| {
            let seconds = chrono::Utc::now()
                .signed_duration_since(at)
                .num_milliseconds();
            #[allow(clippy::cast_precision_loss, reason = "milliseconds of an uptime")]
            let seconds = seconds.max(0) as f64 / 1000.0;
            seconds
        });
    let gateway_memory = if running {
        state.gateway.memory_rss_bytes().await.unwrap_or_default()
    } else {
        0
    };
    let last_backup = state
        .backups
        .list()
        .await
        .ok()
        .and_then(|kept| kept.iter().find(|k| !k.uploaded).map(|k| k.made_ms / 1000));
    let drill = state.backups.last_drill().and_then(|drill| {
        chrono::DateTime::parse_from_rfc3339(&drill.checked_at)
            .ok()
            .map(|at| (at.timestamp(), drill.ok))
    });
    let usage = store::run(&state.store, |s| s.usage("0000-01-01", "9999-12-31"))
        .await
        .unwrap_or_default();
    let sum = |field: fn(&store::UsageRow) -> u64| usage.iter().map(field).sum::<u64>();
    Snapshot {
        gateway_state: status.state.name(),
        gateway_states: &GatewayState::ALL,
        gateway_restarts: u64::from(status.restarts),
        gateway_uptime_seconds: uptime,
        gateway_memory_bytes: gateway_memory,
        own_memory_bytes: crate::gateway::procfs::rss_bytes("self").unwrap_or_default(),
        openclaw_version: status.openclaw_version.clone(),
        certificate_expiry: state.tls.snapshot().not_after,
        last_backup,
        drill,
        llm_input_tokens: sum(|r| r.input_tokens),
        llm_output_tokens: sum(|r| r.output_tokens),
        llm_requests: sum(|r| r.requests),
        llm_errors: sum(|r| r.errors),
    }
}

/// `/metrics` on an address of its own (`metrics.listen`), if set.
pub(crate) async fn listener(state: &AppState) -> anyhow::Result<Option<Side>> {
    let config = &state.config;
    let Some(address) = config
        .metrics
        .listen
        .as_deref()
        .filter(|_| config.metrics.enabled)
    else {
        return Ok(None);
    };
    let listener = TcpListener::bind(address)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {address} (metrics.listen): {e}"))?;
    tracing::info!(addr = %listener.local_addr()?, "serving metrics");
    let router = Router::new()
        .route(PATH, get(open))
        .fallback(crate::web::problems::not_found)
        .with_state(state.clone());
    Ok(Some(Side::serve(listener, router, config.header_timeout)))
}

/// The bearer token of `/metrics` on the main listener, read from `metrics.token_file`.
pub(crate) fn token(config: &Config) -> anyhow::Result<Option<Zeroizing<String>>> {
    let metrics = &config.metrics;
    let Some(file) = metrics
        .token_file
        .as_ref()
        .filter(|_| metrics.enabled && metrics.listen.is_none())
    else {
        return Ok(None);
    };
    let text =
        Zeroizing::new(std::fs::read_to_string(file).map_err(|e| {
            anyhow::anyhow!("cannot read metrics.token_file {}: {e}", file.display())
        })?);
    let token = text.trim();
    if token.chars().count() < 16 || token.contains(char::is_whitespace) {
        anyhow::bail!(
            "metrics.token_file {} must hold one token of 16 characters or more (for example from `openssl rand -hex 32`)",
            file.display()
        );
    }
    Ok(Some(Zeroizing::new(token.to_owned())))
}
