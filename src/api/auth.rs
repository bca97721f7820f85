//! `/api/auth/*`: instance lock, claim, login, sessions, password, security events.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::{Deserialize, Serialize};

use crate::auth::sessions::ActiveSession;
use crate::auth::{AuthError, ClientInfo, SessionSummary, SignedIn, limiter::retry_after_secs};
use crate::clock::rfc3339;
use crate::error::ApiError;
use crate::state::AppState;
use crate::web::extract::{ApiJson, ApiQuery, Owner};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/auth/instance", get(instance))
        .route("/api/auth/claim", post(claim))
        .route("/api/auth/login", post(login))
        .route("/api/auth/me", get(me))
        .route("/api/auth/logout", post(logout))
        .route("/api/auth/sessions", get(sessions))
        .route("/api/auth/sessions/{id}", delete(revoke))
        .route("/api/auth/sessions/revoke-others", post(revoke_others))
        .route("/api/auth/password", post(change_password))
        .route("/api/auth/events", get(events))
}

impl From<AuthError> for ApiError {
    fn from(error: AuthError) -> Self {
        match error {
            AuthError::InvalidCredentials => {
                ApiError::status(StatusCode::UNAUTHORIZED, "The password is not correct.")
            }
            AuthError::TooManyAttempts { retry_after } => ApiError::TooManyRequests {
                retry_after_secs: retry_after_secs(retry_after),
            },
            AuthError::AlreadyClaimed => ApiError::status(
                StatusCode::CONFLICT,
                "This instance already has an owner. Sign in at /login.",
            ),
            AuthError::InvalidClaimCode => ApiError::status(
                StatusCode::FORBIDDEN,
                "The claim code is wrong or has expired. Run 'clawhost claim-code' on the server for a new one.",
            ),
            AuthError::InvalidField { field, message } => ApiError::field(field, message),
            AuthError::NoSuchSession => ApiError::not_found("There is no such session."),
            AuthError::Internal(cause) => ApiError::internal(cause),
        }
    }
}

#[derive(Serialize)]
struct Instance {
    locked: bool,
}

async fn instance(State(state): State<AppState>) -> Result<Json<Instance>, ApiError> {
    Ok(Json(Instance {
        locked: state.auth.is_locked().await?,
    }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClaimRequest {
    code: String,
    password: String,
}

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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LoginRequest {
    password: String,
}

async fn login(
    State(state): State<AppState>,
    client: ClientInfo,
    ApiJson(body): ApiJson<LoginRequest>,
) -> Result<Response, ApiError> {
    let signed_in = state.auth.login(&body.password, &client).await?;
    signed_in_response(&state, StatusCode::OK, signed_in).await
}

async fn signed_in_response(
    state: &AppState,
    status: StatusCode,
    signed_in: SignedIn,
) -> Result<Response, ApiError> {
    let body = me_body(state, &signed_in.session).await?;
    let mut headers = HeaderMap::new();
    headers.insert(header::SET_COOKIE, state.session_cookie(&signed_in.token));
    Ok((status, headers, Json(body)).into_response())
}

#[derive(Serialize)]
struct Me {
    owner: OwnerView,
    session: SessionView,
}

#[derive(Serialize)]
struct OwnerView {
    created_at: String,
}

#[derive(Serialize)]
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
        },
        session: SessionView {
            id: session.id.clone(),
            created_at: rfc3339(session.created_at),
            expires_at: rfc3339(session.expires_at),
        },
    })
}

async fn me(State(state): State<AppState>, Owner(session): Owner) -> Result<Json<Me>, ApiError> {
    Ok(Json(me_body(&state, &session).await?))
}

async fn logout(
    State(state): State<AppState>,
    client: ClientInfo,
    Owner(session): Owner,
) -> Result<Response, ApiError> {
    state.auth.logout(&session, &client).await?;
    Ok((
        StatusCode::NO_CONTENT,
        [(header::SET_COOKIE, state.cleared_cookie())],
    )
        .into_response())
}

#[derive(Serialize)]
struct SessionList {
    sessions: Vec<SessionSummary>,
}

async fn sessions(
    State(state): State<AppState>,
    Owner(current): Owner,
) -> Result<Json<SessionList>, ApiError> {
    let sessions = state.auth.session_summaries(&current).await?;
    Ok(Json(SessionList { sessions }))
}

async fn revoke(
    State(state): State<AppState>,
    client: ClientInfo,
    Owner(current): Owner,
    Path(id): Path<String>,
) -> Result<Response, ApiError> {
    state.auth.revoke(&id, &client).await?;
    if id == current.id {
        return Ok((
            StatusCode::NO_CONTENT,
            [(header::SET_COOKIE, state.cleared_cookie())],
        )
            .into_response());
    }
    Ok(StatusCode::NO_CONTENT.into_response())
}

async fn revoke_others(
    State(state): State<AppState>,
    client: ClientInfo,
    Owner(current): Owner,
) -> Result<StatusCode, ApiError> {
    state.auth.revoke_others(&current, &client).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PasswordRequest {
    current_password: String,
    new_password: String,
}

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

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct EventsQuery {
    limit: Option<usize>,
    cursor: Option<String>,
}

#[derive(Serialize)]
struct EventList {
    events: Vec<EventItem>,
    next_cursor: Option<String>,
}

#[derive(Serialize)]
struct EventItem {
    id: String,
    at: String,
    kind: String,
    ip: Option<String>,
    user_agent: Option<String>,
    detail: Option<String>,
}

async fn events(
    State(state): State<AppState>,
    Owner(_): Owner,
    ApiQuery(query): ApiQuery<EventsQuery>,
) -> Result<Json<EventList>, ApiError> {
    let limit = super::page_limit(query.limit)?;
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
    let (rows, next_cursor) = crate::paging::split(rows, limit, |e| e.id.to_string());
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
