//! `/api/gateway/*`: providers and settings, the OpenClaw runtime, the supervised gateway,
//! its progress and its logs. Every route needs the owner's session.

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::response::sse::Event;
use serde::{Deserialize, Serialize};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::{BroadcastStream, WatchStream};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::ClientInfo;
use crate::config;
use crate::gateway::keycheck;
use crate::gateway::logs::{self, LogLine};
use crate::gateway::providers::{Provider, ProviderKind};
use crate::gateway::runtime;
use crate::gateway::settings::{self, SettingsRequest, SettingsView};
use crate::gateway::status::{GatewayState, Status};
use crate::state::AppState;
use crate::store::{self, EventKind, Store};
use crate::web::error::ApiError;
use crate::web::extract::{ApiJson, ApiQuery, FreshOwner, Owner};
use crate::web::streams::StreamOwner;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list_providers))
        .routes(routes!(get_settings, put_settings))
        .routes(routes!(test_settings))
        .routes(routes!(get_runtime))
        .routes(routes!(install_runtime))
        .routes(routes!(dismiss_install_failure))
        .routes(routes!(start))
        .routes(routes!(stop))
        .routes(routes!(restart))
        .routes(routes!(rotate_credential))
        .routes(routes!(status))
        .routes(routes!(events))
        .routes(routes!(logs))
        .routes(routes!(logs_stream))
}

#[derive(Serialize, ToSchema)]
struct ProviderList {
    providers: Vec<Provider>,
}

/// The LLM providers clawhost can configure.
#[utoipa::path(get, path = "/api/gateway/providers", tag = "gateway", security(("session" = [])),
    responses((status = 200, body = ProviderList)))]
async fn list_providers(Owner(_): Owner) -> Json<ProviderList> {
    Json(ProviderList {
        providers: ProviderKind::ALL.map(ProviderKind::describe).to_vec(),
    })
}

/// The provider, model, endpoint, and whether a key is set (never the key).
#[utoipa::path(get, path = "/api/gateway/settings", tag = "gateway", security(("session" = [])),
    responses((status = 200, body = SettingsView)))]
async fn get_settings(
    State(state): State<AppState>,
    Owner(_): Owner,
) -> Result<Json<SettingsView>, ApiError> {
    Ok(Json(settings::current(&state.store).await?))
}

/// Checks and saves the provider settings; the key is sealed at rest. Needs the password
/// given recently (`/api/auth/reauthenticate`).
#[utoipa::path(put, path = "/api/gateway/settings", tag = "gateway", security(("session" = [])),
    request_body = SettingsRequest, responses((status = 200, body = SettingsView)))]
async fn put_settings(
    State(state): State<AppState>,
    client: ClientInfo,
    FreshOwner(_): FreshOwner,
    ApiJson(body): ApiJson<SettingsRequest>,
) -> Result<Json<SettingsView>, ApiError> {
    let event = client.event(EventKind::GatewaySettingsChanged);
    let saved = settings::save(&state.store, &state.sealer, &state.egress, event, body).await?;
    Ok(Json(saved))
}

#[derive(Serialize, ToSchema)]
struct KeyCheck {
    ok: bool,
    /// What the provider said, in words.
    detail: String,
}

/// One real call to the provider with the saved key.
#[utoipa::path(post, path = "/api/gateway/settings/test", tag = "gateway", security(("session" = [])),
    responses((status = 200, body = KeyCheck)))]
async fn test_settings(
    State(state): State<AppState>,
    Owner(_): Owner,
) -> Result<Json<KeyCheck>, ApiError> {
    let tested = keycheck::test_saved(&state.store, &state.sealer).await?;
    Ok(Json(KeyCheck {
        ok: tested.ok,
        detail: tested.detail,
    }))
}

#[derive(Serialize, ToSchema)]
struct RuntimeView {
    installed: bool,
    openclaw_version: Option<String>,
    node_version: Option<String>,
}

/// Whether OpenClaw and its Node runtime are installed, and which versions.
#[utoipa::path(get, path = "/api/gateway/runtime", tag = "gateway", security(("session" = [])),
    responses((status = 200, body = RuntimeView)))]
async fn get_runtime(State(state): State<AppState>, Owner(_): Owner) -> Json<RuntimeView> {
    let installed = runtime::installed(
        &state.config.runtime_dir,
        state.config.gateway.command.as_deref(),
    )
    .await;
    let (openclaw_version, node_version) = installed.clone().unzip();
    Json(RuntimeView {
        installed: installed.is_some(),
        openclaw_version,
        node_version: node_version.flatten(),
    })
}

#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
struct InstallRequest {
    /// An OpenClaw release such as `2026.9.6`; the pinned one when absent.
    version: Option<String>,
}

/// Installs (or replaces) the OpenClaw runtime; progress is on `/api/gateway/events`. Needs
/// the password given recently.
#[utoipa::path(post, path = "/api/gateway/runtime/install", tag = "gateway", security(("session" = [])),
    request_body(content = Option<InstallRequest>), responses((status = 202, body = Accepted)))]
async fn install_runtime(
    State(state): State<AppState>,
    FreshOwner(_): FreshOwner,
    body: Option<ApiJson<InstallRequest>>,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    if state.config.gateway.command.is_some() {
        return Err(ApiError::status(
            StatusCode::CONFLICT,
            "clawhost uses the openclaw configured in gateway.command; update that install instead.",
        ));
    }
    let requested = body.and_then(|b| b.0.version);
    let version = match requested {
        Some(v) => config::parse_version(&v).map_err(|m| ApiError::field("version", m))?,
        None => state.config.gateway.openclaw_version.clone(),
    };
    let new_state = state.gateway.install(version).await?;
    Ok(accepted(new_state))
}

/// Forgets the last install's failure (`install_failure` in the status) once the owner has
/// read it; installing again forgets it too.
#[utoipa::path(delete, path = "/api/gateway/runtime/failure", tag = "gateway", security(("session" = [])),
    responses((status = 204, description = "Forgotten (or there was none)")))]
async fn dismiss_install_failure(State(state): State<AppState>, Owner(_): Owner) -> StatusCode {
    state.gateway.dismiss_install_failure();
    StatusCode::NO_CONTENT
}

/// The gateway's state once the command was taken.
#[derive(Serialize, ToSchema)]
struct Accepted {
    state: GatewayState,
}

fn accepted(state: GatewayState) -> (StatusCode, Json<Accepted>) {
    (StatusCode::ACCEPTED, Json(Accepted { state }))
}

/// Starts the gateway. Progress and state changes are on `/api/gateway/events`.
#[utoipa::path(post, path = "/api/gateway/start", tag = "gateway", security(("session" = [])),
    responses((status = 202, body = Accepted)))]
async fn start(
    State(state): State<AppState>,
    Owner(_): Owner,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    Ok(accepted(state.gateway.start().await?))
}

/// Stops the gateway. Progress and state changes are on `/api/gateway/events`.
#[utoipa::path(post, path = "/api/gateway/stop", tag = "gateway", security(("session" = [])),
    responses((status = 202, body = Accepted)))]
async fn stop(
    State(state): State<AppState>,
    Owner(_): Owner,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    Ok(accepted(state.gateway.stop().await?))
}

/// Restarts the gateway. Progress and state changes are on `/api/gateway/events`.
#[utoipa::path(post, path = "/api/gateway/restart", tag = "gateway", security(("session" = [])),
    responses((status = 202, body = Accepted)))]
async fn restart(
    State(state): State<AppState>,
    Owner(_): Owner,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    Ok(accepted(state.gateway.restart().await?))
}

/// Gives the gateway a new credential (it restarts); needs the password given recently.
/// Progress and state changes are on `/api/gateway/events`.
#[utoipa::path(post, path = "/api/gateway/rotate-credential", tag = "gateway", security(("session" = [])),
    responses((status = 202, body = Accepted)))]
async fn rotate_credential(
    State(state): State<AppState>,
    FreshOwner(_): FreshOwner,
) -> Result<(StatusCode, Json<Accepted>), ApiError> {
    Ok(accepted(state.gateway.rotate_credential().await?))
}

#[derive(Serialize, ToSchema)]
struct GatewayStatus {
    #[serde(flatten)]
    status: Status,
    provider: Option<String>,
    model: Option<String>,
    /// Where the Control UI is served, through clawhost.
    control_url: &'static str,
    memory_rss_bytes: Option<u64>,
}

async fn status_body(state: &AppState, status: Status) -> Result<GatewayStatus, ApiError> {
    let settings = store::run(&state.store, Store::gateway_settings).await?;
    let (provider, model) = settings.map(|s| (s.provider, s.model)).unzip();
    Ok(GatewayStatus {
        status,
        provider,
        model,
        control_url: "/openclaw/",
        memory_rss_bytes: state.gateway.memory_rss_bytes().await,
    })
}

/// The supervised gateway: state, process, restarts, last exit, what needs attention.
#[utoipa::path(get, path = "/api/gateway/status", tag = "gateway", security(("session" = [])),
    responses((status = 200, body = GatewayStatus)))]
async fn status(
    State(state): State<AppState>,
    Owner(_): Owner,
) -> Result<Json<GatewayStatus>, ApiError> {
    let status = state.gateway.status();
    Ok(Json(status_body(&state, status).await?))
}

/// Server-sent events: `state` (a gateway status: the current one first, then every
/// change) and `progress` (`{"phase", "elapsed_ms", "timeout_ms", "detail"}`).
#[utoipa::path(get, path = "/api/gateway/events", tag = "gateway", security(("session" = [])),
    responses((status = 200, content_type = "text/event-stream", body = String)))]
async fn events(State(state): State<AppState>, owner: StreamOwner) -> impl IntoResponse {
    let progress = BroadcastStream::new(state.gateway.subscribe_progress()).filter_map(|p| {
        let progress = p.ok()?;
        Event::default().event("progress").json_data(progress).ok()
    });
    let states = WatchStream::new(state.gateway.watch_status()).then({
        let state = state.clone();
        move |status| {
            let state = state.clone();
            async move {
                let body = status_body(&state, status).await.ok();
                Event::default()
                    .event("state")
                    .json_data(body)
                    .unwrap_or_default()
            }
        }
    });
    owner.sse(states.merge(progress))
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct LogsQuery {
    /// How many of the latest lines (default 200).
    #[param(minimum = 1, maximum = 2000)]
    tail: Option<usize>,
}

#[derive(Serialize, ToSchema)]
struct LogList {
    lines: Vec<LogLine>,
}

/// The latest lines of the gateway's output (secrets redacted).
#[utoipa::path(get, path = "/api/gateway/logs", tag = "gateway", security(("session" = [])),
    params(LogsQuery), responses((status = 200, body = LogList)))]
async fn logs(
    State(state): State<AppState>,
    Owner(_): Owner,
    ApiQuery(query): ApiQuery<LogsQuery>,
) -> Result<Json<LogList>, ApiError> {
    let tail = query.tail.unwrap_or(200);
    if !(1..=logs::CAPACITY).contains(&tail) {
        return Err(ApiError::field(
            "tail",
            format!("Use a number from 1 to {}.", logs::CAPACITY),
        ));
    }
    Ok(Json(LogList {
        lines: state.gateway.logs().tail(tail),
    }))
}

/// Server-sent events: `log`, one per new line.
#[utoipa::path(get, path = "/api/gateway/logs/stream", tag = "gateway", security(("session" = [])),
    responses((status = 200, content_type = "text/event-stream", body = String)))]
async fn logs_stream(State(state): State<AppState>, owner: StreamOwner) -> impl IntoResponse {
    let lines = BroadcastStream::new(state.gateway.logs().subscribe()).filter_map(|line| {
        let line = line.ok()?;
        Event::default().event("log").json_data(line).ok()
    });
    owner.sse(lines)
}
