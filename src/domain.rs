//! Typed values parsed once at the boundary; each error states its rule in plain words.

use std::fmt;

use email_address::{EmailAddress, Options};
use unicode_normalization::UnicodeNormalization;

use async_graphql::Enum;
use sea_orm::entity::prelude::*;
use serde::{Deserialize, Serialize};

use crate::error::AppError;

/// Raw password input longer than this (in bytes) is rejected before normalisation.
const MAX_PASSWORD_INPUT_BYTES: usize = 4 * 128 * 4;

/// What an account may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, EnumIter, DeriveActiveEnum, Enum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
pub enum Role {
    /// A regular account: its own tasks only.
    #[sea_orm(string_value = "user")]
    User,
    /// An operator account.
    #[sea_orm(string_value = "admin")]
    Admin,
}

/// What happened to an account, as its security history and the audit log name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, EnumIter, DeriveActiveEnum, Enum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(32))")]
pub enum SecurityEventKind {
    /// The account was created.
    #[sea_orm(string_value = "registered")]
    Registered,
    /// A session started.
    #[sea_orm(string_value = "login_succeeded")]
    LoginSucceeded,
    /// A login or a password confirmation failed.
    #[sea_orm(string_value = "login_failed")]
    LoginFailed,
    /// Guesses at the password or the second factor were held back.
    #[sea_orm(string_value = "login_throttled")]
    LoginThrottled,
    /// A wrong TOTP or recovery code was given.
    #[sea_orm(string_value = "second_factor_failed")]
    SecondFactorFailed,
    /// The password was changed; every other session ended.
    #[sea_orm(string_value = "password_changed")]
    PasswordChanged,
    /// A reset link was sent to the account's address.
    #[sea_orm(string_value = "password_reset_requested")]
    PasswordResetRequested,
    /// The password was set through a reset link; every session ended.
    #[sea_orm(string_value = "password_reset")]
    PasswordReset,
    /// The address was confirmed.
    #[sea_orm(string_value = "email_verified")]
    EmailVerified,
    /// A move to another address was asked for.
    #[sea_orm(string_value = "email_change_requested")]
    EmailChangeRequested,
    /// The address changed.
    #[sea_orm(string_value = "email_changed")]
    EmailChanged,
    /// Two-factor was turned on.
    #[sea_orm(string_value = "two_factor_enabled")]
    TwoFactorEnabled,
    /// Two-factor was turned off.
    #[sea_orm(string_value = "two_factor_disabled")]
    TwoFactorDisabled,
    /// A recovery code was spent.
    #[sea_orm(string_value = "recovery_code_used")]
    RecoveryCodeUsed,
    /// New recovery codes replaced the old ones.
    #[sea_orm(string_value = "recovery_codes_regenerated")]
    RecoveryCodesRegenerated,
    /// One session ended: logged out, revoked, or ended by a newer one past the cap.
    #[sea_orm(string_value = "session_revoked")]
    SessionRevoked,
    /// Every session ended at once.
    #[sea_orm(string_value = "all_sessions_revoked")]
    AllSessionsRevoked,
    /// A refresh token came back after it was rotated: its session was ended.
    #[sea_orm(string_value = "refresh_reuse_detected")]
    RefreshReuseDetected,
    /// An operator deactivated the account.
    #[sea_orm(string_value = "account_deactivated")]
    AccountDeactivated,
    /// An operator activated the account again.
    #[sea_orm(string_value = "account_activated")]
    AccountActivated,
    /// The account's role changed.
    #[sea_orm(string_value = "role_changed")]
    RoleChanged,
    /// The account was deleted, by its owner or an administrator; its history stays
    /// until the retention period ends.
    #[sea_orm(string_value = "account_deleted")]
    AccountDeleted,
}

/// Where a task stands.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, EnumIter, DeriveActiveEnum, Enum)]
#[sea_orm(rs_type = "String", db_type = "String(StringLen::N(16))")]
// Serialised in the task-change payload (`store::events::wire`).
#[derive(Serialize, Deserialize)]
pub enum TaskStatus {
    /// Not started.
    #[default]
    #[sea_orm(string_value = "todo")]
    Todo,
    /// Being worked on.
    #[sea_orm(string_value = "in_progress")]
    InProgress,
    /// Finished; the task's `completedAt` is set.
    #[sea_orm(string_value = "done")]
    Done,
}

/// How urgent a task is. Stored as a number so that ordering by priority is LOW < MEDIUM < HIGH < URGENT.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, EnumIter, DeriveActiveEnum, Enum)]
#[sea_orm(rs_type = "i16", db_type = "SmallInteger")]
// Serialised in the task-change payload (`store::events::wire`).
#[derive(Serialize, Deserialize)]
pub enum TaskPriority {
    /// Whenever there is time.
    #[sea_orm(num_value = 0)]
    Low,
    /// The usual.
    #[default]
    #[sea_orm(num_value = 1)]
    Medium,
    /// Soon.
    #[sea_orm(num_value = 2)]
    High,
    /// Now.
    #[sea_orm(num_value = 3)]
    Urgent,
}

/// A task field that `tasks` can be ordered by.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Enum)]
#[graphql(name = "TaskOrderField")]
pub enum OrderField {
    /// When the task was created.
    CreatedAt,
    /// When the task last changed.
    UpdatedAt,
    /// When the task is due; tasks without a due time come last in either direction.
    DueAt,
    /// LOW < MEDIUM < HIGH < URGENT.
    Priority,
    /// The title, compared by the database's collation.
    Title,
}

/// Which way an order runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Enum)]
#[graphql(name = "OrderDirection")]
pub enum OrderDirection {
    /// Smallest first.
    Asc,
    /// Largest first.
    Desc,
}

/// 3 to 32 ASCII letters, digits, `_`, `.` or `-`. ASCII only, so look-alike letters from
/// other scripts cannot impersonate an account, and case folding is the same everywhere.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub fn parse(raw: &str) -> Result<Self, AppError> {
        let len = raw.chars().count();
        if !(3..=32).contains(&len) {
            return Err(AppError::bad_input("username must be 3 to 32 characters"));
        }
        if !raw
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
        {
            return Err(AppError::bad_input(
                "username may contain only letters A-Z, digits, `_`, `.` and `-`",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A deliverable-looking address with a dotted domain, stored in lower case so that
/// uniqueness ignores letter case.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(raw: &str) -> Result<Self, AppError> {
        // The rules hold for the stored form: lower-casing can lengthen an address (`İ`
        // becomes `i` and a combining dot), past what the column holds.
        let address = raw.to_lowercase();
        if address.chars().count() > 254 {
            return Err(AppError::bad_input("email must be at most 254 characters"));
        }
        let options = Options::default()
            .with_required_tld()
            .without_domain_literal()
            .without_display_text();
        if address.chars().any(char::is_whitespace)
            || EmailAddress::parse_with_options(&address, options).is_err()
        {
            return Err(AppError::bad_input(
                "email must be a valid address such as name@example.com",
            ));
        }
        Ok(Self(address))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A password, NFKC-normalised so that the same passphrase typed on another keyboard or
/// platform hashes the same. 8 to 128 characters, no composition rules. Never printed.
pub struct Password(String);

impl Password {
    pub fn parse(raw: &str) -> Result<Self, AppError> {
        let rule = || AppError::bad_input("password must be 8 to 128 characters");
        if raw.len() > MAX_PASSWORD_INPUT_BYTES {
            return Err(rule());
        }
        let normalized: String = raw.nfkc().collect();
        if !(8..=128).contains(&normalized.chars().count()) {
            return Err(rule());
        }
        Ok(Self(normalized))
    }

    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Password {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Password(<redacted>)")
    }
}

/// 1 to 200 characters after trimming surrounding whitespace, without control characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskTitle(String);

impl TaskTitle {
    pub fn parse(raw: &str) -> Result<Self, AppError> {
        let trimmed = raw.trim();
        if !(1..=200).contains(&trimmed.chars().count()) {
            return Err(AppError::bad_input(
                "title must be 1 to 200 characters, not counting surrounding spaces",
            ));
        }
        if trimmed.chars().any(char::is_control) {
            return Err(AppError::bad_input(
                "title must not contain control characters such as line breaks",
            ));
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

/// At most 10,000 characters; line breaks and tabs are allowed, other control characters not.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TaskDescription(String);

impl TaskDescription {
    pub fn parse(raw: &str) -> Result<Self, AppError> {
        if raw.chars().count() > 10_000 {
            return Err(AppError::bad_input(
                "description must be at most 10000 characters",
            ));
        }
        if raw
            .chars()
            .any(|c| c.is_control() && !matches!(c, '\n' | '\r' | '\t'))
        {
            return Err(AppError::bad_input(
                "description must not contain control characters other than line breaks and tabs",
            ));
        }
        Ok(Self(raw.to_owned()))
    }

    pub fn into_inner(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_follow_the_rule() {
        for ok in ["abc", "a_b.c-d", "Alice", &"x".repeat(32)] {
            assert!(Username::parse(ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "ab",
            &"x".repeat(33),
            "al ice",
            "alice@x",
            "ålice",
            "аlice",
            "bob\0",
            // Letters that lower-case to ASCII or to more than one character.
            "\u{212a}im",
            "\u{130}lice",
        ] {
            assert!(Username::parse(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn emails_are_validated_and_lowercased() {
        assert_eq!(
            Email::parse("Alice@Example.COM").unwrap().as_str(),
            "alice@example.com"
        );
        for bad in [
            "",
            "alice",
            "alice@",
            "@example.com",
            "alice@localhost",
            "alice@[127.0.0.1]",
            "Alice <alice@example.com>",
            " alice@example.com",
            "alice@exa mple.com",
            "alice\0@example.com",
        ] {
            assert!(Email::parse(bad).is_err(), "{bad:?}");
        }
        let long = format!("{}@example.com", "a".repeat(250));
        assert!(Email::parse(&long).is_err());
    }

    #[test]
    fn email_rules_hold_for_the_lower_case_form_that_is_stored() {
        // `İ` (two bytes) lower-cases to `i` and a combining dot (three bytes).
        let dotted = |n: usize| "\u{130}".repeat(n);
        let domain = format!(
            "{a}.{a}.{a}.{b}.com",
            a = "a".repeat(63),
            b = "b".repeat(35)
        );
        // 254 characters as typed, 276 once lower-cased.
        let typed = format!("{}@{domain}", dotted(22));
        assert_eq!(typed.chars().count(), 254);
        let err = Email::parse(&typed).unwrap_err();
        assert_eq!(err.to_string(), "email must be at most 254 characters");
        // A local part of 22 `İ` is 44 bytes as typed but 66 once lower-cased, past the 64
        // a local part may hold; 20 (60 bytes) fit.
        assert!(Email::parse(&format!("{}@example.com", dotted(20))).is_ok());
        let err = Email::parse(&format!("{}@example.com", dotted(22))).unwrap_err();
        assert!(err.to_string().contains("valid address"), "{err}");
        let stored = Email::parse(&format!("{}@EXAMPLE.com", dotted(2))).unwrap();
        assert_eq!(stored.as_str(), "i\u{307}i\u{307}@example.com");
    }

    #[test]
    fn passwords_are_normalized_and_length_checked_in_characters() {
        assert!(Password::parse("1234567").is_err());
        assert!(Password::parse("12345678").is_ok());
        assert!(Password::parse(&"p".repeat(128)).is_ok());
        assert!(Password::parse(&"p".repeat(129)).is_err());
        assert!(Password::parse(&"p".repeat(100_000)).is_err());
        // Eight characters of four bytes each are eight characters, not 32.
        assert!(Password::parse(&"🔑".repeat(8)).is_ok());
        // A precomposed and a decomposed "é" normalise to the same password.
        let composed = Password::parse("caf\u{e9} au lait").unwrap();
        let decomposed = Password::parse("cafe\u{301} au lait").unwrap();
        assert_eq!(composed.expose(), decomposed.expose());
        // Full-width letters typed on an East Asian keyboard match their ASCII forms.
        let fullwidth = Password::parse("ｐａｓｓｗｏｒｄ１").unwrap();
        assert_eq!(fullwidth.expose(), "password1");
        assert_eq!(format!("{fullwidth:?}"), "Password(<redacted>)");
    }

    #[test]
    fn titles_are_trimmed_and_bounded() {
        assert_eq!(
            TaskTitle::parse("  buy milk ").unwrap().into_inner(),
            "buy milk"
        );
        assert!(TaskTitle::parse("   ").is_err());
        assert!(TaskTitle::parse(&"t".repeat(200)).is_ok());
        assert!(TaskTitle::parse(&"t".repeat(201)).is_err());
        assert!(TaskTitle::parse(&"界".repeat(200)).is_ok());
        assert!(TaskTitle::parse("a\0b").is_err());
        assert!(TaskTitle::parse("a\nb").is_err());
    }

    #[test]
    fn descriptions_are_bounded() {
        assert!(TaskDescription::parse("").is_ok());
        assert!(TaskDescription::parse("line\nline\ttab").is_ok());
        assert!(TaskDescription::parse(&"d".repeat(10_000)).is_ok());
        assert!(TaskDescription::parse(&"d".repeat(10_001)).is_err());
        assert!(TaskDescription::parse("nul\0").is_err());
    }
}
