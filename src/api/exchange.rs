//! `/api/auth/session-exchange*`: signing in with the replaced wrapper's sign-in broker
//! (`auth.session_exchange.url`), and the email it must answer for the owner.

use axum::Json;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::signed_in_response;
use super::ceremony::ProofFields;
use crate::auth::ClientInfo;
use crate::state::AppState;
use crate::web::error::ApiError;
use crate::web::extract::{ApiJson, FreshOwner, Owner};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(status, exchange))
        .routes(routes!(set_email, remove_email))
}

#[derive(Serialize, ToSchema)]
struct ExchangeStatus {
    /// Whether a broker is configured (`auth.session_exchange.url`).
    configured: bool,
    /// The email the broker must answer for the owner.
    email: Option<String>,
}

/// Whether signing in through the broker is on, and for which email.
#[utoipa::path(get, path = "/api/auth/session-exchange", tag = "auth", security(("session" = [])),
    responses((status = 200, body = ExchangeStatus)))]
async fn status(
    State(state): State<AppState>,
    Owner(_): Owner,
) -> Result<Json<ExchangeStatus>, ApiError> {
    Ok(Json(ExchangeStatus {
        configured: state.exchange.is_some(),
        email: state.auth.exchange_email().await?,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ExchangeRequest {
    /// The broker's session id (or in the `X-Session-ID` header, with no body).
    session_id: String,
}

/// Signs the owner in with a session of the sign-in broker, given in `X-Session-ID` (as the
/// replaced wrapper took it) or in the body. Only a session the broker says is the owner's
/// verified email signs in; any other answer is the same 403.
#[utoipa::path(post, path = "/api/auth/session-exchange", tag = "auth",
    request_body(content = Option<ExchangeRequest>, description = "Unless `X-Session-ID` is sent"),
    params(("x-session-id" = Option<String>, Header, description = "The broker's session id")),
    responses((status = 200, body = super::auth::Me, description = "Signed in; the session cookie is set")))]
async fn exchange(
    State(state): State<AppState>,
    client: ClientInfo,
    headers: HeaderMap,
    body: Bytes,
) -> Result<Response, ApiError> {
    let session_id = if let Some(value) = headers.get("x-session-id") {
        value
            .to_str()
            .map_err(|_| ApiError::field("session_id", "A session id is visible ASCII."))?
            .to_owned()
    } else {
        let request: ExchangeRequest = serde_json::from_slice(&body).map_err(|_| {
            ApiError::field(
                "session_id",
                "Send the session id in X-Session-ID, or as {\"session_id\": …}.",
            )
        })?;
        request.session_id
    };
    let signed_in = state
        .auth
        .sign_in_with_exchange(state.exchange.as_ref(), &session_id, &client)
        .await?;
    signed_in_response(&state, StatusCode::OK, signed_in).await
}

#[derive(Deserialize, ToSchema)]
struct EmailRequest {
    /// The owner's email at the broker.
    #[schema(max_length = 254)]
    email: String,
    /// The password or a passkey, in this request: a fresh session alone does not add a
    /// way in.
    #[serde(flatten)]
    proof: ProofFields,
}

/// Sets the email the broker must answer for the owner; needs the password (or a passkey)
/// in the request.
#[utoipa::path(put, path = "/api/auth/session-exchange/email", tag = "auth", security(("session" = [])),
    request_body = EmailRequest, responses((status = 204, description = "Set")))]
async fn set_email(
    State(state): State<AppState>,
    client: ClientInfo,
    Owner(current): Owner,
    ApiJson(body): ApiJson<EmailRequest>,
) -> Result<StatusCode, ApiError> {
    body.proof.check(&state, &current, &client).await?;
    state
        .auth
        .set_exchange_email(Some(&body.email), &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Forgets that email: no broker session signs in (needs the password given recently).
#[utoipa::path(delete, path = "/api/auth/session-exchange/email", tag = "auth", security(("session" = [])),
    responses((status = 204, description = "Forgotten"), (status = 404, description = "None was set")))]
async fn remove_email(
    State(state): State<AppState>,
    client: ClientInfo,
    FreshOwner(_): FreshOwner,
) -> Result<StatusCode, ApiError> {
    if state.auth.set_exchange_email(None, &client).await? {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::status(StatusCode::NOT_FOUND, "No email was set."))
    }
}
