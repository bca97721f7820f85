//! Security headers on every response. A value already set by the handler wins, so a page
//! that needs something different says so where it is made.

use axum::extract::{Request, State};
use axum::http::{HeaderName, HeaderValue, header};
use axum::middleware::Next;
use axum::response::Response;

use crate::config::PublicUrl;

/// Our pages load only their own script and stylesheet; nothing inline, no framing, no
/// `<base>`, forms post only to us.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
style-src 'self'; img-src 'self' data:; font-src 'self'; connect-src 'self'; \
manifest-src 'self'; form-action 'self'; frame-ancestors 'none'; base-uri 'none'";

/// Features none of our pages use.
pub(crate) const PERMISSIONS_POLICY: &str = "accelerometer=(), camera=(), display-capture=(), \
geolocation=(), gyroscope=(), magnetometer=(), microphone=(), payment=(), usb=(), \
interest-cohort=()";

/// Two years; no includeSubDomains, since other hosts of the owner's domain are not ours.
pub(crate) const HSTS: &str = "max-age=63072000";

/// Marks a response that came from the gateway through the proxy.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Proxied;

/// Takes the public URL only: it decides whether HSTS is sent.
pub(crate) async fn security_headers(
    State(public_url): State<PublicUrl>,
    request: Request,
    next: Next,
) -> Response {
    let mut response = next.run(request).await;
    let proxied = response.extensions().get::<Proxied>().is_some();
    let headers = response.headers_mut();
    if proxied {
        // The Control UI is the gateway's page: its own CSP, framing and permission headers
        // pass through untouched (ours would, e.g., switch off its microphone button).
        if public_url.is_https() {
            headers
                .entry(header::STRICT_TRANSPORT_SECURITY)
                .or_insert_with(|| HeaderValue::from_static(HSTS));
        }
        return response;
    }
    let mut set = |name: HeaderName, value: &'static str| {
        headers
            .entry(name)
            .or_insert_with(|| HeaderValue::from_static(value));
    };
    set(header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY);
    set(header::X_CONTENT_TYPE_OPTIONS, "nosniff");
    // `same-origin`: the browser then sends our own Origin on our forms (with `no-referrer`
    // Chromium sends `Origin: null`, which the CSRF check must refuse), and no other site
    // learns our paths.
    set(header::REFERRER_POLICY, "same-origin");
    set(header::X_FRAME_OPTIONS, "DENY");
    // Browsers ignore COOP on an origin that is not potentially trustworthy, and say so in
    // the console on every page.
    if !public_url.travels_in_clear() {
        set(
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        );
    }
    set(
        HeaderName::from_static("cross-origin-resource-policy"),
        "same-origin",
    );
    set(
        HeaderName::from_static("permissions-policy"),
        PERMISSIONS_POLICY,
    );
    set(header::CACHE_CONTROL, "no-store");
    if public_url.is_https() {
        set(header::STRICT_TRANSPORT_SECURITY, HSTS);
    }
    response
}
