//! Same-origin proof for every state-changing request.
//!
//! A POST, PUT, PATCH or DELETE passes only when `Sec-Fetch-Site` is `same-origin` or
//! `none`; when that header is absent, when `Origin` equals the public origin; when that is
//! absent too, when `Referer` is on the public origin. With none of the three the request is
//! refused: a missing header is never taken as consent (audit finding C2).

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

use super::problems::error_for_path;
use crate::config::PublicUrl;

#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    SameOrigin,
    CrossOrigin(String),
}

pub(crate) fn is_state_changing(method: &Method) -> bool {
    matches!(
        *method,
        Method::POST | Method::PUT | Method::PATCH | Method::DELETE
    )
}

/// Decides whether the request's headers prove it comes from `origin`.
pub(crate) fn check(headers: &HeaderMap, origin: &str) -> Verdict {
    let text = |name| headers.get(name).and_then(|v| v.to_str().ok());
    if let Some(site) = text("sec-fetch-site") {
        return match site {
            "same-origin" | "none" => Verdict::SameOrigin,
            other => Verdict::CrossOrigin(format!("the browser says it is {other}")),
        };
    }
    if let Some(sent) = text(header::ORIGIN.as_str()) {
        return if sent.eq_ignore_ascii_case(origin) {
            Verdict::SameOrigin
        } else {
            Verdict::CrossOrigin(format!(
                "it comes from {sent}, but clawhost's public URL is {origin}"
            ))
        };
    }
    if let Some(referer) = text(header::REFERER.as_str()) {
        let on_origin = referer
            .get(..origin.len())
            .is_some_and(|prefix| prefix.eq_ignore_ascii_case(origin))
            && matches!(referer.as_bytes().get(origin.len()), None | Some(b'/'));
        return if on_origin {
            Verdict::SameOrigin
        } else {
            Verdict::CrossOrigin(format!(
                "it was sent from a page outside clawhost's public URL {origin}"
            ))
        };
    }
    Verdict::CrossOrigin(
        "it carries no Origin, Referer or Sec-Fetch-Site header to prove where it comes from"
            .into(),
    )
}

pub(crate) async fn require_same_origin(
    State(public_url): State<PublicUrl>,
    request: Request,
    next: Next,
) -> Response {
    if !is_state_changing(request.method()) {
        return next.run(request).await;
    }
    match check(request.headers(), public_url.origin()) {
        Verdict::SameOrigin => next.run(request).await,
        Verdict::CrossOrigin(reason) => {
            tracing::warn!(%reason, "cross-origin request refused");
            let detail = format!(
                "This request was refused because {reason}. Open clawhost at {} and try again.",
                public_url.origin()
            );
            error_for_path(
                request.uri().path(),
                request.headers(),
                StatusCode::FORBIDDEN,
                &detail,
            )
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    const ORIGIN: &str = "https://claw.example.com";

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, HeaderValue::from_static(value));
        }
        map
    }

    #[test]
    fn no_proof_is_refused() {
        assert!(matches!(
            check(&headers(&[]), ORIGIN),
            Verdict::CrossOrigin(_)
        ));
    }

    #[test]
    fn fetch_metadata_decides_first() {
        assert_eq!(
            check(&headers(&[("sec-fetch-site", "same-origin")]), ORIGIN),
            Verdict::SameOrigin
        );
        assert_eq!(
            check(&headers(&[("sec-fetch-site", "none")]), ORIGIN),
            Verdict::SameOrigin
        );
        for site in ["cross-site", "same-site"] {
            let map = headers(&[("sec-fetch-site", site), ("origin", ORIGIN)]);
            assert!(matches!(check(&map, ORIGIN), Verdict::CrossOrigin(_)));
        }
    }

    #[test]
    fn origin_then_referer() {
        assert_eq!(
            check(&headers(&[("origin", ORIGIN)]), ORIGIN),
            Verdict::SameOrigin
        );
        assert!(matches!(
            check(&headers(&[("origin", "https://evil.example")]), ORIGIN),
            Verdict::CrossOrigin(_)
        ));
        assert!(matches!(
            check(&headers(&[("origin", "null")]), ORIGIN),
            Verdict::CrossOrigin(_)
        ));
        assert_eq!(
            check(
                &headers(&[("referer", "https://claw.example.com/login")]),
                ORIGIN
            ),
            Verdict::SameOrigin
        );
        assert!(matches!(
            check(
                &headers(&[("referer", "https://claw.example.com.evil.example/")]),
                ORIGIN
            ),
            Verdict::CrossOrigin(_)
        ));
    }
}
