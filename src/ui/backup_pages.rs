//! The backups card of the settings page (and its summary on the dashboard): back up now,
//! download, restore and remove a kept backup. Each is a sensitive action, confirmed with the
//! password (or a passkey) when it was not given in the last minutes.

use axum::Router;
use axum::extract::multipart::MultipartRejection;
use axum::extract::{Multipart, Path, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::post;
use serde::Deserialize;

use super::render::{Moment, see_other};
use super::step_up::{Confirmable, NoFields};
use crate::auth::ClientInfo;
use crate::backup::service::{Drill, Job};
use crate::backup::{self, BackupError};
use crate::config::format_duration;
use crate::state::AppState;
use crate::store::{self, EventKind};
use crate::web::download::attachment;
use crate::web::error::ApiError;
use crate::web::extract::{PageOwner, ReturnTo};
use crate::web::upload::receive_backup;

pub(super) fn routes() -> Router<AppState> {
    let forms = Router::new()
        .route("/settings/backups", post(back_up))
        .route("/settings/backups/{id}/download", post(download))
        .route("/settings/backups/{id}/restore", post(restore))
        .route("/settings/backups/{id}/remove", post(remove))
        .route("/settings/backups/upload/confirm", post(confirm_upload));
    ReturnTo::group("/settings", forms)
}

/// The upload's form, whose body is streamed (see [`crate::web::upload`]).
pub(super) fn streamed_routes() -> Router<AppState> {
    ReturnTo::group(
        "/settings",
        Router::new().route("/settings/backups/upload", post(upload)),
    )
}

pub(super) struct BackupRow {
    pub(super) id: String,
    pub(super) created_at: Moment,
    pub(super) size: String,
    pub(super) encrypted: bool,
    pub(super) uploaded: bool,
}

pub(super) struct BackupCard {
    pub(super) list: Vec<BackupRow>,
    /// "backing up", "restoring", "checking the newest backup", when one runs.
    pub(super) running: Option<&'static str>,
    pub(super) drill: Option<DrillRow>,
    /// "every 1d, the newest 7 kept", or that there is no schedule.
    pub(super) schedule: String,
    /// The session confirmed the owner lately, so a file may be uploaded now (an upload's
    /// body cannot be posted again after a confirmation page).
    pub(super) upload_now: bool,
}

impl BackupCard {
    /// The newest backup made here (an upload is not one).
    pub(super) fn last_made(&self) -> Option<&BackupRow> {
        self.list.iter().find(|backup| !backup.uploaded)
    }
}

pub(super) struct DrillRow {
    pub(super) ok: bool,
    pub(super) checked_at: Moment,
    pub(super) detail: String,
}

pub(super) async fn backup_card(state: &AppState) -> Result<BackupCard, ApiError> {
    let backups = &state.backups;
    let list = backups
        .list()
        .await?
        .into_iter()
        .map(|kept| BackupRow {
            created_at: Moment::of(&kept.created_at),
            size: human_size(kept.size),
            encrypted: kept.encrypted,
            uploaded: kept.uploaded,
            id: kept.id,
        })
        .collect();
    let settings = backups.settings();
    let schedule = match settings.schedule.0 {
        Some(every) => format!(
            "A backup is made every {}; the newest {} are kept.",
            format_duration(every),
            settings.keep
        ),
        None => format!(
            "No backup is made by itself (backup.schedule = \"off\"); the newest {} are kept.",
            settings.keep
        ),
    };
    Ok(BackupCard {
        list,
        running: backups.running().map(|job| match job {
            Job::Backup => "A backup is being made",
            Job::Restore => "A backup is being restored",
            Job::Drill => "The newest backup is being test-restored",
        }),
        drill: backups.last_drill().map(|d: Drill| DrillRow {
            ok: d.ok,
            checked_at: Moment::of(&d.checked_at),
            detail: d.detail,
        }),
        schedule,
        upload_now: false,
    })
}

fn human_size(bytes: u64) -> String {
    const MIB: u64 = 1024 * 1024;
    if bytes >= MIB {
        format!("{}.{} MiB", bytes / MIB, bytes % MIB * 10 / MIB)
    } else {
        format!("{} KiB", bytes.div_ceil(1024))
    }
}

#[derive(Deserialize)]
struct BackupForm {
    #[serde(default)]
    passphrase: String,
}

fn done(what: &str) -> Response {
    see_other(&format!("/settings?backup={what}#backups"), None)
}

fn failed(error: BackupError) -> Response {
    ApiError::from(error).into_page()
}

async fn back_up(State(state): State<AppState>, form: Confirmable<BackupForm>) -> Response {
    let client = form.client().clone();
    let (_, form) = match form.confirmed(&state, "Making a backup").await {
        Ok(confirmed) => confirmed,
        Err(page) => return page,
    };
    let passphrase = match form.passphrase.as_str() {
        "" => None,
        given => match backup::passphrase(given) {
            Ok(passphrase) => Some(passphrase),
            Err(error) => return failed(error),
        },
    };
    match state
        .backups
        .start_backup(passphrase, client.event(EventKind::BackupCreated))
    {
        Ok(()) => done("started"),
        Err(error) => failed(error),
    }
}

async fn download(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    form: Confirmable<NoFields>,
) -> Response {
    let client = form.client().clone();
    if let Err(page) = form.confirmed(&state, "Downloading a backup").await {
        return page;
    }
    let path = match state.backups.path(&id) {
        Ok(path) => path,
        Err(error) => return failed(error),
    };
    let file = match tokio::fs::File::open(&path).await {
        Ok(file) => file,
        Err(error) => {
            return ApiError::internal(format!("{}: {error}", path.display())).into_page();
        }
    };
    let mut event = client.event(EventKind::BackupDownloaded);
    event.detail = Some(id.clone());
    if let Err(error) = store::run(&state.store, move |s| s.record_event(&event)).await {
        return ApiError::from(error).into_page();
    }
    attachment(&state, &headers, &id, file)
        .await
        .unwrap_or_else(ApiError::into_page)
}

#[derive(Deserialize)]
struct RestoreForm {
    #[serde(default)]
    passphrase: String,
}

async fn restore(
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: Confirmable<RestoreForm>,
) -> Response {
    let (_, form) = match form.confirmed(&state, "Restoring a backup").await {
        Ok(confirmed) => confirmed,
        Err(page) => return page,
    };
    let passphrase = (!form.passphrase.is_empty())
        .then(|| age::secrecy::SecretString::from(form.passphrase.clone()));
    match state.backups.start_restore(&id, passphrase) {
        Ok(()) => done("restoring"),
        Err(error) => failed(error),
    }
}

async fn remove(
    State(state): State<AppState>,
    Path(id): Path<String>,
    form: Confirmable<NoFields>,
) -> Response {
    if let Err(page) = form.confirmed(&state, "Removing a backup").await {
        return page;
    }
    let path = match state.backups.path(&id) {
        Ok(path) => path,
        Err(error) => return failed(error),
    };
    match tokio::fs::remove_file(&path).await {
        Ok(()) => done("removed"),
        Err(error) => ApiError::internal(format!("{}: {error}", path.display())).into_page(),
    }
}

/// Confirms the owner before an upload: the file is chosen on the page that follows.
async fn confirm_upload(State(state): State<AppState>, form: Confirmable<NoFields>) -> Response {
    match form.confirmed(&state, "Uploading a backup").await {
        Ok(_) => done("upload"),
        Err(page) => page,
    }
}

async fn upload(
    State(state): State<AppState>,
    PageOwner(session): PageOwner,
    client: ClientInfo,
    headers: HeaderMap,
    body: Result<Multipart, MultipartRejection>,
) -> Response {
    // Checked before a byte of the file is read: a file cannot ride through a confirmation
    // page, so the owner confirms first and then chooses it.
    if !state.auth.is_fresh(&session) {
        return done("confirm-upload");
    }
    let kept = match receive_backup(&state, &headers, body).await {
        Ok(kept) => kept,
        Err(error) => return error.into_page(),
    };
    let mut event = client.event(EventKind::BackupUploaded);
    event.detail = Some(kept.id);
    match store::run(&state.store, move |s| s.record_event(&event)).await {
        Ok(()) => done("uploaded"),
        Err(error) => ApiError::from(error).into_page(),
    }
}
