use uuid::Uuid;

use super::Amr;
use crate::domain::Role;

/// The authenticated user a request acts for, and the session its token belongs to. Only
/// the request guard creates one, so code that holds a `Viewer` knows its token was valid,
/// its session live and its account active.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Viewer {
    user_id: Uuid,
    session_id: Uuid,
    role: Role,
    amr: Amr,
    two_factor_enabled: bool,
}

impl Viewer {
    pub(super) fn new(
        user_id: Uuid,
        session_id: Uuid,
        role: Role,
        amr: Amr,
        two_factor_enabled: bool,
    ) -> Self {
        Self {
            user_id,
            session_id,
            role,
            amr,
            two_factor_enabled,
        }
    }

    pub fn user_id(&self) -> Uuid {
        self.user_id
    }

    pub fn session_id(&self) -> Uuid {
        self.session_id
    }

    /// The account's role as the guard read it for this request.
    pub fn role(&self) -> Role {
        self.role
    }

    /// How the session was established: with a password alone, or with a second factor too.
    pub fn amr(&self) -> Amr {
        self.amr
    }

    /// Whether the account had two-factor on when the guard read it.
    pub fn two_factor_enabled(&self) -> bool {
        self.two_factor_enabled
    }
}
