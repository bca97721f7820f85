//! `/api/channels`: channel health from the running gateway, and WhatsApp's link state
//! (from the gateway when it runs, from its credential files when it does not).

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::response::sse::Event;
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::WatchStream;

use super::sse;
use crate::channels::whatsapp_link::LinkError;
use crate::channels::{self, WhatsAppLink};
use crate::error::ApiError;
use crate::gateway::rpc::RpcClient;
use crate::gateway::supervisor::State as GatewayState;
use crate::state::AppState;
use crate::web::extract::{ApiJson, Owner};

const RPC_TIMEOUT: Duration = Duration::from_secs(10);

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/channels", get(list))
        .route("/api/channels/whatsapp", get(whatsapp))
        .route("/api/channels/whatsapp/link", post(link))
        .route("/api/channels/whatsapp/link/events", get(link_events))
}

/// `channels.status` from the running gateway, or `None` when it is not running (or stopped
/// while we asked: a gateway on its way down has no channels to report).
async fn gateway_status(state: &AppState) -> Result<Option<Value>, ApiError> {
    let Some(credential) = state.gateway.credential() else {
        return Ok(None);
    };
    let asked = async {
        let mut client =
            RpcClient::connect(credential.port, &credential.token, RPC_TIMEOUT).await?;
        let payload = client
            .call("channels.status", json!({}), RPC_TIMEOUT)
            .await?;
        client.close().await;
        Ok::<Value, crate::gateway::rpc::RpcError>(payload)
    };
    match asked.await {
        Ok(payload) => Ok(Some(payload)),
        Err(_) if state.gateway.status().state != GatewayState::Running => Ok(None),
        Err(error) => Err(ApiError::status(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("The gateway did not report its channels: {error}"),
        )),
    }
}

/// Channel health while the gateway runs; an empty list while it does not (there is nothing
/// running to report on, which is a state, not an error).
async fn list(State(state): State<AppState>, Owner(_): Owner) -> Result<Json<Value>, ApiError> {
    let channels = match gateway_status(&state).await? {
        Some(payload) => channels::from_status(&payload),
        None => Vec::new(),
    };
    Ok(Json(json!({ "channels": channels })))
}

async fn whatsapp(
    State(state): State<AppState>,
    Owner(_): Owner,
) -> Result<Json<WhatsAppLink>, ApiError> {
    if let Some(payload) = gateway_status(&state).await? {
        return Ok(Json(channels::whatsapp_from_status(&payload)));
    }
    let state_dir = state.gateway.paths().state_dir();
    let link = tokio::task::spawn_blocking(move || channels::whatsapp_from_files(&state_dir))
        .await
        .map_err(ApiError::internal)?;
    Ok(Json(link))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct LinkRequest {
    /// A fresh QR even when WhatsApp is linked (the old link is logged out).
    #[serde(default)]
    relink: bool,
}

/// Starts linking (or joins the flow already running); its steps are on the events stream.
async fn link(
    State(state): State<AppState>,
    Owner(_): Owner,
    body: Option<ApiJson<LinkRequest>>,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let request = body.map(|ApiJson(r)| r).unwrap_or_default();
    state
        .whatsapp
        .start(request.relink)
        .map_err(|error @ LinkError::GatewayNotRunning| {
            ApiError::status(StatusCode::CONFLICT, error.to_string())
        })?;
    let current = state.whatsapp.current();
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({"event": current.name(), "data": current.data()})),
    ))
}

/// SSE: the flow's current step first, then each new one (`progress`, `qr`, `linked`,
/// `failed`; `idle` before any flow ran).
async fn link_events(State(state): State<AppState>, Owner(_): Owner) -> impl IntoResponse {
    sse(WatchStream::new(state.whatsapp.watch()).map(|event| {
        Event::default()
            .event(event.name())
            .json_data(event.data())
            .unwrap_or_default()
    }))
}
