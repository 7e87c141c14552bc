//! Login attempts: each is counted as a failure before its password is verified, and
//! taken back only when the password was right, so parallel guesses cannot slip past a
//! wait and an attempt cut off midway still counts.

use chrono::{DateTime, Utc};

use super::keys::{LoginKeys, known_key};
use super::local::Reservation;
use super::{Limit, Throttle};

/// A login attempt that [`Throttle::begin_login`] let through, already counted as a
/// failure. Dropping it leaves the failure counted; [`Throttle::login_succeeded`] takes
/// it back. No `Debug`: the identifier typed may be a mistyped password.
pub struct LoginAttempt {
    account: String,
    /// The known-client key and the address key, with a client address.
    client: Option<(String, String)>,
    /// Whether the failures were counted in Redis rather than in this process.
    shared: bool,
    /// The wait the address's failure set, if it set one: it goes when the failure does.
    address_until: Option<i64>,
}

impl LoginAttempt {
    fn keys(&self) -> LoginKeys<'_> {
        LoginKeys {
            account: &self.account,
            client: self
                .client
                .as_ref()
                .map(|(known, address)| (known.as_str(), address.as_str())),
        }
    }
}

impl Throttle {
    /// Starts a login attempt: `Err` with the limit and the seconds to wait when the
    /// account or the address must wait (the longer wait wins), else the attempt, already
    /// counted as a failure of both. Checking and counting are one step, so parallel
    /// attempts cannot all pass before the first failure is written, and an attempt cut
    /// off midway still counts. The account's wait does not hold a client that has signed
    /// in to it from this address before (see [`Throttle::login_succeeded`]): an attacker
    /// can make an account wait, but not for the clients its owner uses. Their failures
    /// still count, and the address's wait applies to them as to anyone.
    pub async fn begin_login(
        &self,
        account: &str,
        address: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<LoginAttempt, (Limit, u64)> {
        let mut attempt = LoginAttempt {
            account: account.to_owned(),
            client: address.map(|address| (known_key(account, address), address.to_owned())),
            shared: false,
            address_until: None,
        };
        if let Some(shared) = &self.shared
            && let Some((counted, account_ms, address_ms)) = shared
                .reserve(
                    &attempt.keys(),
                    self.limits.login_account,
                    self.limits.login_address,
                    now,
                )
                .await
        {
            if !counted {
                let seconds = |ms: i64| (ms > 0).then(|| (ms as u64).div_ceil(1000).max(1));
                return longer_wait(seconds(account_ms), seconds(address_ms));
            }
            attempt.shared = true;
            attempt.address_until = (address_ms >= 0).then_some(address_ms);
            return Ok(attempt);
        }
        // The address first: its wait always applies, so a refund of its failure (below)
        // restores exactly the state before it. The account's may not apply to a known
        // client, whose failure then counts during a wait and could not be taken back.
        let keys = attempt.keys();
        let enforce = !keys
            .client
            .is_some_and(|(known, _)| self.local.knows(known));
        let account_wait = || {
            let until = self.local.blocked_until(account).filter(|_| enforce)?;
            seconds_until(until, now)
        };
        if let Some(address) = address {
            match self
                .local
                .reserve(address, self.limits.login_address, now, true)
            {
                Reservation::Counted(until) => attempt.address_until = until,
                Reservation::Blocked(until) => {
                    return longer_wait(account_wait(), seconds_until(until, now));
                }
            }
        }
        if let Reservation::Blocked(until) =
            self.local
                .reserve(account, self.limits.login_account, now, enforce)
        {
            if let Some(address) = address {
                self.local.refund(
                    address,
                    self.limits.login_address,
                    attempt.address_until,
                    now,
                );
            }
            return longer_wait(seconds_until(until, now), None);
        }
        Ok(attempt)
    }

    /// The password was right: clears the account's failures, remembers this client as
    /// one that signs in to the account, and takes back the failure counted in advance
    /// against the address. The address keeps its earlier count, so one account an
    /// attacker controls cannot wipe the failures of their guesses at others.
    pub async fn login_succeeded(&self, attempt: LoginAttempt, now: DateTime<Utc>) {
        let keys = attempt.keys();
        if let Some(shared) = &self.shared {
            let refund = attempt.shared.then_some(attempt.address_until);
            shared
                .succeed(&keys, refund, self.limits.login_address)
                .await;
        }
        // Here too, whether or not Redis answered: a wait recorded here while Redis was
        // away must not come back at its next outage.
        self.local.clear(keys.account);
        if let Some((known, address)) = keys.client {
            self.local.remember(known);
            if !attempt.shared {
                self.local.refund(
                    address,
                    self.limits.login_address,
                    attempt.address_until,
                    now,
                );
            }
        }
    }
}

impl Throttle {
    /// Clears the login backoff of these account keys, as a password reset does: the
    /// owner proved control of the account another way.
    pub async fn forgive_logins(&self, accounts: &[String], now: DateTime<Utc>) {
        for account in accounts {
            let attempt = LoginAttempt {
                account: account.clone(),
                client: None,
                shared: false,
                address_until: None,
            };
            self.login_succeeded(attempt, now).await;
        }
    }
}

/// Whole seconds from `now` until `until_ms`, rounded up so a client that waits that long
/// gets in; `None` when that moment has passed.
fn seconds_until(until_ms: i64, now: DateTime<Utc>) -> Option<u64> {
    let left = until_ms.checked_sub(now.timestamp_millis())?;
    (left > 0).then(|| (left as u64).div_ceil(1000).max(1))
}

/// A refusal with the longer of two waits, the account's when they are equal.
fn longer_wait<T>(account: Option<u64>, address: Option<u64>) -> Result<T, (Limit, u64)> {
    Err(match (account, address) {
        (Some(account), Some(address)) if address > account => (Limit::LoginAddress, address),
        (None, Some(wait)) => (Limit::LoginAddress, wait),
        (Some(wait), _) => (Limit::LoginAccount, wait),
        // Only reached when a wait ended in the instant between reading and rounding it.
        (None, None) => (Limit::LoginAccount, 1),
    })
}

#[cfg(test)]
mod tests {
    use super::super::login_keys;
    use super::super::tests::{at, limits};
    use super::*;

    #[tokio::test]
    async fn a_key_is_blocked_until_its_wait_is_over_and_never_for_good() {
        let throttle = Throttle::local(limits());
        let (alice, _) = login_keys("alice", None);
        let begin = |second| throttle.begin_login(&alice, None, at(second));
        let blocked = |wait| Err((Limit::LoginAccount, wait));
        // Every attempt let through counts in advance; the fifth sets the first wait.
        for second in 0..5 {
            assert!(begin(second).await.is_ok());
        }
        assert_eq!(begin(10).await.map(drop), blocked(24));
        assert_eq!(begin(33).await.map(drop), blocked(1));
        assert!(begin(34).await.is_ok());
        assert_eq!(begin(34).await.map(drop), blocked(60), "doubled");
        // After a hundred failures the wait is an hour, and then one attempt is allowed.
        for hour in 0..100 {
            assert!(begin(100 + 3600 * hour).await.is_ok());
        }
        let last = 100 + 3600 * 99;
        assert_eq!(begin(last).await.map(drop), blocked(3600));
        let attempt = begin(last + 3600)
            .await
            .expect("one attempt after the wait");
        let (bob, _) = login_keys("bob", None);
        assert!(throttle.begin_login(&bob, None, at(last)).await.is_ok());
        throttle.login_succeeded(attempt, at(last + 3600)).await;
        assert!(
            begin(last + 3600).await.is_ok(),
            "a success clears the account"
        );
    }

    #[tokio::test]
    async fn the_longer_of_the_account_and_address_waits_applies() {
        let throttle = Throttle::local(limits());
        let (alice, ip) = login_keys(" Alice ", Some("10.0.0.1"));
        assert_eq!(alice, "login:account:alice");
        let (bob, _) = login_keys("BOB", Some("10.0.0.1"));
        let ip = ip.as_deref();
        assert!(throttle.begin_login(&alice, ip, at(0)).await.is_ok());
        assert!(throttle.begin_login(&bob, ip, at(0)).await.is_ok());
        assert_eq!(
            throttle.begin_login(&alice, ip, at(0)).await.map(drop),
            Err((Limit::LoginAddress, 10))
        );
        let elsewhere = Some("login:ip:10.0.0.2");
        let attempt = throttle.begin_login(&alice, elsewhere, at(0)).await;
        throttle.login_succeeded(attempt.unwrap(), at(0)).await;
        assert_eq!(
            throttle.begin_login(&alice, ip, at(0)).await.map(drop),
            Err((Limit::LoginAddress, 10)),
            "the address keeps its count"
        );
    }

    #[tokio::test]
    async fn a_refused_attempt_counts_nowhere_and_a_success_refunds_the_address() {
        let throttle = Throttle::local(limits());
        let (alice, ip) = login_keys("alice", Some("10.0.0.1"));
        let (bob, _) = login_keys("bob", None);
        let ip = ip.as_deref();
        // Four failures of alice from other addresses: one short of her wait.
        for n in 0..4 {
            let other = format!("login:ip:10.0.1.{n}");
            assert!(
                throttle
                    .begin_login(&alice, Some(&other), at(0))
                    .await
                    .is_ok()
            );
        }
        // The address spends its two free failures; refused attempts of alice from it do
        // not count against her.
        assert!(throttle.begin_login(&bob, ip, at(0)).await.is_ok());
        assert!(throttle.begin_login(&bob, ip, at(0)).await.is_ok());
        for _ in 0..3 {
            assert_eq!(
                throttle.begin_login(&alice, ip, at(1)).await.map(drop),
                Err((Limit::LoginAddress, 9))
            );
        }
        let attempt = throttle.begin_login(&alice, None, at(1)).await;
        assert!(attempt.is_ok(), "still her fifth attempt");
        // A success from an address takes back the failure it counted in advance, with
        // the wait that failure set.
        let (carol, ip) = login_keys("carol", Some("10.0.0.9"));
        let ip = ip.as_deref();
        assert!(throttle.begin_login(&bob, ip, at(0)).await.is_ok());
        let attempt = throttle.begin_login(&carol, ip, at(0)).await.unwrap();
        throttle.login_succeeded(attempt, at(0)).await;
        assert!(throttle.begin_login(&carol, ip, at(0)).await.is_ok());
    }

    #[tokio::test]
    async fn a_client_that_signed_in_before_is_not_held_by_the_accounts_wait() {
        let throttle = Throttle::local(limits());
        let home = Some("login:ip:192.0.2.1");
        let (alice, _) = login_keys("alice", None);
        let attempt = throttle.begin_login(&alice, home, at(0)).await;
        throttle.login_succeeded(attempt.unwrap(), at(0)).await;
        for n in 0..5 {
            let attacker = format!("login:ip:203.0.113.{n}");
            assert!(
                throttle
                    .begin_login(&alice, Some(&attacker), at(1))
                    .await
                    .is_ok()
            );
        }
        assert_eq!(
            throttle
                .begin_login(&alice, Some("login:ip:198.51.100.1"), at(2))
                .await
                .map(drop),
            Err((Limit::LoginAccount, 29)),
            "a client never seen waits"
        );
        assert!(throttle.begin_login(&alice, home, at(2)).await.is_ok());
        assert_eq!(
            throttle
                .begin_login(&alice, Some("login:ip:198.51.100.1"), at(2))
                .await
                .map(drop),
            Err((Limit::LoginAccount, 60)),
            "the known client's failure counts against the account"
        );
        // The address's own wait still applies to a known client.
        assert!(throttle.begin_login(&alice, home, at(2)).await.is_ok());
        assert_eq!(
            throttle.begin_login(&alice, home, at(2)).await.map(drop),
            Err((Limit::LoginAddress, 10))
        );
    }

    #[tokio::test]
    async fn rotating_addresses_within_one_ipv6_64_shares_one_address_wait() {
        let throttle = Throttle::local(limits());
        let key = |n: u32| login_keys(&format!("user{n}"), Some(&format!("2001:db8::{n:x}")));
        for n in 0..2 {
            let (account, address) = key(n);
            // Dropped unverified: counted as a failure.
            let attempt = throttle
                .begin_login(&account, address.as_deref(), at(0))
                .await;
            assert!(attempt.is_ok());
        }
        let (account, address) = key(7);
        assert_eq!(
            throttle
                .begin_login(&account, address.as_deref(), at(0))
                .await
                .map(drop),
            Err((Limit::LoginAddress, 10))
        );
        let (account, other) = login_keys("user7", Some("2001:db8:0:1::7"));
        assert!(
            throttle
                .begin_login(&account, other.as_deref(), at(0))
                .await
                .is_ok()
        );
    }

    #[test]
    fn waits_are_whole_seconds_rounded_up() {
        let now = at(0);
        let ms = now.timestamp_millis();
        assert_eq!(seconds_until(ms + 1, now), Some(1));
        assert_eq!(seconds_until(ms + 1000, now), Some(1));
        assert_eq!(seconds_until(ms + 1001, now), Some(2));
        assert_eq!(seconds_until(ms, now), None);
        assert_eq!(seconds_until(ms - 5, now), None);
    }
}
