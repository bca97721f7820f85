//! "Sign in with …": the start at the issuer and the way back (`/auth/oidc/*`), and linking
//! or unlinking the owner's identity from the settings page (a step-up first).

use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

use super::render::{Moment, render, see_other};
use super::sign_in::{landing, safe_next, signed_in_to};
use super::step_up::{Confirmable, NoFields};
use crate::auth::oidc::{CallbackParams, FLOW_TTL, Oidc, OidcError, Purpose};
use crate::auth::{AuthError, ClientInfo};
use crate::clock::rfc3339;
use crate::state::AppState;
use crate::web::error::ApiError;
use crate::web::extract::MaybeOwner;

pub(super) fn routes() -> Router<AppState> {
    Router::new()
        .route("/auth/oidc/start", get(start))
        .route("/auth/oidc/callback", get(callback))
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

/// Off to the issuer (a redirect), the flow's key in the pre-login cookie.
async fn to_issuer(state: &AppState, oidc: &Oidc, purpose: Purpose) -> Response {
    match oidc.begin(purpose).await {
        Ok((key, url)) => {
            let Ok(location) = HeaderValue::from_str(&url) else {
                return ApiError::internal("the issuer's authorization URL is not a header value")
                    .into_page();
            };
            let cookie = state.cookie.set_sign_in_flow(&key, FLOW_TTL);
            let headers = [(header::LOCATION, location), (header::SET_COOKIE, cookie)];
            (StatusCode::FOUND, headers).into_response()
        }
        Err(error) => ApiError::from(error).into_page(),
    }
}

#[derive(Template)]
#[template(path = "continue.html")]
struct ContinuePage<'a> {
    provider: &'a str,
    url: &'a str,
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
    to_issuer(&state, oidc, Purpose::SignIn { next }).await
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

async fn link(State(state): State<AppState>, form: Confirmable<NoFields>) -> Response {
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
    // A form answered by a redirect to another origin is blocked (CSP form-action 'self'):
    // the page links there instead.
    match oidc.begin(purpose).await {
        Ok((key, url)) => {
            let page = ContinuePage {
                provider: &oidc.settings().display_name,
                url: &url,
            };
            let mut response = render(StatusCode::OK, page);
            let cookie = state.cookie.set_sign_in_flow(&key, FLOW_TTL);
            response.headers_mut().append(header::SET_COOKIE, cookie);
            response
        }
        Err(error) => ApiError::from(error).into_page(),
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
