//! The types settings are read into, each with the parser that checks it and says what a
//! good value looks like.

use std::fmt;
use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

/// The OpenClaw release clawhost is built and tested against.
pub const OPENCLAW_VERSION: &str = "2026.9.6";
/// The Node runtime installed for it (OpenClaw 2026.9 needs Node >= 24.16).
pub(crate) const NODE_VERSION: &str = "24.21.0";

const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum LogFormat {
    Text,
    Json,
}

impl LogFormat {
    pub(super) fn parse(text: &str) -> Result<Self, String> {
        match text {
            "text" => Ok(Self::Text),
            "json" => Ok(Self::Json),
            other => Err(format!("'{other}' is not text or json")),
        }
    }
}

/// How often something runs by itself: `None` is never.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Schedule(pub(crate) Option<Duration>);

/// Where clawhost's TLS comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum TlsMode {
    /// Plain http: on loopback, or behind a TLS proxy (`tls.allow_plain_http`).
    Off,
    /// `tls.cert_file` and `tls.key_file`, renewed by something else.
    Files,
    /// Certificates from an ACME CA (Let's Encrypt by default), obtained and renewed by
    /// clawhost itself.
    Acme,
}

impl TlsMode {
    pub(super) fn parse(text: &str) -> Result<Self, String> {
        match text {
            "off" => Ok(Self::Off),
            "files" => Ok(Self::Files),
            "acme" => Ok(Self::Acme),
            other => Err(format!("'{other}' is not off, files or acme")),
        }
    }
}

/// A name an ACME certificate is for: a DNS name, or an IP address (RFC 8738).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AcmeName {
    Dns(String),
    Ip(IpAddr),
}

impl AcmeName {
    /// `host` as in a URL: an IPv6 address in brackets.
    pub(crate) fn url_host(&self) -> String {
        match self {
            Self::Dns(name) => name.clone(),
            Self::Ip(IpAddr::V6(ip)) => format!("[{ip}]"),
            Self::Ip(ip) => ip.to_string(),
        }
    }

    fn parse(text: &str) -> Result<Self, String> {
        let bare = text.trim_start_matches('[').trim_end_matches(']');
        if let Ok(ip) = bare.parse::<IpAddr>() {
            return Ok(Self::Ip(ip));
        }
        let name = text.trim_end_matches('.').to_ascii_lowercase();
        if name.starts_with("*.") {
            return Err(format!(
                "'{text}' is a wildcard, which needs a DNS-01 challenge clawhost does not answer: name each host"
            ));
        }
        let label_ok = |label: &str| {
            (1..=63).contains(&label.len())
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        };
        if name.len() <= 253 && name.split('.').all(label_ok) {
            Ok(Self::Dns(name))
        } else {
            Err(format!(
                "'{text}' is not a DNS name like claw.example.com or an IP address like 203.0.113.5"
            ))
        }
    }
}

impl fmt::Display for AcmeName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Dns(name) => f.write_str(name),
            Self::Ip(ip) => write!(f, "{ip}"),
        }
    }
}

/// `tls.acme.names`: comma-separated, at least one, none twice.
pub(super) fn parse_acme_names(text: &str) -> Result<Vec<AcmeName>, String> {
    let mut names: Vec<AcmeName> = Vec::new();
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let name = AcmeName::parse(part)?;
        if !names.contains(&name) {
            names.push(name);
        }
    }
    if names.is_empty() {
        return Err("no name given: give a DNS name or an IP address".into());
    }
    Ok(names)
}

/// Which ACME challenge clawhost answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AcmeChallenge {
    /// TLS-ALPN-01 on the https listener, then HTTP-01 on `http.redirect_listen` if that
    /// fails: whichever of the two ports is open.
    Auto,
    Http01,
    TlsAlpn01,
}

impl AcmeChallenge {
    pub(super) fn parse(text: &str) -> Result<Self, String> {
        match text {
            "auto" => Ok(Self::Auto),
            "http-01" => Ok(Self::Http01),
            "tls-alpn-01" => Ok(Self::TlsAlpn01),
            other => Err(format!("'{other}' is not auto, http-01 or tls-alpn-01")),
        }
    }
}

/// An `https://` URL (the ACME directory: RFC 8555 allows no other scheme).
pub(super) fn parse_https_url(text: &str) -> Result<String, String> {
    let rest = text
        .strip_prefix("https://")
        .ok_or_else(|| format!("'{text}' must be an https:// URL"))?;
    if rest.is_empty() || rest.starts_with('/') || text.contains(char::is_whitespace) {
        return Err(format!(
            "'{text}' is not a URL like https://acme.example/directory"
        ));
    }
    Ok(text.to_string())
}

/// A service clawhost calls (an OpenID Connect issuer, a sign-in broker): https, or plain
/// http to a loopback host (one on this machine, as in the tests). Kept exactly as written:
/// issuers compare as exact strings.
pub(super) fn parse_service_url(text: &str) -> Result<String, String> {
    let shape = || format!("'{text}' is not a URL like https://id.example.com");
    let (https, rest) = match (text.strip_prefix("https://"), text.strip_prefix("http://")) {
        (Some(rest), _) => (true, rest),
        (None, Some(rest)) => (false, rest),
        (None, None) => return Err(format!("'{text}' must be an https:// URL")),
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or_default();
    if host.is_empty() || text.contains(char::is_whitespace) || text.contains(['?', '#']) {
        return Err(shape());
    }
    if !https && !is_loopback_host(host) {
        return Err(format!(
            "'{text}' must be an https:// URL: plain http is only for a service on this machine (localhost, 127.0.0.1, ::1)"
        ));
    }
    Ok(text.to_string())
}

/// A contact address for the CA: one address, no scheme.
pub(super) fn parse_email(text: &str) -> Result<String, String> {
    let ok = text.split_once('@').is_some_and(|(user, domain)| {
        !user.is_empty() && domain.contains('.') && !domain.starts_with('.')
    }) && !text.contains([' ', ',', ':', '<', '>'])
        && text.matches('@').count() == 1;
    if ok {
        Ok(text.to_string())
    } else {
        Err(format!(
            "'{text}' is not an email address like owner@example.com"
        ))
    }
}

pub(super) fn parse_bool(text: &str) -> Result<bool, String> {
    match text {
        "true" => Ok(true),
        "false" => Ok(false),
        other => Err(format!("'{other}' is not true or false")),
    }
}

/// The origin browsers use for clawhost, e.g. `https://claw.example.com`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct PublicUrl {
    origin: String,
    https: bool,
}

impl PublicUrl {
    /// Parses `scheme://host[:port][/]`; anything else (a path, a query, credentials) is
    /// refused because clawhost must own the whole origin for its cookies and CSP.
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let lower = text.trim().to_ascii_lowercase();
        let (scheme, rest) = lower
            .split_once("://")
            .ok_or_else(|| format!("'{text}' is not a URL like https://claw.example.com"))?;
        let https = match scheme {
            "https" => true,
            "http" => false,
            _ => return Err(format!("'{text}' must start with https:// or http://")),
        };
        let authority = rest.strip_suffix('/').unwrap_or(rest);
        if authority.is_empty() {
            return Err(format!("'{text}' has no host"));
        }
        if authority.contains(['/', '?', '#', '@', ' ']) {
            return Err(format!(
                "'{text}' must be an origin only (scheme, host, port): no path, query or credentials"
            ));
        }
        let default_port = if https { ":443" } else { ":80" };
        let authority = authority.strip_suffix(default_port).unwrap_or(authority);
        Ok(Self {
            origin: format!("{scheme}://{authority}"),
            https,
        })
    }

    pub(crate) fn from_listen(addr: SocketAddr, https: bool) -> Self {
        let host = match addr {
            SocketAddr::V4(v4) => v4.ip().to_string(),
            SocketAddr::V6(v6) => format!("[{}]", v6.ip()),
        };
        Self::from_host(&host, addr.port(), https)
    }

    /// `scheme://host[:port]`, the port left out when it is the scheme's default.
    pub(crate) fn from_host(host: &str, port: u16, https: bool) -> Self {
        let scheme = if https { "https" } else { "http" };
        let default_port = if https { 443 } else { 80 };
        let origin = if port == default_port {
            format!("{scheme}://{host}")
        } else {
            format!("{scheme}://{host}:{port}")
        };
        Self { origin, https }
    }

    /// The host alone, without a port (an IPv6 address keeps its brackets).
    pub(crate) fn host(&self) -> &str {
        without_port(self.authority())
    }

    pub(crate) fn origin(&self) -> &str {
        &self.origin
    }

    pub(crate) fn is_https(&self) -> bool {
        self.https
    }

    /// Whether what travels between the browser and clawhost can be read on the network: plain
    /// http to anything but this machine itself.
    pub(crate) fn travels_in_clear(&self) -> bool {
        !self.https && !is_loopback_host(self.authority())
    }

    /// `host[:port]` as a browser sends it in `Host` (no port when it is the scheme's default).
    pub(crate) fn authority(&self) -> &str {
        self.origin
            .split_once("://")
            .map_or(self.origin.as_str(), |(_, authority)| authority)
    }
}

/// `localhost`, `127.0.0.1`, `[::1]` with any port: names that never leave this machine.
pub(crate) fn is_loopback_host(host: &str) -> bool {
    let name = without_port(host)
        .trim_start_matches('[')
        .trim_end_matches(']');
    name.eq_ignore_ascii_case("localhost")
        || name
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// `host[:port]` without the port: `claw.example.com`, `[::1]` (a bare IPv6 address such as
/// `::1` has no port to take off).
fn without_port(authority: &str) -> &str {
    match authority.rsplit_once(':') {
        Some((host, port)) if !port.contains(']') && !host.ends_with(':') => host,
        _ => authority,
    }
}

/// A name clawhost answers to besides the public URL's: `claw.internal`, `10.0.0.5:8080`,
/// `[fd00::5]:8080` (lowercased; no scheme, path or credentials).
pub(crate) fn parse_hosts(text: &str) -> Result<Vec<String>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(|host| {
            let lower = host.to_ascii_lowercase();
            let (name, port) = match lower.rsplit_once(':') {
                Some((name, port)) if !name.ends_with(':') && !port.contains(']') => {
                    (name, Some(port))
                }
                _ => (lower.as_str(), None),
            };
            let name_ok = !name.is_empty()
                && name
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-.[]:".contains(c));
            let port_ok = port.is_none_or(|p| p.parse::<u16>().is_ok_and(|p| p > 0));
            if name_ok && port_ok {
                Ok(lower)
            } else {
                Err(format!(
                    "'{host}' is not a host name like claw.internal or 10.0.0.5:8080"
                ))
            }
        })
        .collect()
}

impl fmt::Display for PublicUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.origin)
    }
}

/// An address or a CIDR block: `10.0.0.1`, `10.0.0.0/8`, `::1`, `fd00::/8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Network {
    addr: IpAddr,
    prefix: u8,
}

impl Network {
    pub(crate) fn parse(text: &str) -> Result<Self, String> {
        let (addr, prefix) = match text.split_once('/') {
            Some((addr, prefix)) => (addr, Some(prefix)),
            None => (text, None),
        };
        let addr: IpAddr = addr
            .parse()
            .map_err(|_| format!("'{text}' is not an IP address or CIDR block"))?;
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("'{text}' has a prefix length outside 0–{max}"))?,
        };
        Ok(Self { addr, prefix })
    }

    pub(crate) fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, ip.to_canonical()) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                masked(u32::from(net).into(), self.prefix, 32)
                    == masked(u32::from(ip).into(), self.prefix, 32)
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                masked(u128::from(net), self.prefix, 128)
                    == masked(u128::from(ip), self.prefix, 128)
            }
            _ => false,
        }
    }
}

fn masked(bits: u128, prefix: u8, width: u32) -> u128 {
    if prefix == 0 {
        return 0;
    }
    bits >> (width - u32::from(prefix))
}

/// Comma-separated addresses or CIDR blocks; empty means none.
pub(crate) fn parse_networks(text: &str) -> Result<Vec<Network>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(Network::parse)
        .collect()
}

/// An npm version such as `2026.9.6` (digits, dots, letters and dashes only, so it can never
/// be read as an npm option or a path).
pub(crate) fn parse_version(text: &str) -> Result<String, String> {
    // Exactly `x.y.z` (and a pre-release after `-`): npm would read `2026` or `2026.9` as a
    // range and install whatever matches.
    let (release, pre) = text.split_once('-').unwrap_or((text, ""));
    let numbers: Vec<&str> = release.split('.').collect();
    let ok = text.len() <= 64
        && numbers.len() == 3
        && numbers
            .iter()
            .all(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        && pre
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'.' || b == b'-')
        && !(text.contains('-') && pre.is_empty());
    if ok {
        Ok(text.to_string())
    } else {
        Err(format!("'{text}' is not a version like {OPENCLAW_VERSION}"))
    }
}

pub(super) fn parse_path(text: &str) -> Result<PathBuf, String> {
    let path = PathBuf::from(text);
    if text.is_empty() || !path.is_absolute() {
        return Err(format!("'{text}' must be an absolute path"));
    }
    Ok(path)
}

pub(super) fn parse_address(text: &str) -> Result<String, String> {
    text.parse::<SocketAddr>()
        .map(|_| text.to_string())
        .map_err(|_| format!("'{text}' is not an address like 127.0.0.1:8080"))
}

/// A number followed by a unit, the unit's factor from `units` (by suffix, `""` for none):
/// their product; otherwise what a good value is `like`, or that it is `too` long or large.
fn scaled(text: &str, units: &[(&str, u64)], like: &str, too: &str) -> Result<u64, String> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let refused = || format!("'{text}' is not {like}");
    let number: u64 = number.parse().map_err(|_| refused())?;
    let factor = units
        .iter()
        .find(|(name, _)| *name == unit.trim())
        .map(|(_, factor)| *factor)
        .ok_or_else(refused)?;
    number
        .checked_mul(factor)
        .ok_or_else(|| format!("'{text}' is too {too}"))
}

/// Parses `90s`, `15m`, `12h`, `7d` (or a bare number of seconds).
pub(super) fn parse_duration(text: &str) -> Result<Duration, String> {
    let units = [("", 1), ("s", 1), ("m", 60), ("h", 3600), ("d", 86_400)];
    scaled(text, &units, "a duration like 30s, 15m, 12h or 7d", "long").map(Duration::from_secs)
}

pub(crate) fn format_duration(duration: Duration) -> String {
    let secs = duration.as_secs();
    for (unit, size) in [("d", 86_400), ("h", 3600), ("m", 60)] {
        if secs >= size && secs.is_multiple_of(size) {
            return format!("{}{unit}", secs / size);
        }
    }
    format!("{secs}s")
}

/// Parses `1048576`, `512KiB`, `1MiB`.
pub(super) fn parse_size(text: &str) -> Result<usize, String> {
    let units = [("", 1), ("B", 1), ("KiB", 1024), ("MiB", 1024 * 1024)];
    let bytes = scaled(text, &units, "a size like 1048576, 512KiB or 1MiB", "large")?;
    usize::try_from(bytes).map_err(|_| format!("'{text}' is too large"))
}

pub(super) fn format_size(bytes: usize) -> String {
    if bytes >= MIB && bytes.is_multiple_of(MIB) {
        format!("{}MiB", bytes / MIB)
    } else if bytes >= KIB && bytes.is_multiple_of(KIB) {
        format!("{}KiB", bytes / KIB)
    } else {
        bytes.to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("ip")
    }

    #[test]
    fn public_url_must_be_an_origin() {
        assert!(PublicUrl::parse("https://x.example/app").is_err());
        assert!(PublicUrl::parse("ftp://x.example").is_err());
        assert!(PublicUrl::parse("https://user@x.example").is_err());
        assert_eq!(
            PublicUrl::parse("http://localhost:80")
                .expect("ok")
                .origin(),
            "http://localhost"
        );
        assert_eq!(
            PublicUrl::parse("http://[::1]:8080").expect("ok").origin(),
            "http://[::1]:8080"
        );
    }

    #[test]
    fn durations_and_sizes_parse() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("15m"), Ok(Duration::from_mins(15)));
        assert!(parse_duration("7 weeks").is_err());
        assert_eq!(parse_size("1MiB"), Ok(1 << 20));
        assert_eq!(parse_size("2048"), Ok(2048));
        assert!(parse_size("1GB").is_err());
        assert_eq!(format_size(1024 * MIB), "1024MiB");
        assert_eq!(format_size(64 * KIB), "64KiB");
        assert_eq!(format_size(1000), "1000");
    }

    #[test]
    fn hosts_and_authorities() {
        let url = PublicUrl::parse("https://Claw.Example.com:443").expect("url");
        assert_eq!(url.authority(), "claw.example.com");
        let url = PublicUrl::parse("http://127.0.0.1:8080").expect("url");
        assert_eq!(url.authority(), "127.0.0.1:8080");
        assert_eq!(
            parse_hosts("Claw.Internal, 10.0.0.5:8080 ,[fd00::5]:8080").expect("hosts"),
            ["claw.internal", "10.0.0.5:8080", "[fd00::5]:8080"]
        );
        assert!(parse_hosts("https://claw.internal").is_err());
        assert!(parse_hosts("claw.internal/app").is_err());
        assert!(parse_hosts("claw.internal:0").is_err());
        assert_eq!(parse_hosts("").expect("none"), Vec::<String>::new());
    }

    #[test]
    fn networks_parse_and_match() {
        let net = Network::parse("10.0.0.0/8").expect("net");
        assert!(net.contains(ip("10.1.2.3")));
        assert!(!net.contains(ip("11.0.0.1")));
        assert!(
            Network::parse("127.0.0.1")
                .expect("one")
                .contains(ip("::ffff:127.0.0.1"))
        );
        assert!(
            Network::parse("fd00::/8")
                .expect("v6")
                .contains(ip("fd12::1"))
        );
        assert!(
            !Network::parse("fd00::/8")
                .expect("v6")
                .contains(ip("10.0.0.1"))
        );
        assert!(
            Network::parse("0.0.0.0/0")
                .expect("all")
                .contains(ip("203.0.113.9"))
        );
        assert!(Network::parse("10.0.0.0/33").is_err());
        assert!(Network::parse("example.com").is_err());
        assert_eq!(parse_networks(" ").expect("empty"), []);
        assert_eq!(parse_networks("127.0.0.1, ::1").expect("two").len(), 2);
    }
}
