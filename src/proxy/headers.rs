//! Which headers cross the proxy. Towards the gateway only an allowlist passes: what a
//! browser needs to fetch the Control UI's pages and assets, and to send it a body. So the
//! browser's credentials for clawhost (cookie), anything that would make the gateway treat
//! the request as proxied (`Forwarded`, `X-Forwarded-*`, `X-Real-IP`) and every
//! `x-openclaw-*` header (scopes, a password or token of its own) never reach it; `Host`,
//! `Origin` and `Authorization` are set by the proxy. Hop-by-hop headers are
//! connection-specific and never cross in either direction.

use axum::http::{HeaderMap, HeaderName, HeaderValue, header};

/// RFC 9110 §7.6.1 hop-by-hop headers, plus the old `Proxy-Connection` and `Keep-Alive`.
const HOP_BY_HOP: &[&str] = &[
    "connection",
    "keep-alive",
    "proxy-connection",
    "proxy-authenticate",
    "proxy-authorization",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
];

/// The elements of a list header (RFC 9110 §5.6.1), over all its lines: trimmed, lowercase,
/// empty ones skipped.
pub(crate) fn list_elements(
    headers: &HeaderMap,
    name: HeaderName,
) -> impl Iterator<Item = String> + '_ {
    headers
        .get_all(name)
        .into_iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(|element| element.trim().to_ascii_lowercase())
        .filter(|element| !element.is_empty())
}

fn connection_listed(headers: &HeaderMap) -> Vec<String> {
    list_elements(headers, header::CONNECTION).collect()
}

/// The request headers the gateway may get from the browser (README, "The Control UI").
/// `origin` is replaced by the gateway's own origin on the way.
pub(crate) const FORWARDED_REQUEST_HEADERS: &[&str] = &[
    "accept",
    "accept-encoding",
    "accept-language",
    "cache-control",
    "content-encoding",
    "content-length",
    "content-type",
    "if-match",
    "if-modified-since",
    "if-none-match",
    "if-range",
    "if-unmodified-since",
    "origin",
    "pragma",
    "range",
    "user-agent",
];

/// The request headers the gateway gets; `Authorization` and `Host` are added by the caller.
pub(crate) fn request_headers(incoming: &HeaderMap) -> HeaderMap {
    let listed = connection_listed(incoming);
    let mut out = HeaderMap::with_capacity(incoming.len());
    for (name, value) in incoming {
        let lower = name.as_str();
        if FORWARDED_REQUEST_HEADERS.contains(&lower) && !listed.iter().any(|l| l == lower) {
            out.append(name.clone(), value.clone());
        }
    }
    out
}

/// Response headers that would reach beyond the Control UI on clawhost's origin: cookies,
/// a service worker allowed to control all of it (the sign-in page included), and clearing
/// the origin's storage and cookies.
const NEVER_BACK: &[&str] = &["set-cookie", "service-worker-allowed", "clear-site-data"];

/// Leaves the response headers the browser gets: everything but hop-by-hop headers and those
/// that would act on all of clawhost's origin. In place: the gateway's answer is ours to
/// change, and removing a few names costs less than copying all the others.
pub(crate) fn strip_response_headers(headers: &mut HeaderMap) {
    for name in connection_listed(headers) {
        headers.remove(name.as_str());
    }
    for name in HOP_BY_HOP.iter().chain(NEVER_BACK) {
        headers.remove(*name);
    }
}

pub(crate) fn bearer(token: &str) -> Option<HeaderValue> {
    let mut value = HeaderValue::from_str(&format!("Bearer {token}")).ok()?;
    value.set_sensitive(true);
    Some(value)
}

pub(crate) fn is_websocket_upgrade(headers: &HeaderMap) -> bool {
    let upgrade = headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    upgrade && connection_listed(headers).iter().any(|v| v == "upgrade")
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderName;

    #[test]
    fn credentials_and_forwarding_headers_are_dropped() {
        let mut incoming = HeaderMap::new();
        for (name, value) in [
            ("cookie", "clawhost_session=secret"),
            ("authorization", "Bearer mine"),
            ("forwarded", "for=1.2.3.4"),
            ("x-forwarded-for", "1.2.3.4"),
            ("x-forwarded-user", "admin"),
            ("x-real-ip", "1.2.3.4"),
            ("x-openclaw-scopes", "operator.admin"),
            ("connection", "keep-alive, x-custom"),
            ("x-custom", "hop"),
            ("te", "trailers"),
            ("accept-encoding", "br, gzip"),
            ("accept", "text/html"),
        ] {
            incoming.append(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        let out = request_headers(&incoming);
        let names: Vec<&str> = out.keys().map(axum::http::HeaderName::as_str).collect();
        assert_eq!(names, ["accept-encoding", "accept"]);
    }

    /// Issue 11, defect 9: headers of OpenClaw's own (a password, a token, scopes) and any
    /// other header not on the list stay behind.
    #[test]
    fn only_the_listed_headers_reach_the_gateway() {
        let mut incoming = HeaderMap::new();
        for (name, value) in [
            ("x-openclaw-password", "guess"),
            ("x-openclaw-token", "guess"),
            ("x-openclaw-scopes", "operator.admin"),
            ("x-openclaw-device", "d"),
            ("x-custom-auth", "anything"),
            ("proxy-authorization", "Basic x"),
            ("sec-websocket-protocol", "x"),
            ("if-none-match", "\"etag\""),
            ("content-type", "application/json"),
            ("user-agent", "browser"),
        ] {
            incoming.append(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        let out = request_headers(&incoming);
        let names: Vec<&str> = out.keys().map(axum::http::HeaderName::as_str).collect();
        assert_eq!(names, ["if-none-match", "content-type", "user-agent"]);
    }

    #[test]
    fn responses_keep_encoding_and_security_headers() {
        let mut incoming = HeaderMap::new();
        for (name, value) in [
            ("content-encoding", "br"),
            ("content-security-policy", "frame-ancestors 'none'"),
            ("set-cookie", "x=1"),
            ("service-worker-allowed", "/"),
            ("clear-site-data", "\"*\""),
            ("transfer-encoding", "chunked"),
            ("connection", "x-hop"),
            ("x-hop", "1"),
        ] {
            incoming.append(
                HeaderName::from_static(name),
                HeaderValue::from_static(value),
            );
        }
        let mut out = incoming;
        strip_response_headers(&mut out);
        assert!(out.contains_key("content-encoding"));
        assert!(out.contains_key("content-security-policy"));
        assert!(!out.contains_key("set-cookie"));
        assert!(!out.contains_key("service-worker-allowed"));
        assert!(!out.contains_key("clear-site-data"));
        assert!(!out.contains_key("transfer-encoding"));
        assert!(!out.contains_key("connection"));
        assert!(!out.contains_key("x-hop"), "named by Connection");
    }

    #[test]
    fn recognizes_upgrades() {
        let mut headers = HeaderMap::new();
        headers.insert("upgrade", HeaderValue::from_static("websocket"));
        headers.insert(
            "connection",
            HeaderValue::from_static("keep-alive, Upgrade"),
        );
        assert!(is_websocket_upgrade(&headers));
        headers.insert("connection", HeaderValue::from_static("keep-alive"));
        assert!(!is_websocket_upgrade(&headers));
    }
}
