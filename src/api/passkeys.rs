//! `/api/auth/passkeys*`: the owner's passkeys, and signing in with one. A ceremony is two
//! calls: `…/start` answers the options for `navigator.credentials.create` or `.get`
//! (WebAuthn's JSON form, under `publicKey`) and a ceremony id; `…/finish` takes that id
//! and the browser's answer (`PublicKeyCredential.toJSON()`).

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::Response;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::signed_in_response;
use super::ceremony::{Answer, Ceremony, ProofFields};
use crate::auth::ClientInfo;
use crate::auth::passkey_sign_in::PasskeySummary;
use crate::state::AppState;
use crate::web::error::ApiError;
use crate::web::extract::{ApiJson, FreshOwner, Owner};

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(list))
        .routes(routes!(register_start))
        .routes(routes!(register_finish))
        .routes(routes!(login_start))
        .routes(routes!(login_finish))
        .routes(routes!(remove))
        .routes(routes!(password_sign_in))
}

#[derive(Serialize, ToSchema)]
struct PasskeyList {
    /// Whether passkeys can be used at this public URL (not at an IP address).
    available: bool,
    /// Why not, when they cannot.
    unavailable_reason: Option<String>,
    passkeys: Vec<PasskeySummary>,
}

/// The owner's passkeys.
#[utoipa::path(get, path = "/api/auth/passkeys", tag = "auth", security(("session" = [])),
    responses((status = 200, body = PasskeyList)))]
async fn list(
    State(state): State<AppState>,
    Owner(_): Owner,
) -> Result<Json<PasskeyList>, ApiError> {
    let reason = state.passkeys.unavailable().map(str::to_owned);
    Ok(Json(PasskeyList {
        available: reason.is_none(),
        unavailable_reason: reason,
        passkeys: state.auth.passkeys().await?,
    }))
}

#[derive(Deserialize, ToSchema)]
struct RegisterStart {
    /// What the owner calls it, e.g. "Phone": 1 to 64 characters.
    #[schema(min_length = 1, max_length = 64)]
    name: String,
    /// The password or another passkey, in this request: a fresh session alone does not add
    /// a way in.
    #[serde(flatten)]
    proof: ProofFields,
}

/// Starts registering a passkey; needs the password (or another passkey) in the request.
#[utoipa::path(post, path = "/api/auth/passkeys/register/start", tag = "auth", security(("session" = [])),
    request_body = RegisterStart, responses((status = 200, body = Ceremony)))]
async fn register_start(
    State(state): State<AppState>,
    client: ClientInfo,
    Owner(current): Owner,
    ApiJson(body): ApiJson<RegisterStart>,
) -> Result<Json<Ceremony>, ApiError> {
    body.proof.check(&state, &current, &client).await?;
    let (ceremony, options) = state
        .auth
        .begin_passkey_registration(&state.passkeys, &current, &body.name)
        .await?;
    Ok(Json(Ceremony { ceremony, options }))
}

/// Keeps the passkey the browser made for a registration begun in this session.
#[utoipa::path(post, path = "/api/auth/passkeys/register/finish", tag = "auth", security(("session" = [])),
    request_body = Answer, responses((status = 201, body = PasskeySummary)))]
async fn register_finish(
    State(state): State<AppState>,
    client: ClientInfo,
    Owner(current): Owner,
    ApiJson(body): ApiJson<Answer>,
) -> Result<(StatusCode, Json<PasskeySummary>), ApiError> {
    let added = state
        .auth
        .finish_passkey_registration(
            &state.passkeys,
            &current,
            &body.ceremony,
            body.credential,
            &client,
        )
        .await?;
    Ok((StatusCode::CREATED, Json(added)))
}

/// Starts a sign-in with a passkey (also for `POST /api/auth/reauthenticate`).
#[utoipa::path(post, path = "/api/auth/passkeys/login/start", tag = "auth",
    responses((status = 200, body = Ceremony)))]
async fn login_start(
    State(state): State<AppState>,
    client: ClientInfo,
) -> Result<Json<Ceremony>, ApiError> {
    let (ceremony, options) = state.auth.begin_passkey_sign_in(&state.passkeys, &client)?;
    Ok(Json(Ceremony { ceremony, options }))
}

/// Signs the owner in with a passkey.
#[utoipa::path(post, path = "/api/auth/passkeys/login/finish", tag = "auth", request_body = Answer,
    responses((status = 200, body = super::auth::Me, description = "Signed in; the session cookie is set")))]
async fn login_finish(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(body): ApiJson<Answer>,
) -> Result<Response, ApiError> {
    let signed_in = state
        .auth
        .sign_in_with_passkey(&state.passkeys, &body.ceremony, body.credential, &client)
        .await?;
    signed_in_response(&state, StatusCode::OK, signed_in).await
}

/// Removes a passkey (needs the password given recently).
#[utoipa::path(delete, path = "/api/auth/passkeys/{id}", tag = "auth", security(("session" = [])),
    params(("id" = String, Path, description = "The passkey's id")),
    responses((status = 204, description = "Removed"), (status = 404, description = "No such passkey")))]
async fn remove(
    State(state): State<AppState>,
    client: ClientInfo,
    FreshOwner(_): FreshOwner,
    Path(id): Path<String>,
) -> Result<StatusCode, ApiError> {
    state.auth.remove_passkey(&id, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PasswordSignInRequest {
    enabled: bool,
}

/// Turns signing in with the password on or off (needs the password or a passkey given
/// recently); the password confirms sensitive actions either way. Off only while a passkey
/// that works here or the linked identity exists: 409 otherwise; and while it is off, the
/// last of them cannot be removed.
#[utoipa::path(put, path = "/api/auth/password-sign-in", tag = "auth", security(("session" = [])),
    request_body = PasswordSignInRequest,
    responses((status = 204, description = "Done"), (status = 409, description = "It would leave no way in")))]
async fn password_sign_in(
    State(state): State<AppState>,
    client: ClientInfo,
    FreshOwner(_): FreshOwner,
    ApiJson(body): ApiJson<PasswordSignInRequest>,
) -> Result<StatusCode, ApiError> {
    state
        .auth
        .set_password_sign_in(body.enabled, &client)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
