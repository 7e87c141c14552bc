//! The client network: how addresses are grouped into one client for counting.

use std::net::IpAddr;

use ipnet::Ipv6Net;

/// The part of a client address that the throttles count as one client: an IPv4 address
/// itself, or the /64 network of an IPv6 one. A provider hands each subscriber at least a
/// /64, so counting its addresses apart would give one client 2^64 budgets. Sessions and
/// audit lines keep the full address. Text that is not an address is kept as it is.
pub fn client_network(ip: &str) -> String {
    match ip.parse::<IpAddr>() {
        Ok(IpAddr::V6(v6)) => {
            Ipv6Net::new(v6, 64).map_or_else(|_| ip.to_owned(), |net| net.trunc().to_string())
        }
        Ok(IpAddr::V4(_)) | Err(_) => ip.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::client_network;

    #[test]
    fn ipv6_clients_count_by_their_64_and_ipv4_ones_by_their_address() {
        assert_eq!(client_network("2001:db8:1:2:3:4:5:6"), "2001:db8:1:2::/64");
        assert_eq!(client_network("2001:db8:1:2::ffff"), "2001:db8:1:2::/64");
        assert_eq!(client_network("2001:db8:1:3::1"), "2001:db8:1:3::/64");
        assert_eq!(client_network("::1"), "::/64");
        assert_eq!(client_network("198.51.100.7"), "198.51.100.7");
        assert_eq!(client_network("unknown"), "unknown");
    }
}
