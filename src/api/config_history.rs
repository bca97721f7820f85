//! `/api/gateway/config-history`: the versions of `openclaw.json` clawhost replaced, what
//! changed since each (secret-looking values hidden), and putting one back.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::gateway::config_history::{Change, History, HistoryError, Version};
use crate::state::AppState;
use crate::web::error::ApiError;
use crate::web::extract::{FreshOwner, Owner};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(changes))
        .routes(routes!(put_back))
}

#[derive(Serialize, ToSchema)]
struct ConfigVersionList {
    /// Newest first; at most ten.
    versions: Vec<Version>,
}

#[derive(Serialize, ToSchema)]
struct ConfigChanges {
    id: String,
    /// From the kept version to the file now.
    changes: Vec<Change>,
}

/// Runs a history call off the async runtime.
async fn blocking<T: Send + 'static>(
    call: impl FnOnce() -> Result<T, HistoryError> + Send + 'static,
) -> Result<T, ApiError> {
    tokio::task::spawn_blocking(call)
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::from)
}

/// The versions of `openclaw.json` that clawhost replaced.
#[utoipa::path(get, path = "/api/gateway/config-history", tag = "gateway", security(("session" = [])),
    responses((status = 200, body = ConfigVersionList)))]
async fn list(
    State(state): State<AppState>,
    Owner(_): Owner,
) -> Result<Json<ConfigVersionList>, ApiError> {
    let history = History::new(&state.config.data_dir);
    let versions = blocking(move || Ok(history.list()?)).await?;
    Ok(Json(ConfigVersionList { versions }))
}

/// What changed from a kept version to the file now.
#[utoipa::path(get, path = "/api/gateway/config-history/{id}", tag = "gateway", security(("session" = [])),
    params(("id" = String, Path, description = "The version's id")),
    responses((status = 200, body = ConfigChanges)))]
async fn changes(
    State(state): State<AppState>,
    Owner(_): Owner,
    Path(id): Path<String>,
) -> Result<Json<ConfigChanges>, ApiError> {
    let history = History::new(&state.config.data_dir);
    let config = state.gateway.paths().config_file();
    let shown = id.clone();
    let changes = blocking(move || history.changes(&id, &config)).await?;
    Ok(Json(ConfigChanges { id: shown, changes }))
}

/// Puts a kept version back as `openclaw.json` (the file replaced is kept in turn); a running
/// gateway restarts with it. Needs a fresh step-up.
#[utoipa::path(post, path = "/api/gateway/config-history/{id}/restore", tag = "gateway", security(("session" = [])),
    params(("id" = String, Path, description = "The version's id")),
    responses((status = 204, description = "Put back")))]
async fn put_back(
    State(state): State<AppState>,
    FreshOwner(_): FreshOwner,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    put_back_version(&state, id).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// The version back in place, and the gateway restarted on it when it runs.
pub(crate) async fn put_back_version(state: &AppState, id: String) -> Result<(), ApiError> {
    let history = History::new(&state.config.data_dir);
    let config = state.gateway.paths().config_file();
    blocking(move || history.put_back(&id, &config)).await?;
    if state.gateway.credential().is_some() {
        state.gateway.restart().await?;
    }
    Ok(())
}
