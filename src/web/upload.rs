//! A backup uploaded as the `file` field of a `multipart/form-data` body (the settings page's
//! form, or `curl -F file=@backup.tar.zst`): written to disk piece by piece as it arrives,
//! never held in memory. Its routes sit outside the request timeout and the body limit, so
//! what bounds it is here: one upload at a time, the disk's free space, a pause of a minute
//! without a byte, and the session that sent it (ending it ends the upload).

use std::time::Duration;

use axum::extract::Multipart;
use axum::extract::multipart::MultipartRejection;
use axum::http::{HeaderMap, StatusCode};

use super::error::ApiError;
use super::streams::session_ended;
use crate::backup::Kept;
use crate::state::AppState;

/// The field that holds the file.
pub(crate) const FILE_FIELD: &str = "file";
/// An upload that sends nothing for this long is given up.
const IDLE: Duration = Duration::from_mins(1);

/// Receives the backup in `body` and keeps it as the one upload.
pub(crate) async fn receive_backup(
    state: &AppState,
    headers: &HeaderMap,
    body: Result<Multipart, MultipartRejection>,
) -> Result<Kept, ApiError> {
    let mut body = body.map_err(|_| {
        ApiError::status(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "Send the backup as multipart/form-data, in a field named file.",
        )
    })?;
    let (_one_at_a_time, mut incoming) = state.backups.receive().await?;
    let token = state.cookie.read(headers).unwrap_or_default();
    let ended = session_ended(state, token);
    tokio::pin!(ended);
    // A body that is no well-formed form (or stops short) is the client's to fix.
    let cut_off = |error: axum::extract::multipart::MultipartError| {
        let status = match error.status() {
            StatusCode::PAYLOAD_TOO_LARGE => StatusCode::PAYLOAD_TOO_LARGE,
            _ => StatusCode::UNPROCESSABLE_ENTITY,
        };
        ApiError::status(
            status,
            format!("The upload could not be read: {}", error.body_text()),
        )
    };
    let stalled = || {
        ApiError::status(
            StatusCode::REQUEST_TIMEOUT,
            "The upload stopped: nothing arrived for a minute.",
        )
    };
    loop {
        let field = tokio::time::timeout(IDLE, body.next_field())
            .await
            .map_err(|_| stalled())?
            .map_err(cut_off)?;
        let Some(mut field) = field else {
            return Err(ApiError::field(FILE_FIELD, "Choose a backup file."));
        };
        if field.name() != Some(FILE_FIELD) {
            continue;
        }
        loop {
            let piece = tokio::select! {
                _ = &mut ended => return Err(ApiError::unauthorized()),
                piece = tokio::time::timeout(IDLE, field.chunk()) => piece,
            };
            match piece.map_err(|_| stalled())?.map_err(cut_off)? {
                Some(piece) => incoming.write(&piece).await?,
                // A form sent without a file chosen has the field, empty.
                None if incoming.received() == 0 => {
                    return Err(ApiError::field(FILE_FIELD, "Choose a backup file."));
                }
                None => return Ok(incoming.finish().await?),
            }
        }
    }
}
