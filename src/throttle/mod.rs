//! Throttling: exponential backoff after failed logins (per account and per client IP) and
//! fixed-window rate limits for `register`, `refreshToken`, `passwordStrength` and every
//! mutation of a signed-in user.
//!
//! Counters live in this process ([`local`]) or, with `REDIS_URL`, in Redis ([`shared`])
//! so that limits hold for the sum of all replicas; when Redis cannot be reached the
//! process falls back to its own counters until Redis answers again.
//!
//! Time is an argument, so the rules are tested without sleeping. Keys for accounts are
//! the login identifier as typed (case-folded), never whether the account exists, so a
//! throttled unknown account answers exactly like a throttled real one.

mod local;
mod shared;

use std::time::Duration;

use chrono::{DateTime, Utc};

use crate::client::client_network;

pub use shared::RedisSettings;

use local::{LocalCounters, Reservation};
use shared::SharedCounters;

/// How failures turn into waiting time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BackoffRule {
    /// Failures allowed before any wait.
    pub free_failures: u32,
    /// The first wait; each further failure doubles it.
    pub base: Duration,
    /// The longest wait. Never a permanent lockout: after it, one more attempt is allowed.
    pub max: Duration,
}

impl BackoffRule {
    /// The wait after `failures` consecutive failures, if any.
    fn wait_after(&self, failures: u32) -> Option<Duration> {
        let over = failures.checked_sub(self.free_failures)?;
        let factor = 2u32.saturating_pow(over.min(31));
        Some(self.base.saturating_mul(factor).min(self.max))
    }
}

/// At most `count` events per `window`. A window starts at the first event of a key
/// (not on the clock), so a burst never straddles two windows to get twice the budget
/// at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Rate {
    pub count: u32,
    pub window: Duration,
}

impl Rate {
    /// Parses `<count>/<unit>`, the unit one of `second`, `minute`, `hour` or `day`.
    pub fn parse(raw: &str) -> Result<Self, String> {
        let invalid = || format!("`{raw}` is not a rate such as 10/hour");
        let (count, unit) = raw.trim().split_once('/').ok_or_else(invalid)?;
        let count: u32 = count.trim().parse().map_err(|_| invalid())?;
        if !(1..=1_000_000).contains(&count) {
            return Err("the count must be between 1 and 1000000".into());
        }
        let seconds = match unit.trim() {
            "second" => 1,
            "minute" => 60,
            "hour" => 3600,
            "day" => 86_400,
            _ => return Err(invalid()),
        };
        Ok(Self {
            count,
            window: Duration::from_secs(seconds),
        })
    }
}

/// Every limit, as configured.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Backoff after failed logins of one account identifier.
    pub login_account: BackoffRule,
    /// Backoff after failed logins from one client IP.
    pub login_address: BackoffRule,
    /// `register` calls per client IP.
    pub register: Rate,
    /// `refreshToken` calls per client IP.
    pub refresh: Rate,
    /// `passwordStrength` calls per viewer, or per client IP without one.
    pub password_strength: Rate,
    /// Mutations per signed-in user, all kinds together.
    pub mutations: Rate,
}

/// The limits a request can run into, named as audit lines name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Limit {
    /// Login backoff of one account identifier.
    LoginAccount,
    /// Login backoff of one client IP.
    LoginAddress,
    /// `register` per client IP.
    Register,
    /// `refreshToken` per client IP.
    Refresh,
    /// `passwordStrength` per viewer or client IP.
    PasswordStrength,
    /// Mutation fields per signed-in user.
    Mutations,
}

impl Limit {
    /// The name in audit lines and counter keys.
    pub fn name(self) -> &'static str {
        match self {
            Limit::LoginAccount => "login_account",
            Limit::LoginAddress => "login_address",
            Limit::Register => "register",
            Limit::Refresh => "refresh_token",
            Limit::PasswordStrength => "password_strength",
            Limit::Mutations => "mutations",
        }
    }
}

/// Whole seconds from `now` until `until_ms`, rounded up so a client that waits that long
/// gets in; `None` when that moment has passed.
fn seconds_until(until_ms: i64, now: DateTime<Utc>) -> Option<u64> {
    let left = until_ms.checked_sub(now.timestamp_millis())?;
    (left > 0).then(|| (left as u64).div_ceil(1000).max(1))
}

/// The keys one login attempt touches.
#[derive(Debug, Clone, Copy)]
struct LoginKeys<'a> {
    account: &'a str,
    /// With a client address: the key marking the client as known to the account, and
    /// the address's key.
    client: Option<(&'a str, &'a str)>,
}

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

/// The throttles of one process, with their counters.
#[derive(Clone)]
pub struct Throttle {
    limits: Limits,
    local: LocalCounters,
    shared: Option<SharedCounters>,
}

impl Throttle {
    /// Counters in this process only.
    pub fn local(limits: Limits) -> Self {
        Self {
            limits,
            local: LocalCounters::new(),
            shared: None,
        }
    }

    /// Counters in Redis, with this process's own as the fallback. Never fails: an
    /// unreachable Redis is logged and retried while the local counters serve.
    pub async fn with_redis(limits: Limits, redis: &RedisSettings) -> anyhow::Result<Self> {
        Ok(Self {
            limits,
            local: LocalCounters::new(),
            shared: Some(SharedCounters::connect(redis).await?),
        })
    }

    /// The keys a login attempt counts against.
    pub fn login_keys(identifier: &str, ip: Option<&str>) -> (String, Option<String>) {
        let identifier: String = identifier.trim().chars().take(256).collect();
        (
            format!("login:account:{}", identifier.to_lowercase()),
            ip.map(|ip| format!("login:ip:{}", client_network(ip))),
        )
    }

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
            client: address.map(|address| (Self::known_key(account, address), address.to_owned())),
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

    /// The key marking the client at `address` as known to `account`. Neither an address
    /// key nor an IP contains `|`, so no two pairs share one.
    fn known_key(account: &str, address: &str) -> String {
        let ip = address.strip_prefix("login:ip:").unwrap_or(address);
        let identifier = account.strip_prefix("login:account:").unwrap_or(account);
        format!("login:known:{ip}|{identifier}")
    }

    /// Counts one event of `limit` for `subject` (a client IP or a user id);
    /// `Err(seconds to wait)` once the window's budget is spent.
    pub async fn hit(&self, limit: Limit, subject: &str, now: DateTime<Utc>) -> Result<(), u64> {
        let rate = match limit {
            Limit::Register => self.limits.register,
            Limit::Refresh => self.limits.refresh,
            Limit::PasswordStrength => self.limits.password_strength,
            Limit::Mutations => self.limits.mutations,
            Limit::LoginAccount | Limit::LoginAddress => return Ok(()),
        };
        let key = format!("rate:{}:{subject}", limit.name());
        let window_ms = rate.window.as_millis() as i64;
        let (count, left_ms) = match &self.shared {
            Some(shared) => match shared.hit(&key, window_ms).await {
                Some(counted) => counted,
                None => self.local.hit(&key, window_ms, now),
            },
            None => self.local.hit(&key, window_ms, now),
        };
        if count > u64::from(rate.count) {
            Err((left_ms.max(1) as u64).div_ceil(1000))
        } else {
            Ok(())
        }
    }
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
    use chrono::TimeZone;

    use super::*;

    pub(super) fn rule() -> BackoffRule {
        BackoffRule {
            free_failures: 5,
            base: Duration::from_secs(30),
            max: Duration::from_secs(3600),
        }
    }

    pub(super) fn at(seconds: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + seconds, 0).unwrap()
    }

    fn limits() -> Limits {
        Limits {
            login_account: rule(),
            login_address: BackoffRule {
                free_failures: 2,
                base: Duration::from_secs(10),
                max: Duration::from_secs(3600),
            },
            register: Rate::parse("3/hour").unwrap(),
            refresh: Rate::parse("60/minute").unwrap(),
            password_strength: Rate::parse("60/minute").unwrap(),
            mutations: Rate::parse("2/second").unwrap(),
        }
    }

    #[test]
    fn waits_start_after_the_free_failures_and_double_up_to_the_cap() {
        let rule = rule();
        assert_eq!(rule.wait_after(4), None);
        assert_eq!(rule.wait_after(5), Some(Duration::from_secs(30)));
        assert_eq!(rule.wait_after(6), Some(Duration::from_secs(60)));
        assert_eq!(rule.wait_after(9), Some(Duration::from_secs(480)));
        assert_eq!(rule.wait_after(12), Some(Duration::from_secs(3600)));
        assert_eq!(rule.wait_after(100), Some(Duration::from_secs(3600)));
        assert_eq!(rule.wait_after(u32::MAX), Some(Duration::from_secs(3600)));
    }

    #[test]
    fn rates_read_a_count_per_unit() {
        assert_eq!(
            Rate::parse(" 10 / hour "),
            Ok(Rate {
                count: 10,
                window: Duration::from_secs(3600)
            })
        );
        assert_eq!(Rate::parse("1/day").unwrap().window.as_secs(), 86_400);
        for bad in [
            "10",
            "0/minute",
            "10/fortnight",
            "-1/second",
            "x/hour",
            "10/",
        ] {
            assert!(Rate::parse(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn a_key_is_blocked_until_its_wait_is_over_and_never_for_good() {
        let throttle = Throttle::local(limits());
        let (alice, _) = Throttle::login_keys("alice", None);
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
        let (bob, _) = Throttle::login_keys("bob", None);
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
        let (alice, ip) = Throttle::login_keys(" Alice ", Some("10.0.0.1"));
        assert_eq!(alice, "login:account:alice");
        let (bob, _) = Throttle::login_keys("BOB", Some("10.0.0.1"));
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
        let (alice, ip) = Throttle::login_keys("alice", Some("10.0.0.1"));
        let (bob, _) = Throttle::login_keys("bob", None);
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
        let (carol, ip) = Throttle::login_keys("carol", Some("10.0.0.9"));
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
        let (alice, _) = Throttle::login_keys("alice", None);
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
    async fn a_rate_refuses_the_rest_of_its_window_and_starts_over_after_it() {
        let throttle = Throttle::local(limits());
        for _ in 0..3 {
            assert_eq!(
                throttle.hit(Limit::Register, "10.0.0.1", at(0)).await,
                Ok(())
            );
        }
        assert_eq!(
            throttle.hit(Limit::Register, "10.0.0.1", at(0)).await,
            Err(3600)
        );
        assert_eq!(
            throttle.hit(Limit::Register, "10.0.0.1", at(1799)).await,
            Err(1801)
        );
        assert_eq!(
            throttle.hit(Limit::Register, "10.0.0.2", at(0)).await,
            Ok(())
        );
        assert_eq!(
            throttle.hit(Limit::Refresh, "10.0.0.1", at(0)).await,
            Ok(()),
            "limits count separately"
        );
        assert_eq!(
            throttle.hit(Limit::Register, "10.0.0.1", at(3600)).await,
            Ok(())
        );
        assert_eq!(
            throttle.hit(Limit::Register, "10.0.0.1", at(3601)).await,
            Ok(())
        );
        assert_eq!(
            throttle.hit(Limit::Register, "10.0.0.1", at(3602)).await,
            Ok(())
        );
        assert_eq!(
            throttle.hit(Limit::Register, "10.0.0.1", at(3603)).await,
            Err(3597),
            "the window started with its first event"
        );
    }

    #[test]
    fn ipv6_clients_share_the_address_key_of_their_64() {
        let (_, a) = Throttle::login_keys("alice", Some("2001:db8::1"));
        let (_, b) = Throttle::login_keys("alice", Some("2001:db8::2:0:0:9"));
        assert_eq!(a.as_deref(), Some("login:ip:2001:db8::/64"));
        assert_eq!(a, b);
    }

    #[tokio::test]
    async fn rotating_addresses_within_one_ipv6_64_shares_one_address_wait() {
        let throttle = Throttle::local(limits());
        let key =
            |n: u32| Throttle::login_keys(&format!("user{n}"), Some(&format!("2001:db8::{n:x}")));
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
        let (account, other) = Throttle::login_keys("user7", Some("2001:db8:0:1::7"));
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
