//! One error type for the JSON API, rendered as RFC 9457 `application/problem+json`.
//!
//! What the client reads (`title`, `detail`, field errors) is separate from what the log gets:
//! a 5xx body never carries internal detail, only the request id to quote.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use crate::store::StoreError;

pub const PROBLEM_JSON: &str = "application/problem+json";

/// One invalid field of a request.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: &str, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

#[derive(Debug)]
pub enum ApiError {
    /// 400, 401, 403, 404, 409, … with a human sentence.
    Status { status: StatusCode, detail: String },
    /// 422 with one entry per offending field.
    Validation(Vec<FieldError>),
    /// 429; the client may retry after this many seconds.
    TooManyRequests { retry_after_secs: u64 },
    /// 500; the cause is logged, never shown.
    Internal(String),
}

impl ApiError {
    pub fn status(status: StatusCode, detail: impl Into<String>) -> Self {
        Self::Status {
            status,
            detail: detail.into(),
        }
    }

    pub fn unauthorized() -> Self {
        Self::status(
            StatusCode::UNAUTHORIZED,
            "Sign in as the owner to continue.",
        )
    }

    pub fn not_found(detail: impl Into<String>) -> Self {
        Self::status(StatusCode::NOT_FOUND, detail)
    }

    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }

    pub fn internal(cause: impl std::fmt::Display) -> Self {
        Self::Internal(cause.to_string())
    }
}

impl From<StoreError> for ApiError {
    fn from(error: StoreError) -> Self {
        Self::internal(error)
    }
}

/// A problem (RFC 9457): what went wrong, for people and programs.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Problem)]
pub struct ProblemBody<'a> {
    /// A URI naming the problem; `about:blank` when the status says it all.
    #[serde(rename = "type")]
    kind: &'a str,
    title: &'a str,
    status: u16,
    #[serde(skip_serializing_if = "Option::is_none")]
    detail: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    errors: Option<&'a [FieldError]>,
}

/// Builds a problem response. `kind` is a stable URI naming the problem.
pub fn problem(
    status: StatusCode,
    kind: &str,
    detail: Option<&str>,
    errors: Option<&[FieldError]>,
) -> Response {
    let title = status.canonical_reason().unwrap_or("Error");
    let body = ProblemBody {
        kind,
        title,
        status: status.as_u16(),
        detail,
        errors,
    };
    let json = serde_json::to_vec(&body).unwrap_or_default();
    let mut response = (status, json).into_response();
    response
        .headers_mut()
        .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    response
}

/// The problem type for a plain HTTP status with no more specific meaning.
pub const ABOUT_BLANK: &str = "about:blank";

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        match self {
            ApiError::Status { status, detail } => {
                problem(status, ABOUT_BLANK, Some(&detail), None)
            }
            ApiError::Validation(errors) => problem(
                StatusCode::UNPROCESSABLE_ENTITY,
                "urn:clawhost:problem:validation",
                Some("Some fields are not valid; see errors."),
                Some(&errors),
            ),
            ApiError::TooManyRequests { retry_after_secs } => {
                let detail = format!("Too many attempts. Try again in {retry_after_secs} s.");
                let mut response = problem(
                    StatusCode::TOO_MANY_REQUESTS,
                    "urn:clawhost:problem:rate-limited",
                    Some(&detail),
                    None,
                );
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
                response
            }
            ApiError::Internal(cause) => {
                // The request id is already on the span; the body says only that it failed.
                tracing::error!(%cause, "internal error");
                problem(
                    StatusCode::INTERNAL_SERVER_ERROR,
                    ABOUT_BLANK,
                    Some(
                        "Something went wrong on the server. The log has the details under this response's x-request-id.",
                    ),
                    None,
                )
            }
        }
    }
}
