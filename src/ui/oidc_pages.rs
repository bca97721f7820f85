//! "Sign in with …": the start at the issuer and the way back (`/auth/oidc/*`), claiming the
//! instance with an identity, a step-up confirmed there, and linking or unlinking the
//! owner's identity from the settings page (a step-up first).

use askama::Template;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::Response;
use axum::routing::{get, post};
use axum::{Form, Router};
use serde::Deserialize;

use super::render::{Moment, render, see_other};
use super::sign_in::{ClaimForm, landing, safe_next, signed_in_to};
use super::step_up::{Confirmable, NoFields};
use super::to_issuer;
use crate::auth::oidc::{CallbackParams, OidcError, Purpose};
use crate::auth::{AuthError, ClientInfo};
use crate::clock::rfc3339;
use crate::state::AppState;
use crate::web::error::ApiError;
use crate::web::extract::MaybeOwner;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/auth/oidc/start", get(start))
        .route("/auth/oidc/callback", get(callback))
        .route("/auth/oidc/claim", post(claim))
        .route("/settings/oidc/link", post(link))
        .route("/settings/oidc/unlink", post(unlink))
}

/// The identity card of the settings page.
pub(super) struct IdentityCard {
    pub(super) provider: String,
    /// The linked identity's email (or subject), and when it was linked.
    pub(super) linked: Option<(String, Moment)>,
}

/// The card, when an issuer is configured.
pub(super) async fn identity_card(state: &AppState) -> Result<Option<IdentityCard>, AuthError> {
    let Some(oidc) = &state.oidc else {
        return Ok(None);
    };
    let linked = state
        .auth
        .linked_identity()
        .await?
        .filter(|linked| linked.issuer == oidc.settings().issuer)
        .map(|linked| {
            let who = linked.email.unwrap_or(linked.subject);
            (who, Moment::of(&rfc3339(linked.linked_at)))
        });
    Ok(Some(IdentityCard {
        provider: oidc.settings().display_name.clone(),
        linked,
    }))
}

fn not_configured() -> Response {
    ApiError::from(OidcError::NotConfigured).into_page()
}

/// After the issuer confirmed the owner: the form they posted, to post again.
#[derive(Template)]
#[template(path = "confirmed.html")]
struct ConfirmedPage<'a> {
    provider: &'a str,
    what: &'a str,
    action: &'a str,
    fields: &'a [(String, String)],
    back: &'a str,
    /// What the form carries back for the confirmation to serve it (and it alone).
    nonce: &'a str,
}

#[derive(Deserialize)]
struct StartQuery {
    next: Option<String>,
}

async fn start(
    State(state): State<AppState>,
    client: ClientInfo,
    Query(query): Query<StartQuery>,
) -> Response {
    let Some(oidc) = &state.oidc else {
        return not_configured();
    };
    if let Err(error) = state.auth.may_begin_identity_sign_in(&client) {
        return ApiError::from(error).into_page();
    }
    let next = safe_next(query.next.as_deref()).to_owned();
    to_issuer::redirect(&state, oidc, Purpose::SignIn { next }, &client).await
}

async fn callback(
    State(state): State<AppState>,
    client: ClientInfo,
    MaybeOwner(session): MaybeOwner,
    headers: HeaderMap,
    Query(params): Query<CallbackParams>,
) -> Response {
    let Some(oidc) = &state.oidc else {
        return not_configured();
    };
    // Under the same limits as the start: each answer costs a flow lookup, maybe a token
    // request, maybe an event.
    if let Err(error) = state.auth.may_begin_identity_sign_in(&client) {
        return ApiError::from(error).into_page();
    }
    let key = state.cookie.read_sign_in_flow(&headers);
    let mut response = match oidc.finish(key, &params).await {
        Err(error) => {
            if let Err(store) = state.auth.identity_sign_in_failed(&client, &error).await {
                return ApiError::from(store).into_page();
            }
            ApiError::from(error).into_page()
        }
        Ok((Purpose::SignIn { next }, identity)) => {
            match state.auth.sign_in_with_identity(&identity, &client).await {
                Ok(signed_in) => signed_in_to(landing(&state, &next).await, &state, &signed_in),
                Err(error) => ApiError::from(error).into_page(),
            }
        }
        Ok((Purpose::Claim(code), identity)) => {
            match state
                .auth
                .claim_with_identity(code, &identity, &client)
                .await
            {
                Ok(signed_in) => signed_in_to(landing(&state, "/").await, &state, &signed_in),
                Err(AuthError::AlreadyClaimed) => see_other("/login", None),
                Err(error) => ApiError::from(error).into_page(),
            }
        }
        Ok((
            Purpose::Confirm {
                session_id,
                what,
                action,
                fields,
                back,
            },
            identity,
        )) => {
            let Some(current) = session else {
                return ApiError::unauthorized().into_page();
            };
            match state
                .auth
                .confirm_with_identity(
                    &session_id,
                    &current,
                    &identity,
                    (&action, &fields),
                    &client,
                )
                .await
            {
                Ok(nonce) => render(
                    StatusCode::OK,
                    ConfirmedPage {
                        provider: &oidc.settings().display_name,
                        what: &what,
                        action: &action,
                        fields: &fields,
                        back: &back,
                        nonce: &nonce,
                    },
                ),
                Err(error) => ApiError::from(error).into_page(),
            }
        }
        Ok((Purpose::Link { session_id }, identity)) => {
            let Some(current) = session else {
                return ApiError::unauthorized().into_page();
            };
            match state
                .auth
                .link_identity(&session_id, &current, &identity, &client)
                .await
            {
                Ok(_) => see_other("/settings#identity", None),
                Err(error) => ApiError::from(error).into_page(),
            }
        }
    };
    response
        .headers_mut()
        .append(header::SET_COOKIE, state.cookie.clear_sign_in_flow());
    response
}

async fn link(
    State(state): State<AppState>,
    client: ClientInfo,
    form: Confirmable<NoFields>,
) -> Response {
    let Some(oidc) = &state.oidc else {
        return not_configured();
    };
    let current = match form.confirmed_now(&state, "Linking an identity").await {
        Ok((current, _)) => current,
        Err(page) => return page,
    };
    let purpose = Purpose::Link {
        session_id: current.id,
    };
    let why = "Sign in there as yourself. clawhost then links the identity you signed in with to this instance's owner, and it signs you in from then on.";
    to_issuer::continue_page(&state, oidc, purpose, why, &client).await
}

/// The claim with an identity: the claim code and the password are checked first, then the
/// owner signs in at the issuer; the claim happens when they come back.
async fn claim(
    State(state): State<AppState>,
    client: ClientInfo,
    Form(form): Form<ClaimForm>,
) -> Response {
    let Some(oidc) = &state.oidc else {
        return not_configured();
    };
    if let Some(page) = form.passwords_differ(&state) {
        return page;
    }
    let code = form.code.trim().to_owned();
    match state
        .auth
        .claim_ticket(&code, &form.password, &client)
        .await
    {
        Ok(ticket) => {
            let why = "Sign in there as yourself: the identity you sign in with becomes this instance's owner, and signs you in from then on.";
            to_issuer::continue_page(&state, oidc, Purpose::Claim(ticket), why, &client).await
        }
        Err(AuthError::AlreadyClaimed) => see_other("/login", None),
        Err(error) => super::sign_in::claim_failed(&state, error, code),
    }
}

async fn unlink(
    State(state): State<AppState>,
    client: ClientInfo,
    form: Confirmable<NoFields>,
) -> Response {
    if let Err(page) = form.confirmed(&state, "Unlinking the identity").await {
        return page;
    }
    match state.auth.unlink_identity(&client).await {
        Ok(_) => see_other("/settings#identity", None),
        Err(error) => ApiError::from(error).into_page(),
    }
}
