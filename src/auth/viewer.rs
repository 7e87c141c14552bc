use uuid::Uuid;

use crate::domain::Role;

/// The authenticated user a request acts for. Only the request guard creates one, so code
/// that holds a `Viewer` knows its token was valid and its account active.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Viewer {
    user_id: Uuid,
    role: Role,
}

impl Viewer {
    pub(super) fn new(user_id: Uuid, role: Role) -> Self {
        Self { user_id, role }
    }

    pub fn user_id(&self) -> Uuid {
        self.user_id
    }

    pub fn role(&self) -> Role {
        self.role
    }
}
