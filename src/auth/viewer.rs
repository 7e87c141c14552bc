use uuid::Uuid;

use crate::domain::Role;

/// The authenticated user a request acts for, and the session its token belongs to. Only
/// the request guard creates one, so code that holds a `Viewer` knows its token was valid,
/// its session live and its account active.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Viewer {
    user_id: Uuid,
    session_id: Uuid,
    role: Role,
}

impl Viewer {
    pub(super) fn new(user_id: Uuid, session_id: Uuid, role: Role) -> Self {
        Self {
            user_id,
            session_id,
            role,
        }
    }

    pub fn user_id(&self) -> Uuid {
        self.user_id
    }

    pub fn session_id(&self) -> Uuid {
        self.session_id
    }

    pub fn role(&self) -> Role {
        self.role
    }
}
