//! The two shapes an error leaves in: an RFC 9457 `application/problem+json` document for
//! programs, a readable page for a browser. Errors the handlers did not shape themselves
//! (unknown paths, wrong methods, timeouts, rejected bodies) are shaped here too, never left
//! as bare text.

use askama::Template;
use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{Html, IntoResponse, Response};
use serde::Serialize;

use crate::validation::FieldError;

pub(crate) const PROBLEM_JSON: &str = "application/problem+json";
/// The problem type for a plain HTTP status with no more specific meaning.
pub(crate) const ABOUT_BLANK: &str = "about:blank";

/// A problem (RFC 9457): what went wrong, for people and programs.
#[derive(Serialize, utoipa::ToSchema)]
#[schema(as = Problem)]
pub(crate) struct ProblemBody<'a> {
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
pub(crate) fn problem(
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

#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    title: &'a str,
    status: u16,
    detail: &'a str,
    hint: &'a str,
    link: Link<'a>,
    /// Seconds after which the page loads itself again; 0 for never.
    refresh: u32,
}

/// Where an error page sends the visitor next.
#[derive(Clone, Copy)]
pub(crate) struct Link<'a> {
    pub(crate) href: &'a str,
    pub(crate) text: &'a str,
}

impl Link<'static> {
    pub(crate) const DASHBOARD: Self = Self {
        href: "/",
        text: "Go to the dashboard",
    };
}

/// An error page with more to say than a sentence: a hint below it, where to go, and whether
/// it tries again by itself (for a state that passes, like a gateway starting).
pub(crate) struct PageError<'a> {
    pub(crate) status: StatusCode,
    pub(crate) title: &'a str,
    pub(crate) detail: &'a str,
    pub(crate) hint: &'a str,
    pub(crate) link: Link<'a>,
    pub(crate) refresh: u32,
}

impl PageError<'_> {
    pub(crate) fn into_response(self) -> Response {
        let page = ErrorPage {
            title: self.title,
            status: self.status.as_u16(),
            detail: self.detail,
            hint: self.hint,
            link: self.link,
            refresh: self.refresh,
        };
        match page.render() {
            Ok(html) => (self.status, Html(html)).into_response(),
            Err(_) => problem(self.status, ABOUT_BLANK, Some(self.detail), None),
        }
    }
}

/// A page title in words people use, not the HTTP reason phrase.
pub(crate) fn page_title(status: StatusCode) -> &'static str {
    match status.as_u16() {
        400 => "This request cannot be used",
        401 => "Sign in first",
        403 => "Not allowed",
        404 => "Page not found",
        405 => "Not possible here",
        409 => "Not possible right now",
        413 => "Too large",
        421 => "Wrong address",
        422 => "Please check what you entered",
        429 => "Too many attempts",
        502 | 504 => "The gateway is not answering",
        503 => "Not available right now",
        _ if status.is_server_error() => "Something went wrong",
        _ => "This did not work",
    }
}

/// A browser navigating (not our scripts, not the API) gets HTML.
pub(crate) fn wants_html(path: &str, headers: &HeaderMap) -> bool {
    !path.starts_with("/api/")
        && headers
            .get(header::ACCEPT)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|accept| accept.contains("text/html"))
}

pub(crate) fn html_error(status: StatusCode, detail: &str) -> Response {
    PageError {
        status,
        title: page_title(status),
        detail,
        hint: "",
        link: Link::DASHBOARD,
        refresh: 0,
    }
    .into_response()
}

pub(crate) fn error_for_path(
    path: &str,
    headers: &HeaderMap,
    status: StatusCode,
    detail: &str,
) -> Response {
    if wants_html(path, headers) {
        html_error(status, detail)
    } else {
        problem(status, ABOUT_BLANK, Some(detail), None)
    }
}

pub(crate) async fn not_found(request: Request) -> Response {
    error_for_path(
        request.uri().path(),
        request.headers(),
        StatusCode::NOT_FOUND,
        "There is nothing at this address.",
    )
}

pub(crate) async fn method_not_allowed(request: Request) -> Response {
    let detail = format!("{} is not allowed here.", request.method());
    error_for_path(
        request.uri().path(),
        request.headers(),
        StatusCode::METHOD_NOT_ALLOWED,
        &detail,
    )
}

fn default_detail(status: StatusCode) -> &'static str {
    match status {
        StatusCode::REQUEST_TIMEOUT => "The request took too long and was abandoned.",
        StatusCode::PAYLOAD_TOO_LARGE => "The request body is larger than allowed.",
        StatusCode::UNSUPPORTED_MEDIA_TYPE => "Send the body as application/json.",
        _ => "The request could not be handled.",
    }
}

/// Turns any error response that is not already problem+json or HTML into problem+json,
/// keeping its status and headers (`Allow`, `Retry-After`, …).
pub(crate) async fn shape_errors(request: Request, next: Next) -> Response {
    let path = request.uri().path().to_owned();
    // The Control UI's own answers pass through as the gateway made them.
    if path == "/openclaw" || path.starts_with("/openclaw/") {
        return next.run(request).await;
    }
    let request_headers = request.headers().clone();
    let response = next.run(request).await;
    let status = response.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return response;
    }
    let content_type = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type.starts_with(PROBLEM_JSON) || content_type.starts_with("text/html") {
        return response;
    }
    let (mut parts, _body) = response.into_parts();
    let shaped = error_for_path(&path, &request_headers, status, default_detail(status));
    let (shaped_parts, body) = shaped.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    if let Some(value) = shaped_parts.headers.get(header::CONTENT_TYPE) {
        parts.headers.insert(header::CONTENT_TYPE, value.clone());
    } else {
        parts
            .headers
            .insert(header::CONTENT_TYPE, HeaderValue::from_static(PROBLEM_JSON));
    }
    Response::from_parts(parts, Body::new(body))
}
