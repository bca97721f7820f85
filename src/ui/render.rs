//! How pages answer: a rendered template, a redirect (303) after a form, or a failure, shown
//! with the same status and sentence the JSON API gives for it.

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};

use crate::web::error::ApiError;

pub(super) fn render(status: StatusCode, page: impl Template) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(error) => ApiError::internal(error).into_page(),
    }
}

pub(super) fn see_other(location: &str, cookie: Option<HeaderValue>) -> Response {
    let mut response = Redirect::to(location).into_response();
    if let Some(cookie) = cookie {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

/// What a failed form shows next to it (the error's status and sentence), or the error when
/// there is nothing the visitor can change (for its error page).
pub(super) fn form_message(error: impl Into<ApiError>) -> Result<(StatusCode, String), ApiError> {
    let error = error.into();
    match error.sentence() {
        Some(message) => Ok((error.status_code(), message)),
        None => Err(error),
    }
}

/// A form that failed: the form again, with the sentence for the error next to it.
pub(super) fn form_failed<T: Template>(
    error: impl Into<ApiError>,
    form: impl FnOnce(String) -> T,
) -> Response {
    match form_message(error) {
        Ok((status, message)) => render(status, form(message)),
        Err(error) => error.into_page(),
    }
}

/// A point in time as pages show it: in UTC for the page as served, with the exact instant
/// for the page's script, which shows it in the browser's own time (UTC in its tooltip).
pub(super) struct Moment {
    pub(super) iso: String,
    pub(super) utc: String,
}

impl Moment {
    pub(super) fn of(rfc3339: &str) -> Self {
        Self {
            iso: rfc3339.to_string(),
            utc: crate::clock::display(rfc3339),
        }
    }
}
