//! A file handed to the browser as a download: streamed 64 KiB at a time (never all of it in
//! memory), never cached, and cut off when the session that asked for it ends.

use axum::body::{Body, Bytes};
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::{IntoResponse, Response};
use tokio::io::AsyncReadExt;

use super::error::ApiError;
use super::streams::{session_ended, until};
use crate::state::AppState;

/// `file` as an attachment named `name` (a name of plain characters: it goes in a header).
pub(crate) async fn attachment(
    state: &AppState,
    headers: &HeaderMap,
    name: &str,
    file: tokio::fs::File,
) -> Result<Response, ApiError> {
    let size = file.metadata().await.map_err(ApiError::internal)?.len();
    let disposition = HeaderValue::from_str(&format!("attachment; filename=\"{name}\""))
        .map_err(ApiError::internal)?;
    let token = state.cookie.read(headers).unwrap_or_default();
    let body = until(file_body(file), session_ended(state, token));
    Ok((
        [
            (
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/octet-stream"),
            ),
            (header::CONTENT_DISPOSITION, disposition),
            (header::CACHE_CONTROL, HeaderValue::from_static("no-store")),
            (header::CONTENT_LENGTH, HeaderValue::from(size)),
        ],
        body,
    )
        .into_response())
}

fn file_body(file: tokio::fs::File) -> Body {
    let chunks = futures_util::stream::unfold(Some(file), |file| async move {
        let mut file = file?;
        let mut buffer = vec![0u8; 64 * 1024];
        match file.read(&mut buffer).await {
            Ok(0) => None,
            Ok(n) => {
                buffer.truncate(n);
                Some((Ok(Bytes::from(buffer)), Some(file)))
            }
            Err(error) => Some((Err(error), None)),
        }
    });
    Body::from_stream(chunks)
}
