//! Over plain http to a name other than this machine's own, every page says so at its top:
//! the password, the session cookie and the assistant's conversations cross the network
//! readable by anyone on the way. The notice goes where `base.html` marks its place, so it is
//! on every page clawhost draws, error pages included, and never on the gateway's.

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::Response;

use super::headers::Proxied;
use crate::config::{PublicUrl, is_loopback_host};

/// Where `base.html` leaves room for the notice.
const MARK: &str = "<!--connection-notice-->";
/// Our pages are a few KiB; anything larger is not one of them.
const PAGE_LIMIT: usize = 1024 * 1024;

const INSECURE_NOTICE: &str = "<div class=\"notice\" role=\"note\" \
data-insecure-notice><strong>This connection is not private.</strong> This page travels over \
plain http, so your password and your assistant's conversations can be read on the network. \
Set up HTTPS (see \u{201c}On a VPS\u{201d} in clawhost's README), or keep clawhost on 127.0.0.1 \
and reach it through an SSH tunnel: <code>ssh -N -L 8080:127.0.0.1:8080 you@your-server</code>, \
then open http://127.0.0.1:8080.</div>";

/// What the log says once at start when the public URL travels in clear.
pub(crate) fn insecure_warning(public_url: &PublicUrl) -> Option<String> {
    public_url.travels_in_clear().then(|| {
        format!(
            "{} is plain http on the network: passwords and conversations can be read on the way. \
Set up HTTPS (README, \"On a VPS\"), or keep clawhost on 127.0.0.1 and use an SSH tunnel \
(ssh -N -L 8080:127.0.0.1:8080 you@your-server).",
            public_url.origin()
        )
    })
}

pub(crate) async fn connection_notice(
    State(public_url): State<PublicUrl>,
    request: Request,
    next: Next,
) -> Response {
    // Elsewhere the mark stays an empty comment.
    if !public_url.travels_in_clear() {
        return next.run(request).await;
    }
    // Opened at this machine's own name (a tunnel, or the wrong-address page there), nothing
    // crosses the network.
    let here = request
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .is_some_and(is_loopback_host);
    let response = next.run(request).await;
    if here {
        return response;
    }
    let page = response
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("text/html"));
    if !page || response.extensions().get::<Proxied>().is_some() {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    let Ok(bytes) = to_bytes(body, PAGE_LIMIT).await else {
        return Response::from_parts(parts, Body::empty());
    };
    let html = String::from_utf8_lossy(&bytes);
    let filled = html.replacen(MARK, INSECURE_NOTICE, 1);
    Response::from_parts(parts, Body::from(filled))
}
