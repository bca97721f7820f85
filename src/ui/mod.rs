//! Server-rendered pages: claim, login and the first dashboard. Forms post without
//! JavaScript; errors re-render the form with a message next to it.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

use crate::auth::limiter::retry_after_secs;
use crate::auth::{AuthError, ClientInfo};
use crate::state::AppState;
use crate::web::extract::MaybeOwner;
use crate::web::problems::html_error;

mod owner_pages;
mod whatsapp_page;

const STYLESHEET: &str = include_str!("../../static/app.css");
const SCRIPT: &str = include_str!("../../static/app.js");

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/claim", get(claim_page).post(claim_submit))
        .route("/login", get(login_page).post(login_submit))
        .route("/logout", post(logout))
        .route("/sessions/{id}/revoke", post(revoke))
        .route("/sessions/revoke-others", post(revoke_others))
        .route("/static/app.css", get(stylesheet))
        .route("/static/app.js", get(script))
        .merge(owner_pages::routes())
        .merge(whatsapp_page::routes())
}

/// A page failed for a reason the visitor cannot fix; the log has the cause.
pub(crate) fn internal(cause: impl std::fmt::Display) -> Response {
    tracing::error!(%cause, "page failed");
    html_error(
        StatusCode::INTERNAL_SERVER_ERROR,
        "Something went wrong on the server. The log has the details.",
    )
}

pub(crate) fn render(status: StatusCode, page: impl Template) -> Response {
    match page.render() {
        Ok(html) => (status, Html(html)).into_response(),
        Err(error) => internal(error),
    }
}

pub(crate) fn see_other(location: &str, cookie: Option<HeaderValue>) -> Response {
    let mut response = Redirect::to(location).into_response();
    if let Some(cookie) = cookie {
        response.headers_mut().insert(header::SET_COOKIE, cookie);
    }
    response
}

/// Only a path on this site: never `//host`, `/\host` or a scheme, so a crafted link
/// cannot send the owner elsewhere after signing in.
pub fn safe_next(next: Option<&str>) -> &str {
    match next {
        Some(path)
            if path.starts_with('/')
                && !path.starts_with("//")
                && !path.starts_with("/\\")
                && path.len() <= 2048
                && !path.chars().any(|c| c.is_control() || c == '\\') =>
        {
            path
        }
        _ => "/",
    }
}

/// What the visitor sees for an auth failure on a form.
pub(crate) fn form_message(error: &AuthError) -> Option<String> {
    Some(match error {
        AuthError::InvalidCredentials => "The password is not correct.".into(),
        AuthError::TooManyAttempts { retry_after } => format!(
            "Too many attempts. Wait {} seconds, then try again.",
            retry_after_secs(*retry_after)
        ),
        AuthError::AlreadyClaimed => "This instance already has an owner.".into(),
        AuthError::InvalidClaimCode => "The claim code is wrong or has expired. Run 'clawhost claim-code' on the server for a new one.".into(),
        AuthError::InvalidField { message, .. } => message.clone(),
        AuthError::NoSuchSession => "That session has already ended.".into(),
        AuthError::Internal(_) => return None,
    })
}

pub(crate) fn form_status(error: &AuthError) -> StatusCode {
    match error {
        AuthError::InvalidCredentials => StatusCode::UNAUTHORIZED,
        AuthError::TooManyAttempts { .. } => StatusCode::TOO_MANY_REQUESTS,
        AuthError::AlreadyClaimed => StatusCode::CONFLICT,
        AuthError::InvalidClaimCode => StatusCode::FORBIDDEN,
        AuthError::InvalidField { .. } => StatusCode::UNPROCESSABLE_ENTITY,
        AuthError::NoSuchSession => StatusCode::NOT_FOUND,
        AuthError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

#[derive(Template)]
#[template(path = "claim.html")]
struct ClaimPage {
    error: Option<String>,
}

async fn claim_page(State(state): State<AppState>) -> Response {
    match state.auth.is_locked().await {
        Ok(true) => see_other("/login", None),
        Ok(false) => render(StatusCode::OK, ClaimPage { error: None }),
        Err(error) => internal(error),
    }
}

#[derive(Deserialize)]
struct ClaimForm {
    code: String,
    password: String,
    password_confirm: String,
}

async fn claim_submit(
    State(state): State<AppState>,
    client: ClientInfo,
    Form(form): Form<ClaimForm>,
) -> Response {
    if form.password != form.password_confirm {
        let error = Some("The two passwords do not match.".to_string());
        return render(StatusCode::UNPROCESSABLE_ENTITY, ClaimPage { error });
    }
    match state.auth.claim(&form.code, &form.password, &client).await {
        Ok(signed_in) => see_other("/", Some(state.session_cookie(&signed_in.token))),
        Err(AuthError::AlreadyClaimed) => see_other("/login", None),
        Err(error) => match form_message(&error) {
            Some(message) => render(
                form_status(&error),
                ClaimPage {
                    error: Some(message),
                },
            ),
            None => internal(error),
        },
    }
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    error: Option<String>,
    next: &'a str,
}

#[derive(Deserialize)]
struct NextQuery {
    next: Option<String>,
}

async fn login_page(
    State(state): State<AppState>,
    MaybeOwner(session): MaybeOwner,
    Query(query): Query<NextQuery>,
) -> Response {
    let next = safe_next(query.next.as_deref());
    if session.is_some() {
        return see_other(next, None);
    }
    match state.auth.is_locked().await {
        Ok(false) => see_other("/claim", None),
        Ok(true) => render(StatusCode::OK, LoginPage { error: None, next }),
        Err(error) => internal(error),
    }
}

#[derive(Deserialize)]
struct LoginForm {
    password: String,
    next: Option<String>,
}

async fn login_submit(
    State(state): State<AppState>,
    client: ClientInfo,
    Form(form): Form<LoginForm>,
) -> Response {
    let next = safe_next(form.next.as_deref());
    match state.auth.login(&form.password, &client).await {
        Ok(signed_in) => see_other(next, Some(state.session_cookie(&signed_in.token))),
        Err(error) => match form_message(&error) {
            Some(message) => render(
                form_status(&error),
                LoginPage {
                    error: Some(message),
                    next,
                },
            ),
            None => internal(error),
        },
    }
}

async fn logout(
    State(state): State<AppState>,
    client: ClientInfo,
    MaybeOwner(session): MaybeOwner,
) -> Response {
    if let Some(session) = session
        && let Err(error) = state.auth.logout(&session, &client).await
    {
        return internal(error);
    }
    see_other("/login", Some(state.cleared_cookie()))
}

async fn revoke(
    State(state): State<AppState>,
    client: ClientInfo,
    MaybeOwner(session): MaybeOwner,
    Path(id): Path<String>,
) -> Response {
    let Some(current) = session else {
        return see_other("/login", None);
    };
    match state.auth.revoke(&id, &client).await {
        Ok(()) | Err(AuthError::NoSuchSession) if id == current.id => {
            see_other("/login", Some(state.cleared_cookie()))
        }
        Ok(()) | Err(AuthError::NoSuchSession) => see_other("/", None),
        Err(error) => internal(error),
    }
}

async fn revoke_others(
    State(state): State<AppState>,
    client: ClientInfo,
    MaybeOwner(session): MaybeOwner,
) -> Response {
    let Some(current) = session else {
        return see_other("/login", None);
    };
    match state.auth.revoke_others(&current, &client).await {
        Ok(_) => see_other("/", None),
        Err(error) => internal(error),
    }
}

async fn script() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/javascript; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        SCRIPT,
    )
        .into_response()
}

async fn stylesheet(_headers: HeaderMap) -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        STYLESHEET,
    )
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::safe_next;

    #[test]
    fn next_stays_on_site() {
        assert_eq!(safe_next(Some("/openclaw/")), "/openclaw/");
        assert_eq!(safe_next(Some("//evil.example")), "/");
        assert_eq!(safe_next(Some("/\\evil.example")), "/");
        assert_eq!(safe_next(Some("https://evil.example")), "/");
        assert_eq!(safe_next(Some("/a\nb")), "/");
        assert_eq!(safe_next(None), "/");
    }
}
