//! Administrators for tests, made as `taskql user promote` makes them: by the role column;
//! and the admin mutations most tests send.

use serde_json::{Value, json};

use super::documents::{SET_USER_ACTIVE, SET_USER_ROLE};
use super::{TestApp, TestUser};

impl TestApp {
    /// Makes `username` an administrator straight in the database; the guard reads the
    /// role on the next request.
    pub async fn promote(&self, username: &str) {
        self.execute(&format!(
            "UPDATE users SET role = 'admin' WHERE username = '{username}'"
        ))
        .await;
    }

    /// An administrator `username` (see [`TestApp::user`]), logged in with a password
    /// alone: enough wherever `ADMIN_REQUIRE_TWO_FACTOR` is off, as in development.
    pub async fn admin(&self, username: &str) -> TestUser {
        let user = self.user(username).await;
        self.promote(username).await;
        user
    }

    /// `setUserActive(id, active)` sent by `admin`, answering the body.
    pub async fn set_active(&self, admin: &TestUser, id: &str, active: bool) -> Value {
        self.gql(
            Some(&admin.token),
            SET_USER_ACTIVE,
            json!({ "id": id, "active": active }),
        )
        .await
    }

    /// `setUserRole(id, role)` sent by `admin`, answering the body.
    pub async fn set_role(&self, admin: &TestUser, id: &str, role: &str) -> Value {
        self.gql(
            Some(&admin.token),
            SET_USER_ROLE,
            json!({ "id": id, "role": role }),
        )
        .await
    }
}
