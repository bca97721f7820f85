//! `/api/channels`: channel health from the running gateway, and WhatsApp's link state
//! (from the gateway when it runs, from its credential files when it does not).

use std::time::Duration;

use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{Value, json};

use crate::channels::{self, WhatsAppLink};
use crate::error::ApiError;
use crate::gateway::rpc::RpcClient;
use crate::gateway::supervisor::State as GatewayState;
use crate::state::AppState;
use crate::web::extract::Owner;

const RPC_TIMEOUT: Duration = Duration::from_secs(10);

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/channels", get(list))
        .route("/api/channels/whatsapp", get(whatsapp))
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
