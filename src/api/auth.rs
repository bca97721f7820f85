//! `/api/auth/*`: instance lock, claim, login, sessions, password, security events.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::auth::sessions::ActiveSession;
use crate::auth::{ClientInfo, SessionSummary, SignedIn};
use crate::clock::rfc3339;
use crate::state::AppState;
use crate::web::error::ApiError;
use crate::web::extract::{ApiJson, ApiQuery, FreshOwner, Owner};
use crate::web::paging;

use super::ceremony::ProofFields;

pub(crate) fn routes() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(instance))
        .routes(routes!(claim))
        .routes(routes!(login))
        .routes(routes!(me))
        .routes(routes!(logout))
        .routes(routes!(sessions))
        .routes(routes!(revoke))
        .routes(routes!(revoke_others))
        .routes(routes!(change_password))
        .routes(routes!(reauthenticate))
        .routes(routes!(events))
}

#[derive(Serialize, ToSchema)]
struct Instance {
    locked: bool,
}

/// Whether the instance has an owner yet (claimed instances only let the owner sign in).
#[utoipa::path(get, path = "/api/auth/instance", tag = "auth", responses((status = 200, body = Instance)))]
async fn instance(State(state): State<AppState>) -> Result<Json<Instance>, ApiError> {
    Ok(Json(Instance {
        locked: state.auth.is_locked().await?,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct ClaimRequest {
    /// The code `clawhost claim-code` printed.
    code: String,
    /// The owner's new password: 12 to 1024 characters.
    #[schema(min_length = 12, max_length = 1024)]
    password: String,
}

/// Claims an unclaimed instance with the one-time code from `clawhost claim-code`, sets the
/// owner's password and signs in.
#[utoipa::path(post, path = "/api/auth/claim", tag = "auth", request_body = ClaimRequest,
    responses((status = 201, body = Me, description = "Claimed; the session cookie is set")))]
async fn claim(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(body): ApiJson<ClaimRequest>,
) -> Result<Response, ApiError> {
    let signed_in = state
        .auth
        .claim(&body.code, &body.password, &client)
        .await?;
    signed_in_response(&state, StatusCode::CREATED, signed_in).await
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct LoginRequest {
    password: String,
}

/// Signs the owner in.
#[utoipa::path(post, path = "/api/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, body = Me, description = "Signed in; the session cookie is set")))]
async fn login(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(body): ApiJson<LoginRequest>,
) -> Result<Response, ApiError> {
    let signed_in = state.auth.login(&body.password, &client).await?;
    signed_in_response(&state, StatusCode::OK, signed_in).await
}

pub(super) async fn signed_in_response(
    state: &AppState,
    status: StatusCode,
    signed_in: SignedIn,
) -> Result<Response, ApiError> {
    let body = me_body(state, &signed_in.session).await?;
    let mut headers = HeaderMap::new();
    headers.insert(header::SET_COOKIE, state.cookie.set(&signed_in.token));
    if let Some(device) = &signed_in.device {
        headers.append(header::SET_COOKIE, state.cookie.set_device(device));
    }
    Ok((status, headers, Json(body)).into_response())
}

#[derive(Serialize, ToSchema)]
pub(super) struct Me {
    owner: OwnerView,
    session: SessionView,
}

#[derive(Serialize, ToSchema)]
struct OwnerView {
    created_at: String,
    /// Whether the password signs in (the owner may turn it off once a passkey or a linked
    /// identity exists).
    password_sign_in: bool,
}

#[derive(Serialize, ToSchema)]
struct SessionView {
    id: String,
    created_at: String,
    expires_at: String,
}

async fn me_body(state: &AppState, session: &ActiveSession) -> Result<Me, ApiError> {
    let created_at = state.auth.owner_created_at().await?.unwrap_or_default();
    Ok(Me {
        owner: OwnerView {
            created_at: rfc3339(created_at),
            password_sign_in: state.auth.password_signs_in().await?,
        },
        session: SessionView {
            id: session.id.clone(),
            created_at: rfc3339(session.created_at),
            expires_at: rfc3339(session.expires_at),
        },
    })
}

/// The owner and the current session.
#[utoipa::path(get, path = "/api/auth/me", tag = "auth", security(("session" = [])),
    responses((status = 200, body = Me)))]
async fn me(State(state): State<AppState>, Owner(session): Owner) -> Result<Json<Me>, ApiError> {
    Ok(Json(me_body(&state, &session).await?))
}

/// Ends the current session.
#[utoipa::path(post, path = "/api/auth/logout", tag = "auth", security(("session" = [])),
    responses((status = 204, description = "Signed out; the cookie is cleared")))]
async fn logout(
    State(state): State<AppState>,
    client: ClientInfo,
    Owner(session): Owner,
) -> Result<Response, ApiError> {
    state.auth.logout(&session, &client).await?;
    Ok((
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, state.cookie.clear())],
    )
        .into_response())
}

#[derive(Serialize, ToSchema)]
struct SessionList {
    sessions: Vec<SessionSummary>,
}

/// The owner's open sessions.
#[utoipa::path(get, path = "/api/auth/sessions", tag = "auth", security(("session" = [])),
    responses((status = 200, body = SessionList)))]
async fn sessions(
    State(state): State<AppState>,
    Owner(current): Owner,
) -> Result<Json<SessionList>, ApiError> {
    let sessions = state.auth.session_summaries(&current).await?;
    Ok(Json(SessionList { sessions }))
}

/// Ends one session (the current one too, which clears its cookie). Ending another one
/// needs the password given recently in this session (`/api/auth/reauthenticate`).
#[utoipa::path(delete, path = "/api/auth/sessions/{id}", tag = "auth", security(("session" = [])),
    params(("id" = String, Path, description = "A session id from the list")),
    responses((status = 204, description = "Ended")))]
async fn revoke(
    State(state): State<AppState>,
    client: ClientInfo,
    Owner(current): Owner,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    if id != current.id && !state.auth.is_fresh(&current) {
        return Err(ApiError::ReauthenticationRequired);
    }
    state.auth.revoke(&id, &client).await?;
    if id == current.id {
        return Ok((
            StatusCode::NO_CONTENT,
            [(header::SET_COOKIE, state.cookie.clear())],
        )
            .into_response());
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Ends every session but the current one; needs the password given recently.
#[utoipa::path(post, path = "/api/auth/sessions/revoke-others", tag = "auth", security(("session" = [])),
    responses((status = 204, description = "Ended")))]
async fn revoke_others(
    State(state): State<AppState>,
    client: ClientInfo,
    FreshOwner(current): FreshOwner,
) -> Result<StatusCode, ApiError> {
    state.auth.revoke_others(&current, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}

/// Gives the password (or a passkey) again in this session: for the next five minutes (by
/// default) the sensitive actions are open to it: provider settings, revoking other
/// sessions, rotating the gateway's credential, installing OpenClaw, removing a passkey.
/// (What adds a way in needs the proof in its own request.)
#[utoipa::path(post, path = "/api/auth/reauthenticate", tag = "auth", security(("session" = [])),
    request_body = ProofFields, responses((status = 204, description = "Confirmed")))]
async fn reauthenticate(
    State(state): State<AppState>,
    client: ClientInfo,
    Owner(current): Owner,
    ApiJson(body): ApiJson<ProofFields>,
) -> Result<StatusCode, ApiError> {
    match body.check(&state, &current, &client).await {
        // Asked to confirm, and nothing given to confirm with.
        Err(ApiError::ReauthenticationRequired) => Err(ApiError::field(
            "password",
            "Give the password, or a passkey answer.",
        )),
        other => other.map(|()| StatusCode::NO_CONTENT),
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
struct PasswordRequest {
    current_password: String,
    /// 12 to 1024 characters.
    #[schema(min_length = 12, max_length = 1024)]
    new_password: String,
}

/// Changes the owner's password; every other session ends.
#[utoipa::path(post, path = "/api/auth/password", tag = "auth", security(("session" = [])),
    request_body = PasswordRequest, responses((status = 204, description = "Changed")))]
async fn change_password(
    State(state): State<AppState>,
    client: ClientInfo,
    Owner(current): Owner,
    ApiJson(body): ApiJson<PasswordRequest>,
) -> Result<StatusCode, ApiError> {
    state
        .auth
        .change_password(
            &current,
            &body.current_password,
            &body.new_password,
            &client,
        )
        .await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
struct EventsQuery {
    /// Events per page (default 50).
    #[param(minimum = 1, maximum = 200)]
    limit: Option<usize>,
    /// `next_cursor` of the previous page.
    cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
struct EventList {
    events: Vec<EventItem>,
    next_cursor: Option<String>,
}

#[derive(Serialize, ToSchema)]
struct EventItem {
    id: String,
    at: String,
    kind: String,
    ip: Option<String>,
    user_agent: Option<String>,
    detail: Option<String>,
}

/// Security events, newest first, a page at a time.
#[utoipa::path(get, path = "/api/auth/events", tag = "auth", security(("session" = [])),
    params(EventsQuery), responses((status = 200, body = EventList)))]
async fn events(
    State(state): State<AppState>,
    Owner(_): Owner,
    ApiQuery(query): ApiQuery<EventsQuery>,
) -> Result<Json<EventList>, ApiError> {
    let limit = paging::page_limit(query.limit)?;
    let before = match query.cursor.as_deref() {
        None | Some("") => None,
        Some(text) => Some(
            text.parse::<i64>()
                .ok()
                .filter(|id| *id > 0)
                .ok_or_else(|| {
                    ApiError::field("cursor", "Use the next_cursor of a previous page.")
                })?,
        ),
    };
    let rows = state.auth.events(before, limit + 1).await?;
    let (rows, next_cursor) = paging::split(rows, limit, |e| e.id.to_string());
    let events = rows
        .into_iter()
        .map(|e| EventItem {
            id: e.id.to_string(),
            at: rfc3339(e.at),
            kind: e.kind,
            ip: e.ip,
            user_agent: e.user_agent,
            detail: e.detail,
        })
        .collect();
    Ok(Json(EventList {
        events,
        next_cursor,
    }))
}
