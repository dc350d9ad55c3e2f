//! The client's address, as a rate limiter or an audit line should see it.
//!
//! `X-Forwarded-For` is only believed when the TCP peer is a configured trusted proxy, and
//! then only as far as the chain of trusted proxies goes: the list is read from the right,
//! skipping addresses that are themselves trusted proxies; the first other address is the
//! client. Anything a client wrote to the left of that cannot move its identity.
//!
//! ```
//! use iam_service::client_ip::TrustedProxies;
//! let proxies = TrustedProxies::parse("10.0.0.0/8, 127.0.0.1/32").unwrap();
//! let mut headers = http::HeaderMap::new();
//! headers.insert("x-forwarded-for", "6.6.6.6, 203.0.113.9, 10.1.1.1".parse().unwrap());
//! let peer = "10.2.2.2".parse().unwrap();
//! assert_eq!(proxies.client_ip(peer, &headers), "203.0.113.9".parse::<std::net::IpAddr>().unwrap());
//! // From an untrusted peer the header is ignored.
//! let peer = "198.51.100.1".parse().unwrap();
//! assert_eq!(proxies.client_ip(peer, &headers), peer);
//! ```
//!
//! # Caveats
//! - Only `X-Forwarded-For` is read (the header every common proxy writes); `Forwarded`
//!   (RFC 7239) is not.
//! - A malformed entry stops the walk: the client is then the hop that appended it.
use ipnet::IpNet;
use std::net::IpAddr;

/// The networks whose peers may tell the client address.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    nets: Vec<IpNet>,
}

/// A trusted-proxy list that does not parse.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a CIDR or an IP address: entry {position}")]
pub struct TrustedProxiesError {
    /// The 1-based position of the bad entry in the list.
    pub position: usize,
}

impl TrustedProxies {
    /// Trust nobody: the peer address is the client.
    pub fn none() -> Self {
        Self::default()
    }

    /// A comma-separated list of CIDRs or single addresses (`10.0.0.0/8, ::1`).
    pub fn parse(list: &str) -> Result<Self, TrustedProxiesError> {
        let mut nets = Vec::new();
        for (i, item) in list.split(',').map(str::trim).enumerate() {
            if item.is_empty() {
                continue;
            }
            let net = item
                .parse::<IpNet>()
                .or_else(|_| item.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| TrustedProxiesError { position: i + 1 })?;
            nets.push(net);
        }
        Ok(Self { nets })
    }

    /// Whether `ip` is a trusted proxy.
    pub fn is_trusted(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        self.nets.iter().any(|n| n.contains(&ip))
    }

    /// The client's address for a request from `peer` with `headers`.
    pub fn client_ip(&self, peer: IpAddr, headers: &http::HeaderMap) -> IpAddr {
        let mut client = canonical(peer);
        if !self.is_trusted(client) {
            return client;
        }
        // Every X-Forwarded-For header, in order, as one list; read from the right.
        let mut hops: Vec<&str> = Vec::new();
        for value in headers.get_all("x-forwarded-for") {
            let Ok(text) = value.to_str() else {
                return client;
            };
            hops.extend(text.split(',').map(str::trim));
        }
        for hop in hops.iter().rev() {
            match parse_hop(hop) {
                Some(ip) => {
                    client = ip;
                    if !self.is_trusted(ip) {
                        return ip;
                    }
                }
                None => return client,
            }
        }
        client
    }
}

/// An address as a proxy writes it: bare, `[v6]`, or with a port (`1.2.3.4:5`, `[::1]:5`).
fn parse_hop(hop: &str) -> Option<IpAddr> {
    if let Ok(ip) = hop.parse::<IpAddr>() {
        return Some(canonical(ip));
    }
    if let Ok(sa) = hop.parse::<std::net::SocketAddr>() {
        return Some(canonical(sa.ip()));
    }
    hop.strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .and_then(|h| h.parse::<IpAddr>().ok())
        .map(canonical)
}

/// IPv4-mapped IPv6 addresses as IPv4, so `::ffff:10.0.0.1` matches `10.0.0.0/8`.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn xff(values: &[&str]) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", v.parse().unwrap());
        }
        h
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    #[test]
    fn a_spoofed_forwarded_for_from_an_untrusted_peer_is_ignored() {
        let p = TrustedProxies::parse("10.0.0.0/8").unwrap();
        assert_eq!(
            p.client_ip(ip("203.0.113.5"), &xff(&["1.1.1.1"])),
            ip("203.0.113.5")
        );
    }

    #[test]
    fn the_client_is_the_first_untrusted_hop_from_the_right() {
        let p = TrustedProxies::parse("10.0.0.0/8,192.168.0.1").unwrap();
        let h = xff(&["9.9.9.9, 8.8.8.8", "192.168.0.1"]);
        assert_eq!(p.client_ip(ip("10.0.0.2"), &h), ip("8.8.8.8"));
    }

    #[test]
    fn a_malformed_hop_stops_the_walk_at_the_hop_that_appended_it() {
        let p = TrustedProxies::parse("10.0.0.0/8").unwrap();
        let h = xff(&["8.8.8.8, not-an-ip, 10.0.0.9"]);
        assert_eq!(p.client_ip(ip("10.0.0.2"), &h), ip("10.0.0.9"));
        // Ports and brackets as proxies write them; mapped IPv4 matches the v4 network.
        let h = xff(&["[2001:db8::1]:443, 10.0.0.7:80"]);
        assert_eq!(p.client_ip(ip("::ffff:10.0.0.2"), &h), ip("2001:db8::1"));
    }

    #[test]
    fn a_list_that_does_not_parse_names_the_entry() {
        assert_eq!(
            TrustedProxies::parse("10.0.0.0/8, 10.0.0.0/33")
                .unwrap_err()
                .position,
            2
        );
        assert!(TrustedProxies::parse("").unwrap().nets.is_empty());
    }
}
