//! Throttling: exponential backoff after failed logins (per account and per client IP) and
//! fixed-window rate limits for logins (per client IP, and successes per account),
//! `register`, `refreshToken`, `passwordStrength`, and every query and mutation field of
//! a signed-in user.
//!
//! Counters live in this process ([`local`]) or, with `REDIS_URL`, in Redis ([`shared`])
//! so that limits hold for the sum of all replicas; when Redis cannot be reached the
//! process falls back to its own counters until Redis answers again.
//!
//! Time is an argument, so the rules are tested without sleeping. The rules are in
//! `rules`, the counter keys in `keys`, login attempts in `login`; a throttled unknown
//! account answers exactly like a throttled real one.

mod keys;
mod local;
mod login;
mod rules;
mod shared;

use chrono::{DateTime, Utc};

pub use keys::{login_keys, second_factor_keys};
pub use login::LoginAttempt;
pub use rules::{BackoffRule, Limit, Limits, Rate};
pub use shared::RedisSettings;

use keys::LoginKeys;
use local::LocalCounters;
use shared::SharedCounters;

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

    /// Counts one event of `limit` for `subject` (a client IP or a user id);
    /// `Err(seconds to wait)` once the window's budget is spent.
    pub async fn hit(&self, limit: Limit, subject: &str, now: DateTime<Utc>) -> Result<(), u64> {
        let Some(rate) = self.rate(limit) else {
            return Ok(());
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

    /// Whether one more event of `limit` for `subject` would be within the window's
    /// budget, counting nothing: `Err(seconds to wait)` when it is spent already.
    pub async fn check(&self, limit: Limit, subject: &str, now: DateTime<Utc>) -> Result<(), u64> {
        let Some(rate) = self.rate(limit) else {
            return Ok(());
        };
        let key = format!("rate:{}:{subject}", limit.name());
        let (count, left_ms) = match &self.shared {
            Some(shared) => match shared.peek(&key).await {
                Some(seen) => seen,
                None => self.local.peek(&key, now),
            },
            None => self.local.peek(&key, now),
        };
        if count >= u64::from(rate.count) && left_ms > 0 {
            Err((left_ms as u64).div_ceil(1000))
        } else {
            Ok(())
        }
    }

    /// The rate of `limit`; `None` for the login backoffs, which are no rates.
    fn rate(&self, limit: Limit) -> Option<Rate> {
        Some(match limit {
            Limit::Register => self.limits.register,
            Limit::Refresh => self.limits.refresh,
            Limit::PasswordStrength => self.limits.password_strength,
            Limit::Mutations => self.limits.mutations,
            Limit::Queries => self.limits.queries,
            Limit::LoginsPerAddress => self.limits.logins_per_address,
            Limit::LoginsPerAccount => self.limits.logins_per_account,
            Limit::MailPerAddress => self.limits.mail_per_address,
            Limit::MailPerRecipient => self.limits.mail_per_recipient,
            Limit::MailLinks => self.limits.mail_links,
            Limit::LoginAccount | Limit::LoginAddress => return None,
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

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

    pub(super) fn limits() -> Limits {
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
            queries: Rate::parse("10/second").unwrap(),
            logins_per_address: Rate::parse("10/minute").unwrap(),
            logins_per_account: Rate::parse("5/minute").unwrap(),
            mail_per_address: Rate::parse("20/hour").unwrap(),
            mail_per_recipient: Rate::parse("5/hour").unwrap(),
            mail_links: Rate::parse("30/hour").unwrap(),
        }
    }

    #[tokio::test]
    async fn a_check_counts_nothing_and_refuses_once_the_budget_is_spent() {
        let throttle = Throttle::local(limits());
        let (limit, key) = (Limit::LoginsPerAccount, "account");
        for _ in 0..10 {
            assert_eq!(throttle.check(limit, key, at(0)).await, Ok(()));
        }
        for _ in 0..5 {
            assert_eq!(throttle.hit(limit, key, at(1)).await, Ok(()));
        }
        assert_eq!(throttle.check(limit, key, at(2)).await, Err(59));
        assert_eq!(
            throttle.check(limit, key, at(61)).await,
            Ok(()),
            "a new window"
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
}
