//! The client's address behind a reverse proxy. By default clawhost uses the socket's peer
//! address and ignores `X-Forwarded-For` (anyone can send it). When the peer is one of the
//! configured `http.trusted_proxies`, the client is the rightmost `X-Forwarded-For` entry that
//! is not itself a trusted proxy: what a client put in the header before it reached the proxy
//! is never believed.

use std::net::IpAddr;

use axum::http::HeaderMap;

/// An address or a CIDR block: `10.0.0.1`, `10.0.0.0/8`, `::1`, `fd00::/8`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Network {
    addr: IpAddr,
    prefix: u8,
}

impl Network {
    pub fn parse(text: &str) -> Result<Self, String> {
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

    pub fn contains(&self, ip: IpAddr) -> bool {
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

/// `http.trusted_proxies`: comma-separated addresses or CIDR blocks; empty means none.
pub fn parse_trusted(text: &str) -> Result<Vec<Network>, String> {
    text.split(',')
        .map(str::trim)
        .filter(|part| !part.is_empty())
        .map(Network::parse)
        .collect()
}

/// The client's address for a request that arrived from `peer`.
pub fn client_addr(peer: IpAddr, headers: &HeaderMap, trusted: &[Network]) -> IpAddr {
    let peer = peer.to_canonical();
    let is_trusted = |ip: IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(peer) {
        return peer;
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .collect();
    let mut client = peer;
    for hop in hops.iter().rev() {
        // An entry that is not an address ends the walk at the last hop we could vouch for.
        let Ok(ip) = hop.parse::<IpAddr>() else {
            break;
        };
        client = ip.to_canonical();
        if !is_trusted(client) {
            break;
        }
    }
    client
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for value in values {
            map.append("x-forwarded-for", value.parse().expect("header"));
        }
        map
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("ip")
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
        assert_eq!(parse_trusted(" ").expect("empty"), []);
        assert_eq!(parse_trusted("127.0.0.1, ::1").expect("two").len(), 2);
    }

    #[test]
    fn forwarding_headers_count_only_from_trusted_proxies() {
        let trusted = parse_trusted("127.0.0.1, 10.0.0.0/8").expect("trusted");
        let spoofed = headers(&["198.51.100.1"]);
        // A direct client cannot claim another address.
        assert_eq!(
            client_addr(ip("203.0.113.7"), &spoofed, &trusted),
            ip("203.0.113.7")
        );
        assert_eq!(client_addr(ip("127.0.0.1"), &spoofed, &[]), ip("127.0.0.1"));
        // Through the proxy: the proxy appends the real address after whatever the client sent.
        let through = headers(&["198.51.100.1, 203.0.113.7"]);
        assert_eq!(
            client_addr(ip("127.0.0.1"), &through, &trusted),
            ip("203.0.113.7")
        );
        // Chained trusted proxies are skipped; repeated headers read as one list.
        let chained = headers(&["203.0.113.7", "10.1.1.1"]);
        assert_eq!(
            client_addr(ip("127.0.0.1"), &chained, &trusted),
            ip("203.0.113.7")
        );
        // Garbage ends the walk at the last hop vouched for; no header means the proxy itself.
        let garbage = headers(&["203.0.113.7, not-an-ip, 10.1.1.1"]);
        assert_eq!(
            client_addr(ip("127.0.0.1"), &garbage, &trusted),
            ip("10.1.1.1")
        );
        assert_eq!(
            client_addr(ip("127.0.0.1"), &HeaderMap::new(), &trusted),
            ip("127.0.0.1")
        );
    }
}
