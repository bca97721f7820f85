//! The `Host` a request names must be one clawhost answers to: the public URL's, or one of
//! `http.allowed_hosts`. Anything else gets 421 before any handler runs, so a page on
//! another site whose name was made to resolve to this server (DNS rebinding) reaches
//! nothing: not the claim, not the sign-in, not the status API. `/healthz` also answers
//! probes that name a loopback host, and the stylesheet and script (the same public files
//! for everyone) any host, so the wrong-address page looks like the others. A request naming two hosts (two `Host` headers, or a
//! request line whose host is not its `Host`) is refused the same way.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

use super::problems::{ABOUT_BLANK, Link, PageError, problem, wants_html};
use crate::config::{PublicUrl, is_loopback_host as is_loopback};

/// The hosts requests may name, lowercase, as `host[:port]` with the scheme's default port
/// left out.
#[derive(Clone)]
pub(crate) struct KnownHosts(Arc<Inner>);

struct Inner {
    origin: String,
    default_port: &'static str,
    names: Vec<String>,
}

impl KnownHosts {
    pub(crate) fn new(public_url: &PublicUrl, aliases: &[String]) -> Self {
        let default_port = if public_url.is_https() { ":443" } else { ":80" };
        let mut names = vec![public_url.authority().to_string()];
        names.extend(aliases.iter().map(|alias| {
            alias
                .strip_suffix(default_port)
                .unwrap_or(alias)
                .to_string()
        }));
        Self(Arc::new(Inner {
            origin: public_url.origin().to_string(),
            default_port,
            names,
        }))
    }

    fn allows(&self, host: &str) -> bool {
        let host = host.to_ascii_lowercase();
        let host = host.strip_suffix(self.0.default_port).unwrap_or(&host);
        self.0.names.iter().any(|name| name == host)
    }
}

pub(crate) async fn require_known_host(
    State(hosts): State<KnownHosts>,
    request: Request,
    next: Next,
) -> Response {
    // One Host, and in an absolute-form request line (`GET http://host/ …`) the same one:
    // a front proxy that routed by the other must not disagree with what is checked here.
    let mut names = request.headers().get_all(header::HOST).iter();
    let host = match (names.next(), names.next()) {
        (Some(one), None) => one.to_str().unwrap_or(""),
        // HTTP/2 names the host in `:authority`, which is the request's URI authority.
        (None, _) if request.version() == axum::http::Version::HTTP_2 => request
            .uri()
            .authority()
            .map_or("", axum::http::uri::Authority::as_str),
        _ => "",
    };
    let target_agrees = request
        .uri()
        .authority()
        .is_none_or(|authority| authority.as_str().eq_ignore_ascii_case(host));
    let probe = request.uri().path() == "/healthz" && is_loopback(host);
    // The page that says "wrong address" needs its stylesheet and script from the same
    // address; they are the same public files for everyone.
    let asset = request.method() == axum::http::Method::GET
        && matches!(request.uri().path(), "/static/app.css" | "/static/app.js");
    if target_agrees && (hosts.allows(host) || probe || asset) {
        return next.run(request).await;
    }
    tracing::warn!(host, "request for a host clawhost does not serve refused");
    wrong_address(&request, host, &hosts.0.origin)
}

/// What a visitor at an address clawhost does not answer for sees: the address used, the
/// one to use (a link to the same page there), and how to make the used one work. Never a
/// Control UI with nothing behind it.
fn wrong_address(request: &Request, host: &str, origin: &str) -> Response {
    let status = StatusCode::MISDIRECTED_REQUEST;
    let path = request.uri().path_and_query().map_or("/", |p| p.as_str());
    if !wants_html(request.uri().path(), request.headers()) {
        let detail = format!(
            "This server answers for {origin} only. Open clawhost there, or add this name to http.allowed_hosts."
        );
        return problem(status, ABOUT_BLANK, Some(&detail), None);
    }
    let detail = if host.is_empty() {
        format!("clawhost answers at {origin} (its public URL) only.")
    } else {
        format!("You opened clawhost at {host}, but it answers at {origin} (its public URL) only.")
    };
    // The public URL, not an alias: over plain http the browser proves a form's origin only
    // by `Origin`, which must be the public URL's.
    let hint = if host.is_empty() {
        String::new()
    } else {
        format!(
            "If you reach this server at {host} on purpose, set public_url = \"http://{host}\" \
(or https://) in clawhost.toml and restart clawhost."
        )
    };
    let target = if path.starts_with('/') && !path.starts_with("//") {
        format!("{origin}{path}")
    } else {
        format!("{origin}/")
    };
    let text = format!("Open {target}");
    PageError {
        status,
        title: "Wrong address",
        detail: &detail,
        hint: &hint,
        link: Link {
            href: &target,
            text: &text,
        },
        refresh: 0,
    }
    .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_public_host_and_aliases_are_served() {
        let url = PublicUrl::parse("https://claw.example.com").expect("url");
        let hosts = KnownHosts::new(&url, &["claw.internal:8443".into()]);
        assert!(hosts.allows("claw.example.com"));
        assert!(hosts.allows("Claw.Example.com:443"));
        assert!(hosts.allows("claw.internal:8443"));
        assert!(!hosts.allows("claw.example.com:8443"));
        assert!(!hosts.allows("evil.example"));
        assert!(!hosts.allows(""));
        let local = PublicUrl::parse("http://127.0.0.1:8080").expect("url");
        let hosts = KnownHosts::new(&local, &[]);
        assert!(hosts.allows("127.0.0.1:8080"));
        assert!(!hosts.allows("127.0.0.1"));
        assert!(!hosts.allows("rebound.evil.example:8080"));
        assert!(
            is_loopback("localhost:9000") && is_loopback("127.0.0.1") && is_loopback("[::1]:8080")
        );
        assert!(!is_loopback("evil.example") && !is_loopback("10.0.0.1:80"));
    }
}
