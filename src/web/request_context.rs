//! Gives every request a fresh id (never the client's: ids end up in logs), a tracing span
//! carrying it, and one log line when the response is ready.
//!
//! Only the method, the path and the status are logged: never the query, headers, cookies
//! or bodies, so no credential can reach the log from here.

use std::time::Instant;

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use crate::crypto::{hex, random_bytes};

const REQUEST_ID: &str = "x-request-id";

pub(crate) async fn request_context(request: Request, next: Next) -> Response {
    let id = hex(&random_bytes::<8>());
    let span = tracing::info_span!(
        "request",
        id = %id,
        method = %request.method(),
        path = %request.uri().path(),
    );
    let started = Instant::now();
    let mut response = next.run(request).instrument(span.clone()).await;
    let status = response.status().as_u16();
    span.in_scope(|| {
        let millis = u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX);
        if status >= 500 {
            tracing::warn!(status, millis, "response");
        } else {
            tracing::info!(status, millis, "response");
        }
    });
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    response
}
