//! Extractors: who is calling (address, user agent), which owner session they hold (for the
//! API, or for a page that sends a visitor without one to sign in), and JSON/query input
//! whose rejections become problem+json with a useful detail.

use std::fmt::Write as _;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::{Extension, Router};
use serde::de::DeserializeOwned;

use super::client_addr::client_addr;
use super::error::ApiError;
use crate::auth::ClientInfo;
use crate::auth::sessions::ActiveSession;
use crate::state::AppState;

impl FromRequestParts<AppState> for ClientInfo {
    type Rejection = std::convert::Infallible;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        // The socket's peer, unless it is a trusted reverse proxy that says who it serves.
        let peer = parts
            .extensions
            .get::<ConnectInfo<SocketAddr>>()
            .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |info| info.0.ip());
        let ip = client_addr(peer, &parts.headers, &state.config.trusted_proxies);
        let user_agent = parts
            .headers
            .get(header::USER_AGENT)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("");
        let device = state.cookie.read_device(&parts.headers);
        Ok(ClientInfo::new(ip, user_agent, state.config.ipv6_prefix).with_device(device))
    }
}

/// The owner's session, if the request carries a valid one.
pub(crate) async fn current_session(
    headers: &HeaderMap,
    state: &AppState,
) -> Result<Option<ActiveSession>, ApiError> {
    let Some(token) = state.cookie.read(headers) else {
        return Ok(None);
    };
    Ok(state.auth.sessions.authenticate(token).await?)
}

/// Requires the owner's session; 401 problem otherwise.
pub(crate) struct Owner(pub(crate) ActiveSession);

impl FromRequestParts<AppState> for Owner {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        current_session(&parts.headers, state)
            .await?
            .map(Owner)
            .ok_or_else(ApiError::unauthorized)
    }
}

/// Requires the owner's session with the password given recently (a step-up) in it: for the
/// sensitive actions. 401 without a session, 403 `reauthentication-required` when stale.
pub(crate) struct FreshOwner(pub(crate) ActiveSession);

impl FromRequestParts<AppState> for FreshOwner {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        let Owner(session) = Owner::from_request_parts(parts, state).await?;
        if state.auth.is_fresh(&session) {
            Ok(FreshOwner(session))
        } else {
            Err(ApiError::ReauthenticationRequired)
        }
    }
}

/// The owner's session when there is one.
pub(crate) struct MaybeOwner(pub(crate) Option<ActiveSession>);

impl FromRequestParts<AppState> for MaybeOwner {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Ok(MaybeOwner(current_session(&parts.headers, state).await?))
    }
}

/// The page a group of page routes returns to after signing in (a form's route returns to
/// the page that shows the form).
#[derive(Debug, Clone, Copy)]
pub(crate) struct ReturnTo(pub(crate) &'static str);

impl ReturnTo {
    /// Every route of `routes` returns to `page`: the layer goes on once all are there.
    pub(crate) fn group<S: Clone + Send + Sync + 'static>(
        page: &'static str,
        routes: Router<S>,
    ) -> Router<S> {
        routes.layer(Extension(ReturnTo(page)))
    }
}

/// Requires the owner's session for a page. A visitor without one is sent to sign in (to
/// claim the instance, while it has no owner), then back: to the group's [`ReturnTo`]; for a
/// route outside any group, to the page itself (GET) or to the dashboard (a form's POST).
/// It runs before the body is read, so nothing of an anonymous form is parsed.
pub(crate) struct PageOwner(pub(crate) ActiveSession);

impl FromRequestParts<AppState> for PageOwner {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let session = current_session(&parts.headers, state)
            .await
            .map_err(ApiError::into_page)?;
        if let Some(session) = session {
            return Ok(PageOwner(session));
        }
        let locked = state
            .auth
            .is_locked()
            .await
            .map_err(|error| ApiError::from(error).into_page())?;
        if !locked {
            return Err(Redirect::to("/claim").into_response());
        }
        let page = match parts.extensions.get::<ReturnTo>() {
            Some(ReturnTo(page)) => *page,
            None if parts.method == Method::GET => parts.uri.path(),
            None => "/",
        };
        Err(sign_in_redirect(page))
    }
}

/// `/login?next=…` back to `page`; only our own path can ever be the target.
pub(crate) fn sign_in_redirect(page: &str) -> Response {
    if page == "/" {
        return Redirect::to("/login").into_response();
    }
    let mut next = String::with_capacity(page.len());
    for byte in page.bytes() {
        if byte.is_ascii_alphanumeric() || b"/-._~".contains(&byte) {
            next.push(char::from(byte));
        } else {
            let _ = write!(next, "%{byte:02X}");
        }
    }
    Redirect::to(&format!("/login?next={next}")).into_response()
}

/// `Json<T>` whose rejections are problem+json: 415 without a JSON content type, 413 over the
/// body limit, 400 for broken JSON, 422 for JSON of the wrong shape.
pub(crate) struct ApiJson<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(json_rejection(&rejection)),
        }
    }
}

/// An optional JSON body: absent (no body at all) is `None`; present must be valid.
impl<S: Send + Sync, T: DeserializeOwned> axum::extract::OptionalFromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Option<Self>, ApiError> {
        let empty = request
            .headers()
            .get(header::CONTENT_LENGTH)
            .is_some_and(|len| len == "0")
            || (!request.headers().contains_key(header::CONTENT_TYPE)
                && !request.headers().contains_key(header::CONTENT_LENGTH)
                && !request.headers().contains_key(header::TRANSFER_ENCODING));
        if empty {
            return Ok(None);
        }
        <Self as FromRequest<S>>::from_request(request, state)
            .await
            .map(Some)
    }
}

fn json_rejection(rejection: &JsonRejection) -> ApiError {
    let status = rejection.status();
    let detail = match rejection {
        JsonRejection::MissingJsonContentType(_) => {
            "Send the body as JSON with Content-Type: application/json.".to_string()
        }
        JsonRejection::JsonSyntaxError(_) => "The body is not valid JSON.".to_string(),
        JsonRejection::JsonDataError(error) => error.body_text(),
        JsonRejection::BytesRejection(_) if status == StatusCode::PAYLOAD_TOO_LARGE => {
            "The request body is larger than allowed.".to_string()
        }
        other => other.body_text(),
    };
    ApiError::status(status, detail)
}

/// `Query<T>` whose rejections are 422 problem+json.
pub(crate) struct ApiQuery<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(ApiQuery(value)),
            Err(rejection) => Err(query_rejection(&rejection)),
        }
    }
}

fn query_rejection(rejection: &QueryRejection) -> ApiError {
    ApiError::status(StatusCode::UNPROCESSABLE_ENTITY, rejection.body_text())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_in_comes_back_to_the_page() {
        let location = |page| sign_in_redirect(page).headers()[header::LOCATION].clone();
        assert_eq!(location("/"), "/login");
        assert_eq!(location("/setup"), "/login?next=/setup");
        assert_eq!(
            location("/openclaw/?session=a b"),
            "/login?next=/openclaw/%3Fsession%3Da%20b"
        );
    }
}
