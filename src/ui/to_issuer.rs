//! Sending the browser to the OpenID Connect issuer: a redirect from a link, or a page that
//! links there after a form (a form answered by a redirect to another origin is blocked by
//! CSP `form-action 'self'`; `static/app.js` follows the link at once). Either way the
//! flow's key goes into the pre-login cookie.

use askama::Template;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::render::render;
use crate::auth::ClientInfo;
use crate::auth::oidc::{FLOW_TTL, Oidc, Purpose};
use crate::state::AppState;
use crate::web::error::ApiError;

#[derive(Template)]
#[template(path = "continue.html")]
struct ContinuePage<'a> {
    provider: &'a str,
    url: &'a str,
    /// What happens there, a sentence.
    why: &'a str,
}

/// A 302 to the issuer (for a link: `GET /auth/oidc/start`).
pub(super) async fn redirect(
    state: &AppState,
    oidc: &Oidc,
    purpose: Purpose,
    client: &ClientInfo,
) -> Response {
    match oidc.begin(purpose, client.limit_key).await {
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

/// A page that continues to the issuer (after a form), saying `why`.
pub(super) async fn continue_page(
    state: &AppState,
    oidc: &Oidc,
    purpose: Purpose,
    why: &str,
    client: &ClientInfo,
) -> Response {
    match oidc.begin(purpose, client.limit_key).await {
        Ok((key, url)) => {
            let page = ContinuePage {
                provider: &oidc.settings().display_name,
                url: &url,
                why,
            };
            let mut response = render(StatusCode::OK, page);
            let cookie = state.cookie.set_sign_in_flow(&key, FLOW_TTL);
            response.headers_mut().append(header::SET_COOKIE, cookie);
            response
        }
        Err(error) => ApiError::from(error).into_page(),
    }
}
