//! `/api/channels/pairing`: people asking to message the assistant on a channel, let in or
//! turned away one at a time (each a sensitive action: a fresh step-up).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::ClientInfo;
use crate::channels::pairing::{self, Approved, DmRequest, PairingError};
use crate::gateway::status::Credential;
use crate::state::AppState;
use crate::store::{self, EventKind};
use crate::web::error::ApiError;
use crate::web::extract::{FreshOwner, Owner};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(approve))
        .routes(routes!(deny))
}

#[derive(Serialize, ToSchema)]
pub(crate) struct DmRequests {
    /// Oldest first; each lapses an hour after it was made, at most three per channel account.
    pub(crate) requests: Vec<DmRequest>,
}

impl From<PairingError> for ApiError {
    fn from(error: PairingError) -> Self {
        match error {
            PairingError::Gone(_) => ApiError::status(
                StatusCode::NOT_FOUND,
                "No such request now: it was answered or has lapsed. Look at the list again.",
            ),
            PairingError::Gateway(error) => ApiError::status(
                StatusCode::SERVICE_UNAVAILABLE,
                format!("The gateway did not answer about its DM requests: {error}"),
            ),
        }
    }
}

/// The running gateway's credential, or 409.
fn running(state: &AppState) -> Result<Credential, ApiError> {
    state.gateway.credential().ok_or_else(|| {
        ApiError::status(
            StatusCode::CONFLICT,
            "The gateway is not running: start it to see and answer who asks to message your assistant.",
        )
    })
}

/// A channel's name and a request's id as the gateway makes them; anything else is none.
fn checked<'a>(channel: &'a str, code: &'a str) -> Result<(&'a str, &'a str), ApiError> {
    let fits = |s: &str, max: usize| {
        !s.is_empty()
            && s.len() <= max
            && s.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
    };
    if fits(channel, 32) && fits(code, 128) {
        Ok((channel, code))
    } else {
        Err(PairingError::Gone(String::new()).into())
    }
}

/// Who asks to message the assistant, on every channel (the gateway sends no event for these:
/// ask again to see new ones).
#[utoipa::path(get, path = "/api/channels/pairing", tag = "channels", security(("session" = [])),
    responses((status = 200, body = DmRequests), (status = 409, description = "The gateway is not running")))]
async fn list(
    State(state): State<AppState>,
    Owner(_): Owner,
) -> Result<Json<DmRequests>, ApiError> {
    let credential = running(&state)?;
    Ok(Json(DmRequests {
        requests: pairing::list(&credential).await?,
    }))
}

/// Lets this one sender in; the channel tells them when it can (`notification`).
#[utoipa::path(post, path = "/api/channels/pairing/{channel}/{code}/approve", tag = "channels",
    security(("session" = [])),
    params(("channel" = String, Path), ("code" = String, Path, description = "The request's id as listed (the pairing code itself stays in the gateway)")),
    responses((status = 200, body = Approved), (status = 404, description = "No such request now")))]
async fn approve(
    State(state): State<AppState>,
    client: ClientInfo,
    FreshOwner(_): FreshOwner,
    Path((channel, code)): Path<(String, String)>,
) -> Result<Json<Approved>, ApiError> {
    let approved = let_in(&state, &client, &channel, &code).await?;
    Ok(Json(approved))
}

/// Turns this one request down.
#[utoipa::path(post, path = "/api/channels/pairing/{channel}/{code}/deny", tag = "channels",
    security(("session" = [])),
    params(("channel" = String, Path), ("code" = String, Path, description = "The request's id as listed")),
    responses((status = 204, description = "Turned down"), (status = 404, description = "No such request now")))]
async fn deny(
    State(state): State<AppState>,
    client: ClientInfo,
    FreshOwner(_): FreshOwner,
    Path((channel, code)): Path<(String, String)>,
) -> Result<StatusCode, ApiError> {
    turn_away(&state, &client, &channel, &code).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Approves on the running gateway and keeps it among the security events.
pub(crate) async fn let_in(
    state: &AppState,
    client: &ClientInfo,
    channel: &str,
    code: &str,
) -> Result<Approved, ApiError> {
    let credential = running(state)?;
    let (channel, code) = checked(channel, code)?;
    let approved = pairing::approve(&credential, channel, code).await?;
    record(
        state,
        client,
        EventKind::DmAccessApproved,
        format!("{channel}:{}", approved.sender_id),
    )
    .await?;
    Ok(approved)
}

/// Dismisses on the running gateway and keeps it among the security events.
pub(crate) async fn turn_away(
    state: &AppState,
    client: &ClientInfo,
    channel: &str,
    code: &str,
) -> Result<(), ApiError> {
    let credential = running(state)?;
    let (channel, code) = checked(channel, code)?;
    let sender = pairing::deny(&credential, channel, code).await?;
    record(
        state,
        client,
        EventKind::DmAccessDenied,
        format!("{channel}:{sender}"),
    )
    .await
}

async fn record(
    state: &AppState,
    client: &ClientInfo,
    kind: EventKind,
    detail: String,
) -> Result<(), ApiError> {
    let mut event = client.event(kind);
    event.detail = Some(detail);
    store::run(&state.store, move |s| s.record_event(&event)).await?;
    Ok(())
}
