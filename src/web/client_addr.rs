//! The client's address behind a reverse proxy. By default clawhost uses the socket's peer
//! address and ignores `X-Forwarded-For` (anyone can send it). When the peer is one of the
//! configured `http.trusted_proxies`, the client is the rightmost `X-Forwarded-For` entry that
//! is not itself a trusted proxy: what a client put in the header before it reached the proxy
//! is never believed.

use std::net::IpAddr;

use axum::http::HeaderMap;

use crate::config::Network;

/// The client's address for a request that arrived from `peer`.
pub(crate) fn client_addr(peer: IpAddr, headers: &HeaderMap, trusted: &[Network]) -> IpAddr {
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
    fn forwarding_headers_count_only_from_trusted_proxies() {
        let trusted = ["127.0.0.1", "10.0.0.0/8"].map(|net| Network::parse(net).expect("net"));
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
