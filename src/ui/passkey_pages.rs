//! The passkeys card of the settings page, and removing a passkey from it (a step-up
//! first); the password as a way in beside them (turning it off, setting a first one). Registering and signing in need the browser's WebAuthn API: `static/app.js`
//! drives them through `/api/auth/passkeys/*`.

use axum::Router;
use axum::extract::{Path, State};
use axum::response::Response;
use axum::routing::post;

use super::render::{Moment, see_other};
use super::step_up::{Confirmable, NoFields};
use crate::auth::sessions::ActiveSession;
use crate::auth::{AuthError, ClientInfo};
use crate::state::AppState;
use crate::web::error::ApiError;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/settings/passkeys/{id}/remove", post(remove))
        .route("/settings/passkeys/confirm", post(confirm_first))
        .route("/settings/password/set", post(set_first_password))
        .route("/settings/password-sign-in", post(password_sign_in))
}

pub(super) struct PasskeyCard {
    /// Why passkeys cannot be used at this public URL, when they cannot.
    pub(super) unavailable: Option<String>,
    pub(super) list: Vec<PasskeyRow>,
    /// Whether the password signs in (and so confirms).
    pub(super) password_sign_in: bool,
    /// Whether the owner has a password at all (one who claimed with an identity may not).
    pub(super) has_password: bool,
    /// The linked identity's issuer, by name, when it is the one configured.
    pub(super) issuer: Option<String>,
    /// The issuer confirmed the owner in this session a moment ago (one action may follow).
    pub(super) issuer_confirmed: bool,
}

pub(super) struct PasskeyRow {
    pub(super) id: String,
    pub(super) name: String,
    pub(super) created_at: Moment,
    pub(super) last_used_at: Option<Moment>,
}

pub(super) async fn passkey_card(
    state: &AppState,
    current: &ActiveSession,
) -> Result<PasskeyCard, AuthError> {
    let ways = state.auth.ways_to_confirm().await?;
    let issuer = state
        .oidc
        .as_ref()
        .filter(|oidc| ways.identity_at.as_deref() == Some(&oidc.settings().issuer))
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
        password_sign_in: ways.password,
        has_password: state.auth.has_password().await?,
        issuer,
        issuer_confirmed: state.auth.issuer_confirmation(current).is_some(),
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

/// Before adding a passkey, for an owner whom only the issuer can confirm: there and back,
/// then the settings page offers the passkey with that confirmation.
async fn confirm_first(State(state): State<AppState>, form: Confirmable<NoFields>) -> Response {
    match form.confirmed(&state, "Adding a passkey").await {
        Ok(_) => see_other("/settings#passkeys", None),
        Err(page) => page,
    }
}

#[derive(serde::Deserialize)]
struct FirstPasswordForm {
    new_password: String,
}

/// A password for an owner who claimed with an identity: it adds a way in, so the proof
/// comes with it.
async fn set_first_password(
    State(state): State<AppState>,
    client: ClientInfo,
    form: Confirmable<FirstPasswordForm>,
) -> Response {
    let (current, form) = match form.confirmed_now(&state, "Setting a password").await {
        Ok(confirmed) => confirmed,
        Err(page) => return page,
    };
    match state
        .auth
        .set_first_password(&current, &form.new_password, &client)
        .await
    {
        Ok(()) => see_other("/settings#password", None),
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
    let what = "Changing how you sign in";
    let ways = match state.auth.ways_to_confirm().await {
        Ok(ways) => ways,
        Err(error) => return ApiError::from(error).into_page(),
    };
    // With no passkey, the linked identity is the way in that stays: its issuer must show
    // now that it can confirm the owner, as it will have to from then on.
    let by_issuer = !form.form().enabled && !ways.passkeys && ways.identity_at.is_some();
    let confirmed = if by_issuer {
        form.confirmed_by_issuer(&state, what).await
    } else {
        form.confirmed(&state, what).await
    };
    let on = match confirmed {
        Ok((_, PasswordSignInForm { enabled })) => enabled,
        Err(page) => return page,
    };
    match state
        .auth
        .set_password_sign_in(on, by_issuer, &client)
        .await
    {
        Ok(()) => see_other("/settings#passkeys", None),
        Err(error) => ApiError::from(error).into_page(),
    }
}
