use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // On a change of role, the role the account was given ("user" or "admin"); null for
        // every other event.
        manager
            .alter_table(
                Table::alter()
                    .table(SecurityEvents::Table)
                    .add_column(ColumnDef::new(SecurityEvents::Role).string_len(16).null())
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        manager
            .alter_table(
                Table::alter()
                    .table(SecurityEvents::Table)
                    .drop_column(SecurityEvents::Role)
                    .to_owned(),
            )
            .await
    }
}

#[derive(DeriveIden)]
enum SecurityEvents {
    Table,
    Role,
}
