//! `/api/backups/*`: the backups kept, making one, its progress, downloading one, restoring
//! one. Everything that hands out or replaces the instance needs a fresh step-up.

use axum::Json;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::sse::Event;
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::BroadcastStream;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::ClientInfo;
use crate::backup::service::{Drill, Job};
use crate::backup::{self, Kept};
use crate::config::format_duration;
use crate::state::AppState;
use crate::store::{self, EventKind};
use crate::web::download::attachment;
use crate::web::error::ApiError;
use crate::web::extract::{ApiJson, FreshOwner, Owner};
use crate::web::streams::StreamOwner;
use crate::web::upload::receive_backup;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list, create))
        .routes(routes!(events))
        .routes(routes!(download))
        .routes(routes!(remove))
        .routes(routes!(restore))
}

/// The routes whose bodies are streamed, outside the request timeout and the body limit
/// (see [`crate::web::upload`]).
pub(crate) fn streamed_routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(upload))
}

#[derive(Serialize, ToSchema)]
struct BackupList {
    /// Newest first.
    backups: Vec<Kept>,
    /// The job running now: `backup`, `restore` or `drill`.
    running: Option<Job>,
    /// The last restore drill: whether the newest backup restores.
    last_drill: Option<Drill>,
    /// How often a backup is made by itself (`null`: never).
    schedule: Option<String>,
    /// How many are kept.
    keep: usize,
}

/// The backups kept in `<data_dir>/backups`, what runs now, and the last drill.
#[utoipa::path(get, path = "/api/backups", tag = "backups", security(("session" = [])),
    responses((status = 200, body = BackupList)))]
async fn list(
    State(state): State<AppState>,
    Owner(_): Owner,
) -> Result<Json<BackupList>, ApiError> {
    let backups = &state.backups;
    Ok(Json(BackupList {
        backups: backups.list().await?,
        running: backups.running(),
        last_drill: backups.last_drill(),
        schedule: backups.settings().schedule.0.map(format_duration),
        keep: backups.settings().keep,
    }))
}

#[derive(Deserialize, Default, ToSchema)]
#[serde(deny_unknown_fields)]
struct BackupRequest {
    /// Encrypts the backup (12 to 1024 characters); it then holds the secret key too, so a
    /// restore on another machine keeps the provider key.
    passphrase: Option<String>,
}

#[derive(Serialize, ToSchema)]
struct BackupStarted {
    job: Job,
}

/// Makes a backup now; its steps are on `/api/backups/events`. Needs a fresh step-up.
#[utoipa::path(post, path = "/api/backups", tag = "backups", security(("session" = [])),
    request_body(content = Option<BackupRequest>),
    responses((status = 202, body = BackupStarted)))]
async fn create(
    State(state): State<AppState>,
    client: ClientInfo,
    FreshOwner(_): FreshOwner,
    body: Option<ApiJson<BackupRequest>>,
) -> Result<(StatusCode, Json<BackupStarted>), ApiError> {
    let passphrase = body
        .and_then(|b| b.0.passphrase)
        .map(|p| backup::passphrase(&p))
        .transpose()?;
    state
        .backups
        .start_backup(passphrase, client.event(EventKind::BackupCreated))?;
    Ok((
        StatusCode::ACCEPTED,
        Json(BackupStarted { job: Job::Backup }),
    ))
}

/// Server-sent events, one per step of a backup, restore or drill: `progress`, then `done`
/// or `failed` (`{"kind","job","detail","elapsed_ms","id","warnings"}`).
#[utoipa::path(get, path = "/api/backups/events", tag = "backups", security(("session" = [])),
    responses((status = 200, content_type = "text/event-stream", body = String)))]
async fn events(State(state): State<AppState>, owner: StreamOwner) -> impl IntoResponse {
    let events = BroadcastStream::new(state.backups.subscribe()).filter_map(|event| {
        let event = event.ok()?;
        Event::default().event(event.kind).json_data(event).ok()
    });
    owner.sse(events)
}

/// The backup file, streamed. Needs a fresh step-up: it holds the whole instance.
#[utoipa::path(get, path = "/api/backups/{id}/download", tag = "backups", security(("session" = [])),
    params(("id" = String, Path, description = "The backup's file name")),
    responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>)))]
async fn download(
    State(state): State<AppState>,
    client: ClientInfo,
    FreshOwner(_): FreshOwner,
    headers: HeaderMap,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    let path = state.backups.path(&id)?;
    let file = tokio::fs::File::open(&path)
        .await
        .map_err(|e| ApiError::internal(format!("{}: {e}", path.display())))?;
    let mut event = client.event(EventKind::BackupDownloaded);
    event.detail = Some(id.clone());
    store::run(&state.store, move |s| s.record_event(&event)).await?;
    attachment(&state, &headers, &id, file).await
}

/// Removes a kept backup. Needs a fresh step-up.
#[utoipa::path(delete, path = "/api/backups/{id}", tag = "backups", security(("session" = [])),
    params(("id" = String, Path, description = "The backup's file name")),
    responses((status = 204, description = "Removed")))]
async fn remove(
    State(state): State<AppState>,
    FreshOwner(_): FreshOwner,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    let path = state.backups.path(&id)?;
    tokio::fs::remove_file(&path)
        .await
        .map_err(|e| ApiError::internal(format!("{}: {e}", path.display())))?;
    Ok(StatusCode::NO_CONTENT)
}

/// The form of an upload: the backup file in the field `file`.
#[derive(ToSchema)]
#[allow(dead_code)] // Only describes the body in the document; the handler streams it.
struct BackupUpload {
    #[schema(format = Binary, value_type = String)]
    file: Vec<u8>,
}

/// Uploads a backup made elsewhere (`multipart/form-data`, the file in the field `file`),
/// streamed to disk. It is kept as the one upload (the next replaces it; it is neither
/// counted in `backup.keep` nor drilled) and restored like any kept backup with
/// `POST /api/backups/restore`, which checks it whole first. 413 when the disk could not
/// take it and still restore it; 422 when its start is no backup's. Needs a fresh step-up.
#[utoipa::path(post, path = "/api/backups/upload", tag = "backups", security(("session" = [])),
    request_body(content = BackupUpload, content_type = "multipart/form-data"),
    responses((status = 201, body = Kept)))]
async fn upload(
    State(state): State<AppState>,
    client: ClientInfo,
    FreshOwner(_): FreshOwner,
    headers: HeaderMap,
    body: Result<Multipart, MultipartRejection>,
) -> Result<(StatusCode, Json<Kept>), ApiError> {
    let kept = receive_backup(&state, &headers, body).await?;
    let mut event = client.event(EventKind::BackupUploaded);
    event.detail = Some(kept.id.clone());
    store::run(&state.store, move |s| s.record_event(&event)).await?;
    Ok((StatusCode::CREATED, Json(kept)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct BackupRestoreRequest {
    /// A kept backup's file name (`GET /api/backups`).
    id: String,
    /// The passphrase of an encrypted backup.
    passphrase: Option<String>,
}

/// Restores a kept backup: checked whole first (a damaged one changes nothing), then the
/// gateway stopped, the state replaced (the instance as it was kept in
/// `before-restore-<time>`), and the gateway started again if it was running. Every session
/// ends. Steps on `/api/backups/events`. Needs a fresh step-up.
#[utoipa::path(post, path = "/api/backups/restore", tag = "backups", security(("session" = [])),
    request_body = BackupRestoreRequest, responses((status = 202, body = BackupStarted)))]
async fn restore(
    State(state): State<AppState>,
    FreshOwner(_): FreshOwner,
    ApiJson(body): ApiJson<BackupRestoreRequest>,
) -> Result<(StatusCode, Json<BackupStarted>), ApiError> {
    // Any passphrase opens what it opened when made; only its length is bounded here.
    let passphrase = match body.passphrase {
        Some(p) if p.chars().count() > 1024 => {
            return Err(ApiError::field("passphrase", "At most 1024 characters."));
        }
        Some(p) => Some(age::secrecy::SecretString::from(p)),
        None => None,
    };
    state.backups.start_restore(&body.id, passphrase)?;
    Ok((
        StatusCode::ACCEPTED,
        Json(BackupStarted { job: Job::Restore }),
    ))
}
