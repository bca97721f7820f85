//! Extractors: who is calling (address, user agent), which owner session they hold, and
//! JSON/query input whose rejections become problem+json with a useful detail.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{HeaderMap, StatusCode, header};
use serde::de::DeserializeOwned;

use super::client_addr::client_addr;
use crate::auth::ClientInfo;
use crate::auth::sessions::ActiveSession;
use crate::error::ApiError;
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
        Ok(ClientInfo::new(ip, user_agent))
    }
}

/// The value of our session cookie, if the request carries one.
pub fn session_cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|line| line.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(key, _)| *key == name)
        .map(|(_, value)| value)
        .filter(|value| !value.is_empty() && value.len() <= 128)
}

/// The owner's session, if the request carries a valid one.
pub async fn current_session(
    headers: &HeaderMap,
    state: &AppState,
) -> Result<Option<ActiveSession>, ApiError> {
    let Some(token) = session_cookie(headers, state.cookie_name()) else {
        return Ok(None);
    };
    Ok(state.auth.sessions.authenticate(token).await?)
}

/// Requires the owner's session; 401 problem otherwise.
pub struct Owner(pub ActiveSession);

impl FromRequestParts<AppState> for Owner {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        current_session(&parts.headers, state)
            .await?
            .map(Owner)
            .ok_or_else(ApiError::unauthorized)
    }
}

/// The owner's session when there is one, for pages that redirect instead of failing.
pub struct MaybeOwner(pub Option<ActiveSession>);

impl FromRequestParts<AppState> for MaybeOwner {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, ApiError> {
        Ok(MaybeOwner(current_session(&parts.headers, state).await?))
    }
}

/// `Json<T>` whose rejections are problem+json: 415 without a JSON content type, 413 over the
/// body limit, 400 for broken JSON, 422 for JSON of the wrong shape.
pub struct ApiJson<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for ApiJson<T> {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        match axum::Json::<T>::from_request(request, state).await {
            Ok(axum::Json(value)) => Ok(ApiJson(value)),
            Err(rejection) => Err(json_rejection(rejection)),
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

fn json_rejection(rejection: JsonRejection) -> ApiError {
    let status = rejection.status();
    let detail = match &rejection {
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
pub struct ApiQuery<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(ApiQuery(value)),
            Err(rejection) => Err(query_rejection(rejection)),
        }
    }
}

fn query_rejection(rejection: QueryRejection) -> ApiError {
    ApiError::status(StatusCode::UNPROCESSABLE_ENTITY, rejection.body_text())
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn finds_our_cookie_among_others() {
        let mut headers = HeaderMap::new();
        headers.insert(
            header::COOKIE,
            HeaderValue::from_static("a=1; clawhost_session=abc; b=2"),
        );
        assert_eq!(session_cookie(&headers, "clawhost_session"), Some("abc"));
        assert_eq!(session_cookie(&headers, "__Host-clawhost_session"), None);
    }
}
