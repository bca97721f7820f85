//! A handler that panics still gets an answer: a 500 problem that says only that something
//! failed, with the panic logged under the request's id. Without this layer hyper drops the
//! connection and the client sees nothing.

use std::any::Any;

use axum::http::StatusCode;
use axum::response::Response;
use tower_http::catch_panic::CatchPanicLayer;

use super::problems::{ABOUT_BLANK, problem};

type Handler = fn(Box<dyn Any + Send + 'static>) -> Response;

pub(crate) fn layer() -> CatchPanicLayer<Handler> {
    CatchPanicLayer::custom(answer as Handler)
}

#[allow(
    clippy::needless_pass_by_value,
    reason = "the signature tower-http's CatchPanicLayer calls"
)]
fn answer(panic: Box<dyn Any + Send + 'static>) -> Response {
    let what = panic
        .downcast_ref::<&str>()
        .map(|s| (*s).to_string())
        .or_else(|| panic.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "a panic without a message".into());
    // Inside the request's span: the log line carries its id.
    tracing::error!(panic = %what, "a handler panicked");
    problem(
        StatusCode::INTERNAL_SERVER_ERROR,
        ABOUT_BLANK,
        Some(
            "Something went wrong on the server. The log has the details under this response's x-request-id.",
        ),
        None,
    )
}
