//! The JSON API: thin handlers that parse, call a domain module, and shape the answer.

pub mod auth;
pub mod channels;
pub mod gateway;
pub mod status;

use std::convert::Infallible;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::response::IntoResponse;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::routing::get;
use serde_json::{Value, json};
use tokio_stream::{Stream, StreamExt};

use crate::error::ApiError;
use crate::state::AppState;

/// Page sizes of the paged lists (security events, status checks).
pub const DEFAULT_PAGE: usize = 50;
pub const MAX_PAGE: usize = 200;

/// The `limit` query parameter: 1 to [`MAX_PAGE`], [`DEFAULT_PAGE`] when absent.
pub fn page_limit(limit: Option<usize>) -> Result<usize, ApiError> {
    let limit = limit.unwrap_or(DEFAULT_PAGE);
    if (1..=MAX_PAGE).contains(&limit) {
        Ok(limit)
    } else {
        Err(ApiError::field(
            "limit",
            format!("Use a number from 1 to {MAX_PAGE}."),
        ))
    }
}

/// A server-sent events response with a keep-alive comment every 15 s.
pub fn sse(stream: impl Stream<Item = Event> + Send + 'static) -> impl IntoResponse {
    let stream = stream.map(Ok::<Event, Infallible>);
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .merge(auth::routes())
        .merge(gateway::routes())
        .merge(status::routes())
        .merge(channels::routes())
}

async fn healthz() -> Json<Value> {
    Json(json!({"status": "ok"}))
}
