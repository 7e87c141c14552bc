//! The rules as configured: how failed logins turn into waits, what a rate allows, and
//! the limits a request can run into.

use std::time::Duration;

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
    pub(super) fn wait_after(&self, failures: u32) -> Option<Duration> {
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
    /// Query root fields per signed-in user, all kinds together.
    pub queries: Rate,
    /// `login` attempts per client IP, whatever their outcome.
    pub logins_per_address: Rate,
    /// Successful logins per account (failures back off instead).
    pub logins_per_account: Rate,
    /// Requests that send mail (`requestPasswordReset`, `requestEmailVerification`,
    /// `changeEmail`) per client IP.
    pub mail_per_address: Rate,
    /// The same requests per address mail is asked for, whoever asks.
    pub mail_per_recipient: Rate,
    /// Uses of mail links (`verifyEmail`, `resetPassword`) per client IP.
    pub mail_links: Rate,
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
    /// Query root fields per signed-in user.
    Queries,
    /// `login` attempts per client IP.
    LoginsPerAddress,
    /// Successful logins per account.
    LoginsPerAccount,
    /// Requests that send mail, per client IP.
    MailPerAddress,
    /// Requests that send mail, per address asked for.
    MailPerRecipient,
    /// Uses of mail links, per client IP.
    MailLinks,
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
            Limit::Queries => "queries",
            Limit::LoginsPerAddress => "logins_per_address",
            Limit::LoginsPerAccount => "logins_per_account",
            Limit::MailPerAddress => "mail_per_address",
            Limit::MailPerRecipient => "mail_per_recipient",
            Limit::MailLinks => "mail_links",
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::rule;
    use super::*;

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
}
