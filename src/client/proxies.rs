//! The client's address: the socket peer, or, when the peer is a trusted proxy, the address
//! the proxies forwarded in `X-Forwarded-For`.

use std::net::{IpAddr, SocketAddr};

use axum::http::HeaderMap;
use ipnet::IpNet;

/// Proxies (single addresses or CIDR networks) whose `X-Forwarded-For` is believed.
/// Empty by default: the socket peer is the client, whatever a request claims.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses a comma-separated list such as `10.0.0.0/8, 192.0.2.7, ::1`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        raw.split(',')
            .map(str::trim)
            .filter(|entry| !entry.is_empty())
            .map(|entry| {
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map(|net| net.trunc())
                    .map_err(|_| format!("`{entry}` is not an IP address or CIDR network"))
            })
            .collect::<Result<Vec<_>, _>>()
            .map(Self)
    }

    fn trusts(&self, ip: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&ip))
    }

    /// The client's address. A peer that is not trusted is the client. Behind trusted
    /// proxies it is the right-most `X-Forwarded-For` address that is not trusted: entries
    /// further left were written by the client and prove nothing. If every entry is
    /// trusted, the left-most; an entry that is not an address (including one with bytes
    /// outside ASCII) ends the walk at the address to its right. Entries are split per
    /// entry, not per header line, so garbage a client writes on the left cannot hide the
    /// address a proxy appended on the right.
    pub fn client_ip(&self, peer: IpAddr, headers: &HeaderMap) -> IpAddr {
        let mut client = peer.to_canonical();
        if !self.trusts(client) {
            return client;
        }
        let forwarded: Vec<&[u8]> = headers
            .get_all("x-forwarded-for")
            .iter()
            .flat_map(|value| value.as_bytes().split(|byte| *byte == b','))
            .collect();
        for entry in forwarded.iter().rev() {
            let Some(ip) = parse_forwarded(entry) else {
                return client;
            };
            client = ip;
            if !self.trusts(ip) {
                return ip;
            }
        }
        client
    }
}

/// An `X-Forwarded-For` entry: an address, possibly with a port (`[::1]:80`, `1.2.3.4:80`),
/// and spaces around it.
fn parse_forwarded(entry: &[u8]) -> Option<IpAddr> {
    // Only ASCII is an address: a non-breaking space or similar is garbage, not padding.
    let entry = std::str::from_utf8(entry.trim_ascii()).ok()?;
    entry
        .parse::<IpAddr>()
        .or_else(|_| entry.parse::<SocketAddr>().map(|socket| socket.ip()))
        .ok()
        .map(|ip| ip.to_canonical())
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(values: &[&str]) -> HeaderMap {
        let mut headers = HeaderMap::new();
        for value in values {
            headers.append("x-forwarded-for", HeaderValue::from_str(value).unwrap());
        }
        headers
    }

    fn ip(raw: &str) -> IpAddr {
        raw.parse().unwrap()
    }

    #[test]
    fn lists_of_addresses_and_networks_parse_and_anything_else_is_refused() {
        let proxies = TrustedProxies::parse(" 10.0.0.0/8, 192.0.2.7 ,::1,").unwrap();
        assert!(proxies.trusts(ip("10.1.2.3")));
        assert!(proxies.trusts(ip("192.0.2.7")));
        assert!(!proxies.trusts(ip("192.0.2.8")));
        assert!(proxies.trusts(ip("::1")));
        for bad in ["proxy.example.com", "10.0.0.0/33", "10.0.0", "*"] {
            let err = TrustedProxies::parse(&format!("10.0.0.1,{bad}")).unwrap_err();
            assert!(err.contains(bad), "{err}");
        }
    }

    #[test]
    fn an_untrusted_peer_is_the_client_whatever_it_forwards() {
        let none = TrustedProxies::default();
        let peer = ip("203.0.113.9");
        assert_eq!(none.client_ip(peer, &headers(&["198.51.100.1"])), peer);
        let proxies = TrustedProxies::parse("10.0.0.0/8").unwrap();
        assert_eq!(proxies.client_ip(peer, &headers(&["198.51.100.1"])), peer);
    }

    #[test]
    fn behind_trusted_proxies_the_right_most_untrusted_address_is_the_client() {
        let proxies = TrustedProxies::parse("10.0.0.0/8, 127.0.0.1").unwrap();
        let peer = ip("127.0.0.1");
        let client = |values: &[&str]| proxies.client_ip(peer, &headers(values));
        assert_eq!(client(&[]), peer);
        assert_eq!(client(&["198.51.100.1"]), ip("198.51.100.1"));
        assert_eq!(
            client(&["1.2.3.4, 198.51.100.1, 10.0.0.2"]),
            ip("198.51.100.1"),
            "a spoofed left-most entry does not count"
        );
        assert_eq!(
            client(&["1.2.3.4", "198.51.100.1:4711, 10.0.0.2"]),
            ip("198.51.100.1"),
            "several header lines read as one list"
        );
        assert_eq!(client(&["10.0.0.3, 10.0.0.2"]), ip("10.0.0.3"));
        assert_eq!(client(&["garbage, 10.0.0.2"]), ip("10.0.0.2"));
        assert_eq!(client(&["[2001:db8::1]:443"]), ip("2001:db8::1"));
        assert_eq!(client(&["::ffff:198.51.100.1"]), ip("198.51.100.1"));
        let mapped = ip("::ffff:127.0.0.1");
        let raw = |bytes: &[u8]| {
            let mut headers = HeaderMap::new();
            headers.append("x-forwarded-for", HeaderValue::from_bytes(bytes).unwrap());
            proxies.client_ip(peer, &headers)
        };
        assert_eq!(
            raw(b"caf\xc3\xa9, 198.51.100.1"),
            ip("198.51.100.1"),
            "a non-ASCII entry on the left does not hide the proxy's entry"
        );
        assert_eq!(raw(b"\xff\xfe, 198.51.100.1, 10.0.0.2"), ip("198.51.100.1"));
        assert_eq!(
            raw(b"198.51.100.1, \xff, 10.0.0.2"),
            ip("10.0.0.2"),
            "garbage ends the walk at the address to its right"
        );
        assert_eq!(raw(b"198.51.100.1,\t203.0.113.5 "), ip("203.0.113.5"));
        assert_eq!(
            raw("198.51.100.1, \u{a0}203.0.113.5".as_bytes()),
            peer,
            "non-ASCII padding is garbage"
        );
        assert_eq!(
            proxies.client_ip(mapped, &headers(&["198.51.100.1"])),
            ip("198.51.100.1"),
            "an IPv4 peer on a dual-stack socket is trusted as IPv4"
        );
    }
}
