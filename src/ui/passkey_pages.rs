//! The passkeys card of the settings page, and removing a passkey from it (a step-up
//! first); turning password sign-in off beside them. Registering and signing in need the browser's WebAuthn API: `static/app.js`
//! drives them through `/api/auth/passkeys/*`.

use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::post;

use super::render::{Moment, see_other};
use super::step_up::{Confirmable, NoFields};
use crate::auth::{AuthError, ClientInfo};
use crate::state::AppState;
use crate::web::error::ApiError;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/settings/passkeys/{id}/remove", post(remove))
        .route("/settings/password-sign-in", post(password_sign_in))
}

pub(super) struct PasskeyCard {
    /// Why passkeys cannot be used at this public URL, when they cannot.
    pub(super) unavailable: Option<String>,
    pub(super) list: Vec<PasskeyRow>,
    /// Whether the password signs in (it confirms sensitive actions either way).
    pub(super) password_sign_in: bool,
    /// Whether a passkey that works at this public URL exists (one made for another name
    /// does not).
    pub(super) usable: bool,
    /// The linked identity's issuer, by name, when it is the one configured.
    pub(super) issuer: Option<String>,
}

pub(super) struct PasskeyRow {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) created_at: Moment,
    pub(super) last_used_at: Option<Moment>,
}

pub(super) async fn passkey_card(state: &AppState) -> Result<PasskeyCard, AuthError> {
    let ways = state.auth.ways_to_confirm().await?;
    let issuer = state
        .oidc
        .as_ref()
        .filter(|_| ways.identity)
        .map(|oidc| oidc.settings().display_name.clone());
    let list = state
        .auth
        .passkeys()
        .await?
        .into_iter()
        .map(|p| PasskeyRow {
            created_at: Moment::of(&p.created_at),
            last_used_at: p.last_used_at.as_deref().map(Moment::of),
            id: p.id,
            name: p.name,
        })
        .collect();
    Ok(PasskeyCard {
        unavailable: state.passkeys.unavailable().map(str::to_owned),
        list,
        password_sign_in: state.auth.password_signs_in().await?,
        usable: ways.passkeys,
        issuer,
    })
}

async fn remove(
    State(state): State<AppState>,
    client: ClientInfo,
    Path(id): Path<String>,
    form: Confirmable<NoFields>,
) -> Response {
    if let Err(page) = form.confirmed(&state, "Removing a passkey").await {
        return page;
    }
    match state.auth.remove_passkey(&id, &client).await {
        Ok(()) | Err(AuthError::NoSuchPasskey) => see_other("/settings#passkeys", None),
        Err(error) => ApiError::from(error).into_page(),
    }
}

#[derive(serde::Deserialize)]
struct PasswordSignInForm {
    enabled: bool,
}

async fn password_sign_in(
    State(state): State<AppState>,
    client: ClientInfo,
    form: Confirmable<PasswordSignInForm>,
) -> Response {
    let on = match form.confirmed(&state, "Changing how you sign in").await {
        Ok((_, PasswordSignInForm { enabled })) => enabled,
        Err(page) => return page,
    };
    match state.auth.set_password_sign_in(on, &client).await {
        Ok(()) => see_other("/settings#passkeys", None),
        Err(error) => ApiError::from(error).into_page(),
    }
}
