//! Server-sent events: what the live views (progress, logs, link steps) stream.

use std::convert::Infallible;
use std::time::Duration;

use axum::response::IntoResponse;
use axum::response::sse::{Event, KeepAlive, Sse};
use tokio_stream::{Stream, StreamExt};

/// A server-sent events response with a keep-alive comment every 15 s.
pub(crate) fn sse(stream: impl Stream<Item = Event> + Send + 'static) -> impl IntoResponse {
    let stream = stream.map(Ok::<Event, Infallible>);
    Sse::new(stream).keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
}
