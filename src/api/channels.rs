//! `/api/channels`: channel health from the running gateway, and WhatsApp's link state
//! (from the gateway when it runs, from its credential files when it does not).

use std::time::Duration;

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use axum::response::IntoResponse;
use axum::response::sse::Event;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::WatchStream;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::channels::whatsapp_link::LinkEvent;
use crate::channels::{self, Channel, WhatsAppLink};
use crate::gateway::rpc::call_once;
use crate::gateway::status::GatewayState;
use crate::state::AppState;
use crate::web::error::ApiError;
use crate::web::extract::{ApiJson, FreshOwner, Owner};
use crate::web::streams::StreamOwner;

const RPC_TIMEOUT: Duration = Duration::from_secs(10);

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(whatsapp))
        .routes(routes!(link))
        .routes(routes!(link_events))
}

/// `channels.status` from the running gateway, or `None` when it is not running (or stopped
/// while we asked: a gateway on its way down has no channels to report).
async fn gateway_status(state: &AppState) -> Result<Option<Value>, ApiError> {
    let Some(credential) = state.gateway.credential() else {
        return Ok(None);
    };
    match call_once(&credential, "channels.status", json!({}), RPC_TIMEOUT).await {
        Ok(payload) => Ok(Some(payload)),
        Err(_) if state.gateway.status().state != GatewayState::Running => Ok(None),
        Err(error) => Err(ApiError::status(
            StatusCode::SERVICE_UNAVAILABLE,
            format!("The gateway did not report its channels: {error}"),
        )),
    }
}

#[derive(Serialize, ToSchema)]
struct ChannelList {
    channels: Vec<Channel>,
}

/// Channel health while the gateway runs; an empty list while it does not (there is nothing
/// running to report on, which is a state, not an error).
#[utoipa::path(get, path = "/api/channels", tag = "channels", security(("session" = [])),
    responses((status = 200, body = ChannelList)))]
async fn list(
    State(state): State<AppState>,
    Owner(_): Owner,
) -> Result<Json<ChannelList>, ApiError> {
    let channels = match gateway_status(&state).await? {
        Some(payload) => channels::from_status(&payload),
        None => Vec::new(),
    };
    Ok(Json(ChannelList { channels }))
}

/// WhatsApp's link state: from the gateway while it runs, from its credential files
/// (read-only, under a shared lock) while it does not.
#[utoipa::path(get, path = "/api/channels/whatsapp", tag = "channels", security(("session" = [])),
    responses((status = 200, body = WhatsAppLink)))]
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

#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
struct LinkRequest {
    /// A fresh QR even when WhatsApp is linked (the old link is logged out).
    #[serde(default)]
    relink: bool,
}

/// Starts linking (or joins the flow already running); its steps are on the events stream.
/// Installs the `@openclaw/whatsapp` plugin first when the gateway has no WhatsApp channel.
/// Linking a phone to the assistant needs the password given recently in this session.
#[utoipa::path(post, path = "/api/channels/whatsapp/link", tag = "channels", security(("session" = [])),
    request_body(content = Option<LinkRequest>),
    responses((status = 202, body = LinkEvent, description = "The flow's current step")))]
async fn link(
    State(state): State<AppState>,
    FreshOwner(_): FreshOwner,
    body: Option<ApiJson<LinkRequest>>,
) -> Result<(StatusCode, Json<LinkEvent>), ApiError> {
    let request = body.map(|ApiJson(r)| r).unwrap_or_default();
    state.whatsapp.start(request.relink)?;
    Ok((StatusCode::ACCEPTED, Json(state.whatsapp.current())))
}

/// Server-sent events: the flow's current step first, then each new one: `progress`
/// `{"phase", "detail"}`, `qr` `{"data_url"}` (a PNG data URL), `linked` `{"phone"}`,
/// `failed` `{"detail"}`; `idle` `{}` before any flow ran.
#[utoipa::path(get, path = "/api/channels/whatsapp/link/events", tag = "channels",
    security(("session" = [])),
    responses((status = 200, content_type = "text/event-stream", body = String)))]
async fn link_events(State(state): State<AppState>, owner: StreamOwner) -> impl IntoResponse {
    owner.sse(WatchStream::new(state.whatsapp.watch()).map(|event| {
        Event::default()
            .event(event.name())
            .json_data(event.data())
            .unwrap_or_default()
    }))
}
