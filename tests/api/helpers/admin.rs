//! Administrators for tests, made as `taskql user promote` makes them: by the role column.

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
}
