//! Schema migrations for taskql. The same migrations run on SQLite and PostgreSQL.

pub use sea_orm_migration::prelude::*;

mod m20261127_000001_create_users;
mod m20261127_000002_create_tasks;
mod m20261127_000003_create_sessions;
mod m20261127_000004_task_listing;
mod m20261201_000005_email;
mod m20261202_000006_second_factor;
mod m20261202_000007_security_event_role;

/// Every migration taskql knows, oldest first.
pub struct Migrator;

#[async_trait::async_trait]
impl MigratorTrait for Migrator {
    fn migrations() -> Vec<Box<dyn MigrationTrait>> {
        vec![
            Box::new(m20261127_000001_create_users::Migration),
            Box::new(m20261127_000002_create_tasks::Migration),
            Box::new(m20261127_000003_create_sessions::Migration),
            Box::new(m20261127_000004_task_listing::Migration),
            Box::new(m20261201_000005_email::Migration),
            Box::new(m20261202_000006_second_factor::Migration),
            Box::new(m20261202_000007_security_event_role::Migration),
        ]
    }
}
