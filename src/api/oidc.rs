//! `/api/auth/oidc*`: the owner's identity at the OpenID Connect issuer (the sign-in itself
//! is a browser's round trip through `/auth/oidc/start` and `/auth/oidc/callback`).

use axum::Json;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::ceremony::ProofFields;
use crate::auth::ClientInfo;
use crate::auth::oidc::{FLOW_TTL, Oidc, OidcError, Purpose};
use crate::clock::rfc3339;
use crate::state::AppState;
use crate::web::error::ApiError;
use crate::web::extract::{ApiJson, FreshOwner, Owner};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(identity))
        .routes(routes!(link, unlink))
}

#[derive(Serialize, ToSchema)]
struct OidcStatus {
    /// Whether an issuer is configured (`auth.oidc.issuer`).
    configured: bool,
    issuer: Option<String>,
    /// The name on the "Sign in with …" button.
    display_name: Option<String>,
    /// The owner's identity there, if linked.
    linked: Option<LinkedIdentityView>,
}

#[derive(Serialize, ToSchema)]
struct LinkedIdentityView {
    issuer: String,
    subject: String,
    /// The email the issuer had verified when the identity was linked; shown, never used
    /// to sign in.
    email: Option<String>,
    linked_at: String,
}

/// The OpenID Connect issuer and the owner's identity there.
#[utoipa::path(get, path = "/api/auth/oidc", tag = "auth", security(("session" = [])),
    responses((status = 200, body = OidcStatus)))]
async fn identity(
    State(state): State<AppState>,
    Owner(_): Owner,
) -> Result<Json<OidcStatus>, ApiError> {
    let settings = state.oidc.as_ref().map(Oidc::settings);
    let linked = state.auth.linked_identity().await?;
    Ok(Json(OidcStatus {
        configured: settings.is_some(),
        issuer: settings.map(|s| s.issuer.clone()),
        display_name: settings.map(|s| s.display_name.clone()),
        linked: linked.map(|linked| LinkedIdentityView {
            issuer: linked.issuer,
            subject: linked.subject,
            email: linked.email,
            linked_at: rfc3339(linked.linked_at),
        }),
    }))
}

#[derive(Serialize, ToSchema)]
struct LinkStarted {
    /// Where the browser goes next: the issuer's sign-in. The answer also sets the sign-in's
    /// short-lived cookie, so the same browser must follow it.
    authorize_url: String,
}

/// Begins linking the owner's identity at the issuer; needs the password (or a passkey) in
/// the request, as anything that adds a way in: the browser follows `authorize_url`, signs
/// in there, and comes back to `/auth/oidc/callback`, which links the identity and lands on
/// the settings page.
#[utoipa::path(post, path = "/api/auth/oidc/link", tag = "auth", security(("session" = [])),
    request_body = ProofFields,
    responses((status = 200, body = LinkStarted, description = "Begun; the sign-in cookie is set")))]
async fn link(
    State(state): State<AppState>,
    client: ClientInfo,
    Owner(current): Owner,
    ApiJson(proof): ApiJson<ProofFields>,
) -> Result<Response, ApiError> {
    let oidc = state.oidc.as_ref().ok_or(OidcError::NotConfigured)?;
    proof.check(&state, &current, &client).await?;
    let purpose = Purpose::Link {
        session_id: current.id,
    };
    let (key, authorize_url) = oidc.begin(purpose, client.limit_key).await?;
    let cookie = state.cookie.set_sign_in_flow(&key, FLOW_TTL);
    Ok((
        [(header::SET_COOKIE, cookie)],
        Json(LinkStarted { authorize_url }),
    )
        .into_response())
}

/// Unlinks the owner's identity (needs the password given recently); signing in at the
/// issuer stops working.
#[utoipa::path(delete, path = "/api/auth/oidc/link", tag = "auth", security(("session" = [])),
    responses((status = 204, description = "Unlinked"), (status = 404, description = "No identity was linked")))]
async fn unlink(
    State(state): State<AppState>,
    client: ClientInfo,
    FreshOwner(_): FreshOwner,
) -> Result<StatusCode, ApiError> {
    if state.auth.unlink_identity(&client).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::status(
            StatusCode::NOT_FOUND,
            "No identity is linked.",
        ))
    }
}
