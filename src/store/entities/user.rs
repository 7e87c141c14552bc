use sea_orm::entity::prelude::*;

use crate::domain::Role;

/// A row of `users`. Never exposed to GraphQL directly: it holds the password hash, which
/// its `Debug` leaves out.
#[derive(Clone, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "users")]
pub struct Model {
    #[sea_orm(primary_key, auto_increment = false)]
    pub id: Uuid,
    pub username: String,
    pub email: String,
    pub password_hash: String,
    pub role: Role,
    pub is_active: bool,
    pub email_verified: bool,
    pub created_at: DateTimeUtc,
    pub updated_at: DateTimeUtc,
    /// The confirmed TOTP secret, sealed; `None` while two-factor is off.
    pub totp_secret: Option<String>,
    /// A secret waiting for its first code, sealed.
    pub totp_pending: Option<String>,
    /// When the waiting secret was handed out.
    pub totp_pending_at: Option<DateTimeUtc>,
    /// The last TOTP time step accepted.
    pub totp_last_step: Option<i64>,
    pub last_login_at: Option<DateTimeUtc>,
}

impl std::fmt::Debug for Model {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("User")
            .field("id", &self.id)
            .field("username", &self.username)
            .field("role", &self.role)
            .field("is_active", &self.is_active)
            .field("password_hash", &"<redacted>")
            .field("two_factor", &self.totp_secret.is_some())
            .finish_non_exhaustive()
    }
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {
    #[sea_orm(has_many = "super::task::Entity")]
    Task,
    #[sea_orm(has_many = "super::session::Entity")]
    Session,
}

impl Related<super::task::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Task.def()
    }
}

impl Related<super::session::Entity> for Entity {
    fn to() -> RelationDef {
        Relation::Session.def()
    }
}

impl ActiveModelBehavior for ActiveModel {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_output_leaves_the_password_hash_out() {
        let now = chrono::Utc::now();
        let user = Model {
            id: Uuid::nil(),
            username: "alice".into(),
            email: "alice@example.com".into(),
            password_hash: "$argon2id$v=19$secret".into(),
            role: Role::User,
            is_active: true,
            email_verified: false,
            created_at: now,
            updated_at: now,
            totp_secret: Some("sealed-secret".into()),
            totp_pending: Some("sealed-pending".into()),
            totp_pending_at: None,
            totp_last_step: None,
            last_login_at: None,
        };
        let printed = format!("{user:?}");
        assert!(!printed.contains("argon2"), "{printed}");
        assert!(!printed.contains("sealed"), "{printed}");
        assert!(printed.contains("alice"));
    }
}
