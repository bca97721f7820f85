//! `/api/gateway/*`: providers and settings, the OpenClaw runtime, the supervised gateway,
//! its progress and its logs. Every route needs the owner's session.

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::response::sse::Event;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::{BroadcastStream, WatchStream};

use super::sse;
use crate::auth::ClientInfo;
use crate::error::ApiError;
use crate::gateway::providers::PROVIDERS;
use crate::gateway::runtime;
use crate::gateway::settings::{self, SettingsRequest, SettingsView};
use crate::gateway::supervisor::{GatewayError, State as GatewayState, Status};

use crate::state::AppState;
use crate::store;
use crate::web::extract::{ApiJson, ApiQuery, Owner};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/gateway/providers", get(list_providers))
        .route("/api/gateway/settings", get(get_settings).put(put_settings))
        .route("/api/gateway/settings/test", post(test_settings))
        .route("/api/gateway/runtime", get(get_runtime))
        .route("/api/gateway/runtime/install", post(install_runtime))
        .route("/api/gateway/start", post(start))
        .route("/api/gateway/stop", post(stop))
        .route("/api/gateway/restart", post(restart))
        .route("/api/gateway/rotate-credential", post(rotate_credential))
        .route("/api/gateway/status", get(status))
        .route("/api/gateway/events", get(events))
        .route("/api/gateway/logs", get(logs))
        .route("/api/gateway/logs/stream", get(logs_stream))
}

impl From<GatewayError> for ApiError {
    fn from(error: GatewayError) -> Self {
        match error {
            GatewayError::Conflict(detail) => ApiError::status(StatusCode::CONFLICT, detail),
            GatewayError::Gone => ApiError::internal(error),
        }
    }
}

async fn list_providers(Owner(_): Owner) -> Json<Value> {
    Json(json!({ "providers": PROVIDERS }))
}

async fn get_settings(
    State(state): State<AppState>,
    Owner(_): Owner,
) -> Result<Json<SettingsView>, ApiError> {
    Ok(Json(settings::current(&state).await?))
}

async fn put_settings(
    State(state): State<AppState>,
    client: ClientInfo,
    Owner(_): Owner,
    ApiJson(body): ApiJson<SettingsRequest>,
) -> Result<Json<SettingsView>, ApiError> {
    Ok(Json(settings::save(&state, &client, body).await?))
}

async fn test_settings(
    State(state): State<AppState>,
    Owner(_): Owner,
) -> Result<Json<Value>, ApiError> {
    let settings = store::run(&state.store, |s| s.gateway_settings())
        .await?
        .ok_or_else(|| ApiError::status(StatusCode::CONFLICT, "Save a provider first."))?;
    let key = settings::open_key(&state.sealer, &settings).map_err(ApiError::internal)?;
    let outcome =
        crate::gateway::keycheck::check(&settings, key.as_ref().map(|k| k.as_str())).await;
    Ok(Json(
        json!({"ok": outcome.is_ok(), "detail": match outcome { Ok(d) | Err(d) => d }}),
    ))
}

async fn get_runtime(State(state): State<AppState>, Owner(_): Owner) -> Json<Value> {
    let installed = runtime::installed(
        &state.config.runtime_dir,
        state.config.gateway.command.as_deref(),
    )
    .await;
    let (openclaw_version, node_version) = installed.clone().unzip();
    Json(json!({
        "installed": installed.is_some(),
        "openclaw_version": openclaw_version,
        "node_version": node_version.flatten(),
    }))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct InstallRequest {
    version: Option<String>,
}

async fn install_runtime(
    State(state): State<AppState>,
    Owner(_): Owner,
    body: Option<ApiJson<InstallRequest>>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    if state.config.gateway.command.is_some() {
        return Err(ApiError::status(
            StatusCode::CONFLICT,
            "clawhost uses the openclaw configured in gateway.command; update that install instead.",
        ));
    }
    let requested = body.and_then(|b| b.0.version);
    let version = match requested {
        Some(v) => {
            crate::config::validate_version(&v).map_err(|m| ApiError::field("version", m))?
        }
        None => state.config.gateway.openclaw_version.clone(),
    };
    let new_state = state.gateway.install(version).await?;
    Ok(accepted(new_state))
}

fn accepted(new_state: GatewayState) -> (StatusCode, Json<Value>) {
    (StatusCode::ACCEPTED, Json(json!({ "state": new_state })))
}

async fn start(
    State(state): State<AppState>,
    Owner(_): Owner,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    Ok(accepted(state.gateway.start().await?))
}

async fn stop(
    State(state): State<AppState>,
    Owner(_): Owner,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    Ok(accepted(state.gateway.stop().await?))
}

async fn restart(
    State(state): State<AppState>,
    Owner(_): Owner,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    Ok(accepted(state.gateway.restart().await?))
}

async fn rotate_credential(
    State(state): State<AppState>,
    Owner(_): Owner,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    Ok(accepted(state.gateway.rotate_credential().await?))
}

async fn status_body(state: &AppState, status: Status) -> Result<Value, ApiError> {
    let settings = store::run(&state.store, |s| s.gateway_settings()).await?;
    let memory = state.gateway.memory_rss_bytes().await;
    let mut body = serde_json::to_value(&status).map_err(ApiError::internal)?;
    body["provider"] = json!(settings.as_ref().map(|s| &s.provider));
    body["model"] = json!(settings.as_ref().map(|s| &s.model));
    body["control_url"] = json!("/openclaw/");
    body["memory_rss_bytes"] = json!(memory);
    Ok(body)
}

async fn status(State(state): State<AppState>, Owner(_): Owner) -> Result<Json<Value>, ApiError> {
    let status = state.gateway.status();
    Ok(Json(status_body(&state, status).await?))
}

/// `progress` and `state` events: the current state first, then every change.
async fn events(State(state): State<AppState>, Owner(_): Owner) -> impl IntoResponse {
    let progress = BroadcastStream::new(state.gateway.subscribe_progress()).filter_map(|p| {
        let progress = p.ok()?;
        Event::default().event("progress").json_data(progress).ok()
    });
    let states = WatchStream::new(state.gateway.watch_status()).then({
        let state = state.clone();
        move |status| {
            let state = state.clone();
            async move {
                let body = status_body(&state, status).await.unwrap_or(Value::Null);
                Event::default()
                    .event("state")
                    .json_data(body)
                    .unwrap_or_default()
            }
        }
    });
    sse(states.merge(progress))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LogsQuery {
    tail: Option<usize>,
}

async fn logs(
    State(state): State<AppState>,
    Owner(_): Owner,
    ApiQuery(query): ApiQuery<LogsQuery>,
) -> Result<Json<Value>, ApiError> {
    let tail = query.tail.unwrap_or(200);
    if !(1..=crate::gateway::logs::CAPACITY).contains(&tail) {
        return Err(ApiError::field(
            "tail",
            format!("Use a number from 1 to {}.", crate::gateway::logs::CAPACITY),
        ));
    }
    Ok(Json(json!({ "lines": state.gateway.logs().tail(tail) })))
}

async fn logs_stream(State(state): State<AppState>, Owner(_): Owner) -> impl IntoResponse {
    let lines = BroadcastStream::new(state.gateway.logs().subscribe()).filter_map(|line| {
        let line = line.ok()?;
        Event::default().event("log").json_data(line).ok()
    });
    sse(lines)
}
