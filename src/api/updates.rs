//! `/api/gateway/versions`, `/api/gateway/update`, `/api/gateway/rollback`: OpenClaw's
//! version, what the npm registry offers, an update that rolls itself back, and a switch
//! back to the version before. Steps go out on `/api/gateway/events` (`progress`).

use axum::Json;
use axum::extract::State;
use axum::http::StatusCode;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::ClientInfo;
use crate::config;
use crate::gateway::runtime;
use crate::state::AppState;
use crate::store::EventKind;
use crate::update::Outcome;
use crate::web::error::ApiError;
use crate::web::extract::{ApiJson, FreshOwner, Owner};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(versions))
        .routes(routes!(update))
        .routes(routes!(rollback))
}

#[derive(Serialize, ToSchema)]
struct VersionList {
    /// The OpenClaw installed and run now.
    installed: Option<String>,
    /// The one this clawhost is tested with.
    pinned: String,
    /// Stable releases on the npm registry, newest first (empty until first looked up).
    available: Vec<String>,
    /// Why no list is at hand: being asked for the first time, or why the last asking failed.
    available_error: Option<String>,
    /// The version the last update replaced, to go back to.
    previous: Option<String>,
    /// Whether an update or a rollback is under way.
    updating: bool,
    last_update: Option<Outcome>,
}

/// OpenClaw's versions: installed, pinned, offered, and the one before the last update.
#[utoipa::path(get, path = "/api/gateway/versions", tag = "gateway", security(("session" = [])),
    responses((status = 200, body = VersionList)))]
async fn versions(State(state): State<AppState>, Owner(_): Owner) -> Json<VersionList> {
    let updater = &state.updater;
    let installed = runtime::installed(
        &state.config.runtime_dir,
        state.config.gateway.command.as_deref(),
    )
    .await
    .map(|(version, _)| version);
    let (available, available_error) = updater.available();
    Json(VersionList {
        installed,
        pinned: state.config.gateway.openclaw_version.clone(),
        available,
        available_error,
        previous: runtime::previous(updater.runtime_dir()).map(|m| m.openclaw_version),
        updating: updater.updating(),
        last_update: updater.last(),
    })
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct UpdateRequest {
    /// An OpenClaw release such as `2026.9.6`.
    version: String,
}

#[derive(Serialize, ToSchema)]
struct UpdateStarted {
    version: String,
}

fn own_runtime(state: &AppState) -> Result<(), ApiError> {
    if state.config.gateway.command.is_some() {
        return Err(ApiError::status(
            StatusCode::CONFLICT,
            "clawhost runs the openclaw configured in gateway.command; update that install instead.",
        ));
    }
    Ok(())
}

/// Updates OpenClaw to `version`: installed beside the running one, the configuration checked
/// with it, a backup taken, then switched; if it is not ready and healthy in time, the old
/// version, configuration and state come back. Needs a fresh step-up.
#[utoipa::path(post, path = "/api/gateway/update", tag = "gateway", security(("session" = [])),
    request_body = UpdateRequest, responses((status = 202, body = UpdateStarted)))]
async fn update(
    State(state): State<AppState>,
    client: ClientInfo,
    FreshOwner(_): FreshOwner,
    ApiJson(body): ApiJson<UpdateRequest>,
) -> Result<(StatusCode, Json<UpdateStarted>), ApiError> {
    own_runtime(&state)?;
    let version =
        config::parse_version(&body.version).map_err(|m| ApiError::field("version", m))?;
    state
        .updater
        .start_update(version.clone(), client.event(EventKind::OpenclawUpdated))?;
    Ok((StatusCode::ACCEPTED, Json(UpdateStarted { version })))
}

/// Goes back to the OpenClaw the last update replaced, with OpenClaw's state of before that
/// update (a backup first keeps what changed since). Needs a fresh step-up.
#[utoipa::path(post, path = "/api/gateway/rollback", tag = "gateway", security(("session" = [])),
    responses((status = 202, body = UpdateStarted)))]
async fn rollback(
    State(state): State<AppState>,
    client: ClientInfo,
    FreshOwner(_): FreshOwner,
) -> Result<(StatusCode, Json<UpdateStarted>), ApiError> {
    own_runtime(&state)?;
    let previous = runtime::previous(state.updater.runtime_dir())
        .map(|m| m.openclaw_version)
        .unwrap_or_default();
    state
        .updater
        .start_rollback(client.event(EventKind::OpenclawSwitchedBack))?;
    Ok((
        StatusCode::ACCEPTED,
        Json(UpdateStarted { version: previous }),
    ))
}
