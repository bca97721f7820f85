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

use crate::auth::tokens::{hex, random_bytes};

pub const REQUEST_ID: &str = "x-request-id";

#[derive(Debug, Clone)]
pub struct RequestId(pub String);

pub async fn request_context(mut request: Request, next: Next) -> Response {
    let id = hex(&random_bytes::<8>());
    request.extensions_mut().insert(RequestId(id.clone()));
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
        let millis = started.elapsed().as_millis() as u64;
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
