//! Plain HTTP to the Control UI through the pooled client: bodies streamed both ways, the
//! gateway's credential added here and nowhere else.

use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use http_body_util::{BodyExt, Limited};

use super::headers;
use super::service::UpstreamClient;
use crate::gateway::status::Credential;
use crate::web::headers::Proxied;
use crate::web::problems::{ABOUT_BLANK, problem};

pub(crate) enum Failure {
    TooLarge,
    Unreachable,
    Timeout,
}

pub(crate) async fn forward(
    client: &UpstreamClient,
    credential: &Credential,
    request: Request,
    body_limit: usize,
    response_timeout: Duration,
) -> Result<Response, Failure> {
    let (parts, body) = request.into_parts();
    let declared = parts
        .headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|len| len > body_limit) {
        return Err(Failure::TooLarge);
    }
    let path = parts.uri.path_and_query().map_or("/", |p| p.as_str());
    let uri = format!("http://127.0.0.1:{}{path}", credential.port)
        .parse::<axum::http::Uri>()
        .map_err(|_| Failure::Unreachable)?;
    let mut upstream = axum::http::Request::builder()
        .method(parts.method)
        .uri(uri)
        .body(Body::new(
            Limited::new(body, body_limit).map_err(axum::Error::new),
        ))
        .map_err(|_| Failure::Unreachable)?;
    let mut forwarded = headers::request_headers(&parts.headers);
    if let Ok(host) = HeaderValue::from_str(&format!("127.0.0.1:{}", credential.port)) {
        forwarded.insert(header::HOST, host.clone());
        // The gateway compares a browser Origin with its own; ours was checked already.
        if forwarded.contains_key(header::ORIGIN)
            && let Ok(origin) =
                HeaderValue::from_str(&format!("http://127.0.0.1:{}", credential.port))
        {
            forwarded.insert(header::ORIGIN, origin);
        }
    }
    if let Some(bearer) = headers::bearer(credential.token.as_str()) {
        forwarded.insert(header::AUTHORIZATION, bearer);
    }
    *upstream.headers_mut() = forwarded;

    let response = match tokio::time::timeout(response_timeout, client.request(upstream)).await {
        Err(_) => return Err(Failure::Timeout),
        Ok(Err(error)) => {
            tracing::warn!(%error, "the gateway did not answer");
            return Err(Failure::Unreachable);
        }
        Ok(Ok(response)) => response,
    };
    let (mut parts, body) = response.into_parts();
    headers::strip_response_headers(&mut parts.headers);
    let mut out = Response::new(Body::new(body));
    *out.status_mut() = parts.status;
    *out.headers_mut() = parts.headers;
    out.extensions_mut().insert(Proxied);
    let html = out
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if html {
        // A stale Control UI page after an upgrade breaks its protocol check; never cache it.
        out.headers_mut()
            .insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    Ok(out)
}

impl Failure {
    pub(crate) fn status(&self) -> StatusCode {
        match self {
            Failure::TooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            Failure::Unreachable => StatusCode::BAD_GATEWAY,
            Failure::Timeout => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    pub(crate) fn detail(&self) -> &'static str {
        match self {
            Failure::TooLarge => "The request body is larger than the proxy allows.",
            Failure::Unreachable => "The gateway could not be reached; it may be restarting.",
            Failure::Timeout => "The gateway took too long to answer.",
        }
    }
}

impl IntoResponse for Failure {
    fn into_response(self) -> Response {
        problem(self.status(), ABOUT_BLANK, Some(self.detail()), None)
    }
}
