use sea_orm_migration::prelude::*;

use crate::m20261127_000001_create_users::Users;
use crate::m20261127_000003_create_sessions::Sessions;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        // SQLite alters one column per statement.
        let user_columns = [
            // The confirmed TOTP secret, sealed with DATA_ENCRYPTION_KEY; null: two-factor off.
            ColumnDef::new(SecondFactor::TotpSecret)
                .string_len(256)
                .null()
                .to_owned(),
            // A secret handed out by beginTwoFactorSetup and not confirmed yet, sealed too,
            // and when it was handed out: it must be confirmed soon after.
            ColumnDef::new(SecondFactor::TotpPending)
                .string_len(256)
                .null()
                .to_owned(),
            timestamp(SecondFactor::TotpPendingAt).null().to_owned(),
            // The last time step a code was accepted for: no code of that step or earlier
            // is accepted again.
            ColumnDef::new(SecondFactor::TotpLastStep)
                .big_integer()
                .null()
                .to_owned(),
            timestamp(SecondFactor::LastLoginAt).null().to_owned(),
        ];
        for column in user_columns {
            manager
                .alter_table(
                    Table::alter()
                        .table(Users::Table)
                        .add_column(column)
                        .to_owned(),
                )
                .await?;
        }
        // How the session was established (the access token's `amr`): "pwd", or "pwd otp".
        manager
            .alter_table(
                Table::alter()
                    .table(Sessions::Table)
                    .add_column(
                        ColumnDef::new(SecondFactor::Amr)
                            .string_len(32)
                            .not_null()
                            .default("pwd"),
                    )
                    .to_owned(),
            )
            .await?;
        // Single-use recovery codes, by salted SHA-256 only; a row goes when it is used.
        manager
            .create_table(
                Table::create()
                    .table(RecoveryCodes::Table)
                    .col(
                        ColumnDef::new(RecoveryCodes::CodeHash)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(RecoveryCodes::UserId).uuid().not_null())
                    .col(timestamp(RecoveryCodes::CreatedAt).not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_recovery_codes_user")
                            .from(RecoveryCodes::Table, RecoveryCodes::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_recovery_codes_user")
                    .table(RecoveryCodes::Table)
                    .col(RecoveryCodes::UserId)
                    .to_owned(),
            )
            .await?;
        // The second step of a login: by SHA-256 only, bound to the password hash that
        // checked out, with the guesses spent on it.
        manager
            .create_table(
                Table::create()
                    .table(LoginChallenges::Table)
                    .col(
                        ColumnDef::new(LoginChallenges::TokenHash)
                            .string_len(64)
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(LoginChallenges::UserId).uuid().not_null())
                    .col(
                        ColumnDef::new(LoginChallenges::PasswordDigest)
                            .string_len(64)
                            .not_null(),
                    )
                    .col(
                        ColumnDef::new(LoginChallenges::Attempts)
                            .integer()
                            .not_null(),
                    )
                    .col(timestamp(LoginChallenges::CreatedAt).not_null())
                    .col(timestamp(LoginChallenges::ExpiresAt).not_null())
                    .foreign_key(
                        ForeignKey::create()
                            .name("fk_login_challenges_user")
                            .from(LoginChallenges::Table, LoginChallenges::UserId)
                            .to(Users::Table, Users::Id)
                            .on_delete(ForeignKeyAction::Cascade),
                    )
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_login_challenges_expires")
                    .table(LoginChallenges::Table)
                    .col(LoginChallenges::ExpiresAt)
                    .to_owned(),
            )
            .await?;
        // Each account's security history. No foreign key: an administrator's log keeps the
        // events of deleted accounts until they age out.
        manager
            .create_table(
                Table::create()
                    .table(SecurityEvents::Table)
                    .col(
                        ColumnDef::new(SecurityEvents::Id)
                            .uuid()
                            .not_null()
                            .primary_key(),
                    )
                    .col(ColumnDef::new(SecurityEvents::UserId).uuid().not_null())
                    .col(ColumnDef::new(SecurityEvents::ActorId).uuid().null())
                    .col(ColumnDef::new(SecurityEvents::SessionId).uuid().null())
                    .col(
                        ColumnDef::new(SecurityEvents::Kind)
                            .string_len(32)
                            .not_null(),
                    )
                    .col(ColumnDef::new(SecurityEvents::Ip).string_len(64).null())
                    .col(
                        ColumnDef::new(SecurityEvents::UserAgent)
                            .string_len(512)
                            .null(),
                    )
                    .col(timestamp(SecurityEvents::At).not_null())
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_security_events_user")
                    .table(SecurityEvents::Table)
                    .col(SecurityEvents::UserId)
                    .col(SecurityEvents::At)
                    .col(SecurityEvents::Id)
                    .to_owned(),
            )
            .await?;
        manager
            .create_index(
                Index::create()
                    .name("idx_security_events_at")
                    .table(SecurityEvents::Table)
                    .col(SecurityEvents::At)
                    .col(SecurityEvents::Id)
                    .to_owned(),
            )
            .await
    }

    async fn down(&self, manager: &SchemaManager) -> Result<(), DbErr> {
        for table in [
            SecurityEvents::Table.into_iden(),
            LoginChallenges::Table.into_iden(),
            RecoveryCodes::Table.into_iden(),
        ] {
            manager
                .drop_table(Table::drop().table(table).to_owned())
                .await?;
        }
        manager
            .alter_table(
                Table::alter()
                    .table(Sessions::Table)
                    .drop_column(SecondFactor::Amr)
                    .to_owned(),
            )
            .await?;
        for column in [
            SecondFactor::TotpSecret,
            SecondFactor::TotpPending,
            SecondFactor::TotpPendingAt,
            SecondFactor::TotpLastStep,
            SecondFactor::LastLoginAt,
        ] {
            manager
                .alter_table(
                    Table::alter()
                        .table(Users::Table)
                        .drop_column(column)
                        .to_owned(),
                )
                .await?;
        }
        Ok(())
    }
}

fn timestamp<T: IntoIden>(column: T) -> ColumnDef {
    ColumnDef::new(column).timestamp_with_time_zone().to_owned()
}

/// Columns added to `users` and `sessions`.
#[derive(DeriveIden)]
enum SecondFactor {
    TotpSecret,
    TotpPending,
    TotpPendingAt,
    TotpLastStep,
    LastLoginAt,
    Amr,
}

#[derive(DeriveIden)]
enum RecoveryCodes {
    Table,
    CodeHash,
    UserId,
    CreatedAt,
}

#[derive(DeriveIden)]
enum LoginChallenges {
    Table,
    TokenHash,
    UserId,
    PasswordDigest,
    Attempts,
    CreatedAt,
    ExpiresAt,
}

#[derive(DeriveIden)]
enum SecurityEvents {
    Table,
    Id,
    UserId,
    ActorId,
    SessionId,
    Kind,
    Ip,
    UserAgent,
    At,
}
