//! Claiming the instance, signing in and out, and ending sessions from the settings page.
//! Forms post without JavaScript; a failure re-renders the form with its message.

use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

use super::render::{form_failed, render, see_other};
use super::step_up::{Confirmable, NoFields};
use crate::auth::{AuthError, ClientInfo, SignedIn};
use crate::state::AppState;
use crate::web::error::ApiError;
use crate::web::extract::MaybeOwner;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/claim", get(claim_page).post(claim_submit))
        .route("/login", get(login_page).post(login_submit))
        .route("/logout", post(logout))
        .route("/sessions/{id}/revoke", post(revoke))
        .route("/sessions/revoke-others", post(revoke_others))
}

/// Only a path on this site: never `//host`, `/\host` or a scheme, so a crafted link
/// cannot send the owner elsewhere after signing in.
pub(super) fn safe_next(next: Option<&str>) -> &str {
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

#[derive(Template)]
#[template(path = "claim.html")]
struct ClaimPage {
    error: Option<String>,
    /// What was typed, kept after an error (the passwords are not).
    code: String,
    /// The OpenID Connect issuer to claim with instead of a password, by name.
    provider: Option<String>,
}

impl ClaimPage {
    fn new(state: &AppState, code: String, error: Option<String>) -> Self {
        let provider = state
            .oidc
            .as_ref()
            .map(|o| o.settings().display_name.clone());
        Self {
            error,
            code,
            provider,
        }
    }
}

async fn claim_page(State(state): State<AppState>) -> Response {
    match state.auth.is_locked().await {
        Ok(true) => see_other("/login", None),
        Ok(false) => render(StatusCode::OK, ClaimPage::new(&state, String::new(), None)),
        Err(error) => ApiError::from(error).into_page(),
    }
}

/// The claim form, for the password claim and the claim through the issuer alike.
#[derive(Deserialize)]
pub(super) struct ClaimForm {
    pub(super) code: String,
    pub(super) password: String,
    password_confirm: String,
}

impl ClaimForm {
    /// The claim page again, when the two passwords differ.
    pub(super) fn passwords_differ(&self, state: &AppState) -> Option<Response> {
        (self.password != self.password_confirm).then(|| {
            let error = Some("The two passwords do not match.".to_string());
            let code = self.code.trim().to_string();
            render(
                StatusCode::UNPROCESSABLE_ENTITY,
                ClaimPage::new(state, code, error),
            )
        })
    }
}

async fn claim_submit(
    State(state): State<AppState>,
    client: ClientInfo,
    Form(form): Form<ClaimForm>,
) -> Response {
    if let Some(page) = form.passwords_differ(&state) {
        return page;
    }
    let code = form.code.trim().to_string();
    match state.auth.claim(&form.code, &form.password, &client).await {
        Ok(signed_in) => signed_in_to(landing(&state, "/").await, &state, &signed_in),
        Err(AuthError::AlreadyClaimed) => see_other("/login", None),
        Err(error) => claim_failed(&state, error, code),
    }
}

/// The claim page again, with the sentence for `error` and the code as typed.
pub(super) fn claim_failed(state: &AppState, error: AuthError, code: String) -> Response {
    form_failed(error, |message| ClaimPage::new(state, code, Some(message)))
}

/// Where signing in lands: the setup while the first run is not done (unless the owner was
/// on the way to a page of their own), else `next`.
pub(super) async fn landing<'a>(state: &AppState, next: &'a str) -> &'a str {
    if next != "/" {
        return next;
    }
    match state.first_run().await {
        Ok(progress) if progress.next().is_some() => "/setup",
        _ => next,
    }
}

/// Off to `location` with the new session's cookie, and the device cookie for a browser
/// that signs in for the first time.
pub(super) fn signed_in_to(location: &str, state: &AppState, signed_in: &SignedIn) -> Response {
    let mut response = see_other(location, Some(state.cookie.set(&signed_in.token)));
    if let Some(device) = &signed_in.device {
        response
            .headers_mut()
            .append(header::SET_COOKIE, state.cookie.set_device(device));
    }
    response
}

#[derive(Template)]
#[template(path = "login.html")]
struct LoginPage<'a> {
    error: Option<String>,
    next: &'a str,
    oidc: Option<OidcButton<'a>>,
    /// Whether passkeys can be used here (the button shows with WebAuthn in the browser).
    passkeys: bool,
    /// Whether the password signs in (the owner may have turned it off).
    password: bool,
}

impl<'a> LoginPage<'a> {
    fn new(state: &'a AppState, next: &'a str, password: bool, error: Option<String>) -> Self {
        Self {
            error,
            next,
            oidc: oidc_button(state, next),
            passkeys: state.passkeys.unavailable().is_none(),
            password,
        }
    }
}

/// "Sign in with …", when an issuer is configured.
struct OidcButton<'a> {
    provider: &'a str,
    href: String,
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
    let password = match state.auth.password_signs_in().await {
        Ok(password) => password,
        Err(error) => return ApiError::from(error).into_page(),
    };
    match state.auth.is_locked().await {
        Ok(false) => see_other("/claim", None),
        Ok(true) => render(StatusCode::OK, LoginPage::new(&state, next, password, None)),
        Err(error) => ApiError::from(error).into_page(),
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
        Ok(signed_in) => signed_in_to(landing(&state, next).await, &state, &signed_in),
        Err(error) => {
            let password = !matches!(error, AuthError::PasswordSignInOff);
            form_failed(error, |message| {
                LoginPage::new(&state, next, password, Some(message))
            })
        }
    }
}

fn oidc_button<'a>(state: &'a AppState, next: &str) -> Option<OidcButton<'a>> {
    let oidc = state.oidc.as_ref()?;
    let query = serde_urlencoded::to_string([("next", next)]).unwrap_or_default();
    Some(OidcButton {
        provider: &oidc.settings().display_name,
        href: format!("/auth/oidc/start?{query}"),
    })
}

async fn logout(
    State(state): State<AppState>,
    client: ClientInfo,
    MaybeOwner(session): MaybeOwner,
) -> Response {
    if let Some(session) = session
        && let Err(error) = state.auth.logout(&session, &client).await
    {
        return ApiError::from(error).into_page();
    }
    see_other("/login", Some(state.cookie.clear()))
}

async fn revoke(
    State(state): State<AppState>,
    client: ClientInfo,
    Path(id): Path<String>,
    form: Confirmable<NoFields>,
) -> Response {
    // Ending one's own session is signing out; ending another one is sensitive.
    let current = if form.session().id == id {
        form.unconfirmed().0
    } else {
        match form.confirmed(&state, "Signing out another session").await {
            Ok((current, _)) => current,
            Err(page) => return page,
        }
    };
    match state.auth.revoke(&id, &client).await {
        Ok(()) | Err(AuthError::NoSuchSession) if id == current.id => {
            see_other("/login", Some(state.cookie.clear()))
        }
        Ok(()) | Err(AuthError::NoSuchSession) => see_other("/", None),
        Err(error) => ApiError::from(error).into_page(),
    }
}

async fn revoke_others(
    State(state): State<AppState>,
    client: ClientInfo,
    form: Confirmable<NoFields>,
) -> Response {
    let current = match form
        .confirmed(&state, "Signing out every other session")
        .await
    {
        Ok((current, _)) => current,
        Err(page) => return page,
    };
    match state.auth.revoke_others(&current, &client).await {
        Ok(_) => see_other("/", None),
        Err(error) => ApiError::from(error).into_page(),
    }
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
