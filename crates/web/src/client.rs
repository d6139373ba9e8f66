//! The client's address, for throttling logins. Behind a TLS-terminating proxy every request
//! comes from the proxy, so one address would stand for every clerk: the proxy's
//! `X-Forwarded-For` names the client, but only a proxy the sysadmin listed
//! (`SIGILLO_TRUSTED_PROXIES`) may say so: from anybody else the header is a lie to ignore.

use std::net::IpAddr;

use axum::http::HeaderMap;

/// An address or a network (`10.0.0.0/8`, `fd00::/8`, `127.0.0.1`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpNet {
    addr: IpAddr,
    prefix: u8,
}

impl IpNet {
    pub fn parse(s: &str) -> Result<IpNet, String> {
        let s = s.trim();
        let (addr_text, prefix_text) = match s.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (s, None),
        };
        let addr: IpAddr = addr_text.parse().map_err(|_| format!("{addr_text:?} is not an IP address"))?;
        let addr = canonical(addr);
        let max = if addr.is_ipv4() { 32 } else { 128 };
        let prefix = match prefix_text {
            None => max,
            Some(p) => p
                .parse::<u8>()
                .ok()
                .filter(|p| *p <= max)
                .ok_or_else(|| format!("{s:?}: the prefix length must be 0 to {max}"))?,
        };
        Ok(IpNet { addr, prefix })
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => masked(u128::from(u32::from(net)), u128::from(u32::from(ip)), self.prefix, 32),
            (IpAddr::V6(net), IpAddr::V6(ip)) => masked(u128::from(net), u128::from(ip), self.prefix, 128),
            _ => false,
        }
    }
}

fn masked(net: u128, ip: u128, prefix: u8, bits: u8) -> bool {
    let shift = bits - prefix;
    // A shift by the full width (prefix 0 of IPv6) would overflow: everything matches.
    shift >= 128 || (net >> shift) == (ip >> shift)
}

/// `::ffff:10.0.0.1` is `10.0.0.1` (a dual-stack socket reports IPv4 peers so).
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

/// The proxies whose `X-Forwarded-For` is believed (`SIGILLO_TRUSTED_PROXIES`).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// A comma-separated list of addresses and networks; empty: none.
    pub fn parse(s: &str) -> Result<TrustedProxies, String> {
        s.split(',')
            .map(str::trim)
            .filter(|p| !p.is_empty())
            .map(IpNet::parse)
            .collect::<Result<Vec<_>, _>>()
            .map(TrustedProxies)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|n| n.contains(ip))
    }

    /// The client of a request that came from `peer`. From a trusted proxy, the
    /// `X-Forwarded-For` chain is read from the right (each proxy appends the address it
    /// saw): the first address that is not a trusted proxy is the client. Entries further
    /// left were written by whoever sent the request and prove nothing. From any other peer
    /// the header is ignored.
    pub fn client(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let peer = canonical(peer);
        if !self.trusts(peer) {
            return peer;
        }
        let chain: Vec<&str> = headers
            .get_all("x-forwarded-for")
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        let mut client = peer;
        for entry in chain.iter().rev() {
            // A malformed entry cannot be told from a forged one: stop at the last address
            // a trusted hop vouched for.
            let Ok(ip) = entry.parse::<IpAddr>().map(canonical) else { break };
            client = ip;
            if !self.trusts(ip) {
                break;
            }
        }
        client
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn xff(values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append("x-forwarded-for", HeaderValue::from_str(v).unwrap());
        }
        h
    }

    #[test]
    fn networks_contain_their_addresses_only() {
        let net = IpNet::parse("10.1.0.0/16").unwrap();
        assert!(net.contains(ip("10.1.200.3")) && !net.contains(ip("10.2.0.1")));
        assert!(net.contains(ip("::ffff:10.1.0.9")), "IPv4-mapped IPv6 is IPv4");
        assert!(IpNet::parse("::/0").unwrap().contains(ip("2001:db8::1")));
        assert!(IpNet::parse("0.0.0.0/0").unwrap().contains(ip("192.0.2.1")));
        assert!(IpNet::parse("fd00::/8").unwrap().contains(ip("fd12::1")));
        assert!(!IpNet::parse("127.0.0.1").unwrap().contains(ip("127.0.0.2")));
        for bad in ["10.0.0.0/33", "proxy.local", "10.0.0.0/x", "::1/129", ""] {
            assert!(IpNet::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(TrustedProxies::parse(" 127.0.0.1 , 10.0.0.0/8,").unwrap().0.len(), 2);
        assert!(TrustedProxies::parse("").unwrap().is_empty());
        assert!(TrustedProxies::parse("127.0.0.1, nginx").unwrap_err().contains("nginx"));
    }

    #[test]
    fn forwarded_for_counts_only_from_a_trusted_proxy() {
        let proxies = TrustedProxies::parse("10.0.0.1, 10.9.0.0/16").unwrap();
        // From the proxy: the address it appended.
        assert_eq!(proxies.client(ip("10.0.0.1"), &xff(&["198.51.100.7"])), ip("198.51.100.7"));
        // A client's own forged entries are to the left of what the proxy appended.
        assert_eq!(proxies.client(ip("10.0.0.1"), &xff(&["1.2.3.4, 198.51.100.7"])), ip("198.51.100.7"));
        // Two trusted hops: skip the inner proxy.
        assert_eq!(proxies.client(ip("10.0.0.1"), &xff(&["198.51.100.7", "10.9.3.3"])), ip("198.51.100.7"));
        // Not from a proxy: the header is ignored.
        assert_eq!(proxies.client(ip("203.0.113.5"), &xff(&["198.51.100.7"])), ip("203.0.113.5"));
        // From the proxy without the header, or with garbage: the proxy itself.
        assert_eq!(proxies.client(ip("10.0.0.1"), &HeaderMap::new()), ip("10.0.0.1"));
        assert_eq!(proxies.client(ip("10.0.0.1"), &xff(&["unknown"])), ip("10.0.0.1"));
        // No proxies configured: never.
        assert_eq!(TrustedProxies::default().client(ip("10.0.0.1"), &xff(&["198.51.100.7"])), ip("10.0.0.1"));
    }
}
