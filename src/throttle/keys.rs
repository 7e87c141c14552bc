//! The counter keys: which keys a login attempt touches, and the key that marks a client
//! as known to an account. Keys for accounts are the login identifier as typed
//! (case-folded), never whether the account exists.

use crate::client::client_network;

/// The keys one login attempt touches.
#[derive(Debug, Clone, Copy)]
pub(super) struct LoginKeys<'a> {
    pub(super) account: &'a str,
    /// With a client address: the key marking the client as known to the account, and
    /// the address's key.
    pub(super) client: Option<(&'a str, &'a str)>,
}

/// The keys a login attempt counts against.
pub fn login_keys(identifier: &str, ip: Option<&str>) -> (String, Option<String>) {
    let identifier: String = identifier.trim().chars().take(256).collect();
    (
        format!("login:account:{}", identifier.to_lowercase()),
        ip.map(|ip| format!("login:ip:{}", client_network(ip))),
    )
}

/// The keys a guess at an account's second-factor codes counts against: the account's
/// own (by id: the password checked out, so the account is known) and, as for a login,
/// the client's address, so that a client the owner completed a login from is not held
/// by someone else's wrong codes.
pub fn second_factor_keys(user_id: uuid::Uuid, ip: Option<&str>) -> (String, Option<String>) {
    (
        format!("login:second_factor:{user_id}"),
        ip.map(|ip| format!("login:ip:{}", client_network(ip))),
    )
}

/// The key marking the client at `address` as known to `account`. Neither an address
/// key nor an IP contains `|`, so no two pairs share one.
pub(super) fn known_key(account: &str, address: &str) -> String {
    let ip = address.strip_prefix("login:ip:").unwrap_or(address);
    let identifier = account.strip_prefix("login:account:").unwrap_or(account);
    format!("login:known:{ip}|{identifier}")
}

#[cfg(test)]
mod tests {
    use super::login_keys;

    #[test]
    fn ipv6_clients_share_the_address_key_of_their_64() {
        let (_, a) = login_keys("alice", Some("2001:db8::1"));
        let (_, b) = login_keys("alice", Some("2001:db8::2:0:0:9"));
        assert_eq!(a.as_deref(), Some("login:ip:2001:db8::/64"));
        assert_eq!(a, b);
    }
}
