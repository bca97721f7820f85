//! Server-sent events: what the live views (progress, logs, link steps) stream.

use std::convert::Infallible;
use std::time::Duration;

use axum::http::{HeaderName, HeaderValue};
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use tokio_stream::{Stream, StreamExt};

/// A server-sent events response with a keep-alive comment every 15 s. It asks a reverse
/// proxy in front (nginx) not to buffer it: a buffered stream shows a start's progress only
/// when the buffer is full, which for a few small events is never.
pub(crate) fn sse(stream: impl Stream<Item = Event> + Send + 'static) -> Response {
    let stream = stream.map(Ok::<Event, Infallible>);
    let mut response = Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(Duration::from_secs(15)))
        .into_response();
    response.headers_mut().insert(
        HeaderName::from_static("x-accel-buffering"),
        HeaderValue::from_static("no"),
    );
    response
}
