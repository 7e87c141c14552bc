//! Brute-force throttling of logins: exponential backoff after repeated failures, per
//! account and per client IP, kept in this process's memory.
//!
//! Time is an argument, so the rules are tested without sleeping. Keys for accounts are
//! the login identifier as typed (case-folded), never whether the account exists, so a
//! throttled unknown account answers exactly like a throttled real one.

use std::time::Duration;

use chrono::{DateTime, Utc};
use moka::sync::Cache;

/// Most keys remembered at once; the least recently used are forgotten first.
const CAPACITY: u64 = 200_000;
/// A key with no failure for this long starts over.
const FORGET_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

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

#[derive(Debug, Clone, Copy)]
struct Record {
    failures: u32,
    blocked_until: Option<DateTime<Utc>>,
}

/// Consecutive failures per key, and until when each key must wait.
#[derive(Clone)]
pub struct Backoff {
    rule: BackoffRule,
    records: Cache<String, Record>,
}

impl Backoff {
    pub fn new(rule: BackoffRule) -> Self {
        Self {
            rule,
            records: Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_idle(FORGET_AFTER)
                .build(),
        }
    }

    /// `Err(seconds to wait)` while `key` is blocked at `now`.
    pub fn check(&self, key: &str, now: DateTime<Utc>) -> Result<(), u64> {
        match self
            .records
            .get(key)
            .and_then(|record| record.blocked_until)
        {
            Some(until) if until > now => {
                let wait = until.signed_duration_since(now);
                // Whole seconds, rounded up, so a client that waits that long gets in.
                Err(wait.num_milliseconds().saturating_add(999).max(1000) as u64 / 1000)
            }
            _ => Ok(()),
        }
    }

    /// Records a failure of `key` at `now`.
    pub fn fail(&self, key: &str, now: DateTime<Utc>) {
        let rule = self.rule;
        self.records.entry_by_ref(key).and_upsert_with(|existing| {
            let failures = existing
                .map(|entry| entry.into_value().failures)
                .unwrap_or(0)
                .saturating_add(1);
            Record {
                failures,
                blocked_until: rule.wait_after(failures).map(|wait| {
                    now + chrono::Duration::from_std(wait).unwrap_or(chrono::Duration::MAX)
                }),
            }
        });
    }

    /// Forgets `key`'s failures after a success.
    pub fn succeed(&self, key: &str) {
        self.records.invalidate(key);
    }
}

/// The login throttles: one per account identifier, one per client IP.
#[derive(Clone)]
pub struct LoginThrottle {
    pub accounts: Backoff,
    pub addresses: Backoff,
}

impl LoginThrottle {
    pub fn new(account: BackoffRule, address: BackoffRule) -> Self {
        Self {
            accounts: Backoff::new(account),
            addresses: Backoff::new(address),
        }
    }

    /// The keys a login attempt counts against.
    pub fn keys(identifier: &str, ip: Option<&str>) -> (String, Option<String>) {
        let identifier: String = identifier.trim().chars().take(256).collect();
        (
            format!("account:{}", identifier.to_lowercase()),
            ip.map(|ip| format!("ip:{ip}")),
        )
    }

    /// `Err(seconds to wait)` when the account or the address must wait.
    pub fn check(
        &self,
        account: &str,
        address: Option<&str>,
        now: DateTime<Utc>,
    ) -> Result<(), u64> {
        let account_wait = self.accounts.check(account, now).err();
        let address_wait = address.and_then(|key| self.addresses.check(key, now).err());
        match account_wait.max(address_wait) {
            Some(wait) => Err(wait),
            None => Ok(()),
        }
    }

    pub fn fail(&self, account: &str, address: Option<&str>, now: DateTime<Utc>) {
        self.accounts.fail(account, now);
        if let Some(key) = address {
            self.addresses.fail(key, now);
        }
    }

    /// A success clears the account's failures. The address keeps its count, so one
    /// account an attacker controls cannot wipe the failures of their guesses at others.
    pub fn succeed(&self, account: &str) {
        self.accounts.succeed(account);
    }
}

#[cfg(test)]
mod tests {
    use chrono::TimeZone;

    use super::*;

    fn rule() -> BackoffRule {
        BackoffRule {
            free_failures: 5,
            base: Duration::from_secs(30),
            max: Duration::from_secs(3600),
        }
    }

    fn at(seconds: i64) -> DateTime<Utc> {
        Utc.timestamp_opt(1_800_000_000 + seconds, 0).unwrap()
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
    fn a_key_is_blocked_until_its_wait_is_over_and_never_for_good() {
        let backoff = Backoff::new(rule());
        for second in 0..4 {
            backoff.fail("alice", at(second));
            assert_eq!(backoff.check("alice", at(second)), Ok(()));
        }
        backoff.fail("alice", at(10));
        assert_eq!(backoff.check("alice", at(10)), Err(30));
        assert_eq!(backoff.check("alice", at(39)), Err(1));
        assert_eq!(backoff.check("alice", at(40)), Ok(()));
        backoff.fail("alice", at(40));
        assert_eq!(backoff.check("alice", at(40)), Err(60));
        // After a hundred failures the wait is an hour, and then one attempt is allowed.
        for _ in 0..100 {
            backoff.fail("alice", at(100));
        }
        assert_eq!(backoff.check("alice", at(100)), Err(3600));
        assert_eq!(backoff.check("alice", at(3700)), Ok(()));
        assert_eq!(backoff.check("bob", at(100)), Ok(()), "keys are separate");
        backoff.succeed("alice");
        assert_eq!(backoff.check("alice", at(100)), Ok(()));
    }

    #[test]
    fn the_longer_of_the_account_and_address_waits_applies() {
        let throttle = LoginThrottle::new(
            rule(),
            BackoffRule {
                free_failures: 2,
                base: Duration::from_secs(10),
                max: Duration::from_secs(3600),
            },
        );
        let (alice, ip) = LoginThrottle::keys(" Alice ", Some("10.0.0.1"));
        assert_eq!(alice, "account:alice");
        let (bob, _) = LoginThrottle::keys("BOB", Some("10.0.0.1"));
        throttle.fail(&alice, ip.as_deref(), at(0));
        throttle.fail(&bob, ip.as_deref(), at(0));
        assert_eq!(throttle.check(&alice, ip.as_deref(), at(0)), Err(10));
        assert_eq!(throttle.check(&alice, Some("ip:10.0.0.2"), at(0)), Ok(()));
        throttle.succeed(&alice);
        assert_eq!(
            throttle.check(&alice, ip.as_deref(), at(0)),
            Err(10),
            "the address keeps its count"
        );
    }
}
