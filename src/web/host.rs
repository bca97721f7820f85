//! The `Host` a request names must be one clawhost answers to: the public URL's, or one of
//! `http.allowed_hosts`. Anything else gets 421 before any handler runs, so a page on
//! another site whose name was made to resolve to this server (DNS rebinding) reaches
//! nothing: not the claim, not the sign-in, not the status API. `/healthz` also answers
//! probes that name a loopback host. A request naming two hosts (two `Host` headers, or a
//! request line whose host is not its `Host`) is refused the same way.

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

use super::problems::error_for_path;
use crate::config::PublicUrl;

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

/// `localhost`, `127.0.0.1`, `[::1]` with any port: where a local health probe comes from.
fn is_loopback(host: &str) -> bool {
    let name = match host.rsplit_once(':') {
        Some((name, port)) if !port.contains(']') && !name.ends_with(':') => name,
        _ => host,
    };
    let name = name.trim_start_matches('[').trim_end_matches(']');
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
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
        _ => "",
    };
    let target_agrees = request
        .uri()
        .authority()
        .is_none_or(|authority| authority.as_str().eq_ignore_ascii_case(host));
    let probe = request.uri().path() == "/healthz" && is_loopback(host);
    if target_agrees && (hosts.allows(host) || probe) {
        return next.run(request).await;
    }
    tracing::warn!(host, "request for a host clawhost does not serve refused");
    let detail = format!(
        "This server answers for {} only. Open clawhost there, or add this name to http.allowed_hosts.",
        hosts.0.origin
    );
    error_for_path(
        request.uri().path(),
        request.headers(),
        StatusCode::MISDIRECTED_REQUEST,
        &detail,
    )
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
