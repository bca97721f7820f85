//! Gives every request a fresh id (never the client's: ids end up in logs), a tracing span
//! carrying it, and one log line when the response is ready.
//!
//! Ids only tell requests apart in the log; they guard nothing. So they come from a counter
//! that starts at a random point, scrambled by a bijection: unique within a run, unlike across
//! runs, and no system call per request.
//!
//! Only the method, the path and the status are logged: never the query, headers, cookies
//! or bodies, so no credential can reach the log from here.

use std::sync::LazyLock;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;

use axum::extract::Request;
use axum::http::HeaderValue;
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use crate::crypto::random_bytes;

const REQUEST_ID: &str = "x-request-id";

static NEXT_ID: LazyLock<AtomicU64> =
    LazyLock::new(|| AtomicU64::new(u64::from_le_bytes(random_bytes::<8>())));

/// splitmix64's finalizer: a bijection of `u64`, so distinct counts give distinct ids.
fn scramble(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

fn next_id() -> String {
    format!("{:016x}", scramble(NEXT_ID.fetch_add(1, Ordering::Relaxed)))
}

pub(crate) async fn request_context(request: Request, next: Next) -> Response {
    let id = next_id();
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_sixteen_hex_digits_and_never_repeat() {
        let ids: std::collections::HashSet<String> = (0..10_000).map(|_| next_id()).collect();
        assert_eq!(ids.len(), 10_000);
        assert!(
            ids.iter()
                .all(|id| id.len() == 16 && id.bytes().all(|b| b.is_ascii_hexdigit()))
        );
        // Neighbouring counts look unrelated.
        assert_ne!(scramble(1) >> 32, scramble(2) >> 32);
    }
}
