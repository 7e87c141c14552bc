//! The administrator capability. Every admin field takes an [`Admin`], and the only way to
//! make one is [`Admin::authorize`] on the request's viewer, whose role the guard read
//! from the account for this very request.

use uuid::Uuid;

use super::{Amr, Viewer};
use crate::domain::Role;
use crate::error::AppError;

/// Why a viewer who is not an administrator is refused.
pub const NOT_ADMIN_MESSAGE: &str = "This needs an administrator account.";
/// Why an administrator with two-factor on is refused a session that skipped it.
pub const SESSION_WITHOUT_CODE_MESSAGE: &str = "Administration needs a session that began with your second factor: log in again and enter your code.";
/// Why an administrator without two-factor is refused where it is required.
pub const TURN_ON_TWO_FACTOR_MESSAGE: &str =
    "Administration needs two-factor authentication: turn it on for your account first.";

/// What the admin API asks of an administrator beyond the role.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdminPolicy {
    /// An administrator without two-factor is refused (`ADMIN_REQUIRE_TWO_FACTOR`).
    pub require_two_factor: bool,
}

/// Proof that the request acts for an administrator allowed to administer now. It carries
/// the administrator's id for the audit trail and nothing that reads tasks.
#[derive(Debug)]
pub struct Admin {
    user_id: Uuid,
}

impl Admin {
    /// The capability of `viewer`, or FORBIDDEN saying what is missing: the role, a
    /// session that began with the second factor when the account has one, or (when
    /// `policy` requires it) the second factor itself.
    pub fn authorize(viewer: &Viewer, policy: AdminPolicy) -> Result<Self, AppError> {
        if viewer.role() != Role::Admin {
            return Err(AppError::Forbidden(NOT_ADMIN_MESSAGE));
        }
        if viewer.two_factor_enabled() {
            if viewer.amr() != Amr::PasswordAndOtp {
                return Err(AppError::Forbidden(SESSION_WITHOUT_CODE_MESSAGE));
            }
        } else if policy.require_two_factor {
            return Err(AppError::Forbidden(TURN_ON_TWO_FACTOR_MESSAGE));
        }
        Ok(Self {
            user_id: viewer.user_id(),
        })
    }

    /// The administrator's account id.
    pub fn user_id(&self) -> Uuid {
        self.user_id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn viewer(role: Role, amr: Amr, two_factor: bool) -> Viewer {
        Viewer::new(Uuid::now_v7(), Uuid::now_v7(), role, amr, two_factor)
    }

    fn refusal(viewer: &Viewer, require_two_factor: bool) -> Option<&'static str> {
        match Admin::authorize(viewer, AdminPolicy { require_two_factor }) {
            Ok(admin) => {
                assert_eq!(admin.user_id(), viewer.user_id());
                None
            }
            Err(AppError::Forbidden(message)) => Some(message),
            Err(other) => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn only_administrators_get_the_capability() {
        for amr in [Amr::Password, Amr::PasswordAndOtp] {
            for two_factor in [false, true] {
                for required in [false, true] {
                    assert_eq!(
                        refusal(&viewer(Role::User, amr, two_factor), required),
                        Some(NOT_ADMIN_MESSAGE)
                    );
                }
            }
        }
    }

    #[test]
    fn an_administrator_with_two_factor_needs_a_session_that_used_it() {
        for required in [false, true] {
            assert_eq!(
                refusal(&viewer(Role::Admin, Amr::Password, true), required),
                Some(SESSION_WITHOUT_CODE_MESSAGE)
            );
            assert_eq!(
                refusal(&viewer(Role::Admin, Amr::PasswordAndOtp, true), required),
                None
            );
        }
    }

    #[test]
    fn an_administrator_without_two_factor_is_refused_only_where_it_is_required() {
        let admin = viewer(Role::Admin, Amr::Password, false);
        assert_eq!(refusal(&admin, false), None);
        assert_eq!(refusal(&admin, true), Some(TURN_ON_TWO_FACTOR_MESSAGE));
    }
}
