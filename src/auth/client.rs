//! Who is asking: the client's address (and the network the abuse limits count it by), what
//! it says it is, and the device cookie it holds.

use std::net::IpAddr;

use crate::clock::now_ms;
use crate::store::{EventKind, NewEvent};

/// User agents are cut to this many characters before they are stored.
const USER_AGENT_CHARS: usize = 256;

/// Who is asking: the address the request came from and what it says it is.
#[derive(Debug, Clone)]
pub(crate) struct ClientInfo {
    pub(crate) ip: IpAddr,
    /// What the abuse limits count against: the address itself for IPv4, its network of
    /// `ipv6_prefix` bits for IPv6 (one subscriber's /64 holds 2^64 addresses).
    pub(crate) limit_key: IpAddr,
    pub(crate) user_agent: String,
    /// The device cookie's token, as sent: a browser the owner signed in with before.
    pub(crate) device: Option<String>,
}

impl ClientInfo {
    pub(crate) fn new(ip: IpAddr, user_agent: &str, ipv6_prefix: u8) -> Self {
        let user_agent = user_agent
            .chars()
            .filter(|c| !c.is_control())
            .take(USER_AGENT_CHARS)
            .collect();
        Self {
            ip,
            limit_key: network_of(ip, ipv6_prefix),
            user_agent,
            device: None,
        }
    }

    /// The same client, in a browser holding `device` (its device cookie's token).
    pub(crate) fn with_device(mut self, device: Option<&str>) -> Self {
        self.device = device.map(str::to_owned);
        self
    }

    pub(crate) fn event(&self, kind: EventKind) -> NewEvent {
        NewEvent {
            at: now_ms(),
            kind,
            ip: Some(self.ip.to_string()),
            user_agent: Some(self.user_agent.clone()),
            detail: None,
        }
    }
}

/// `ip` with all but its first `prefix` bits cleared, when it is IPv6.
fn network_of(ip: IpAddr, prefix: u8) -> IpAddr {
    match ip.to_canonical() {
        IpAddr::V6(v6) if prefix < 128 => {
            let mask = u128::MAX.checked_shl(128 - u32::from(prefix)).unwrap_or(0);
            IpAddr::V6((u128::from(v6) & mask).into())
        }
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_agent_is_bounded_and_clean() {
        let client = ClientInfo::new(
            "127.0.0.1".parse().expect("ip"),
            &format!("a\nb{}", "x".repeat(400)),
            64,
        );
        assert_eq!(client.user_agent.chars().count(), USER_AGENT_CHARS);
        assert!(client.user_agent.starts_with("ab"));
    }

    /// Issue 11, defect 7: one /64 is one client for the limits; IPv4 stays per address.
    #[test]
    fn ipv6_clients_are_limited_by_network() {
        let key = |ip: &str, prefix| ClientInfo::new(ip.parse().expect("ip"), "", prefix).limit_key;
        assert_eq!(key("2001:db8::1", 64), key("2001:db8::ffff:1", 64));
        assert_ne!(key("2001:db8::1", 64), key("2001:db8:0:1::1", 64));
        assert_eq!(key("2001:db8::1", 64).to_string(), "2001:db8::");
        assert_ne!(key("2001:db8::1", 128), key("2001:db8::2", 128));
        assert_eq!(key("2001:db8:1:2:3::", 48), key("2001:db8:1:ffff::", 48));
        assert_eq!(key("192.0.2.7", 64).to_string(), "192.0.2.7");
        assert_eq!(key("::ffff:192.0.2.7", 64).to_string(), "192.0.2.7");
    }
}
