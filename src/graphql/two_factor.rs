//! The second factor: `beginTwoFactorSetup`, `enableTwoFactor`, `disableTwoFactor`,
//! `regenerateRecoveryCodes` and `verifyLogin`.

use async_graphql::{Context, Object, SimpleObject};

use super::users::AuthPayload;
use super::{client, state, viewer};
use crate::auth::totp::Setup;
use crate::client::ClientMeta;
use crate::error::AppError;

/// What `beginTwoFactorSetup` returns: everything an authenticator app needs. Shown once;
/// keep it secret.
#[derive(SimpleObject)]
pub struct TwoFactorSetup {
    /// The secret in base32, for typing in by hand.
    secret: String,
    /// `otpauth://totp/<issuer>:<username>?secret=…&issuer=<issuer>`.
    otpauth_uri: String,
    /// The same URI as an SVG image of a QR code, ready to show.
    qr_code_svg: String,
}

impl From<Setup> for TwoFactorSetup {
    fn from(setup: Setup) -> Self {
        Self {
            secret: setup.secret,
            otpauth_uri: setup.uri,
            qr_code_svg: setup.qr_code_svg,
        }
    }
}

/// Second-factor mutations.
#[derive(Default)]
pub struct TwoFactorMutation;

#[Object]
impl TwoFactorMutation {
    /// Starts setting up a TOTP authenticator (RFC 6238: SHA-1, 6 digits, 30 seconds):
    /// returns a fresh secret. Nothing changes until `enableTwoFactor` confirms it; calling
    /// again replaces the secret. CONFLICT when two-factor is on already; a wrong password
    /// is BAD_USER_INPUT and backs off as `changePassword`'s do.
    async fn begin_two_factor_setup(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The account's password, as confirmation.")] password: String,
    ) -> Result<TwoFactorSetup, AppError> {
        let viewer = viewer(ctx)?;
        let setup = state(ctx)
            .accounts()
            .begin_two_factor_setup(viewer, &password, client(ctx))
            .await?;
        Ok(setup.into())
    }

    /// Turns two-factor on with the secret `beginTwoFactorSetup` returned, once `code`
    /// shows the authenticator holds it. Returns ten single-use recovery codes, shown this
    /// once: each replaces a TOTP once, for a lost phone.
    async fn enable_two_factor(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The code the authenticator shows now.")] code: String,
    ) -> Result<Vec<String>, AppError> {
        let viewer = viewer(ctx)?;
        state(ctx)
            .accounts()
            .enable_two_factor(viewer, &code, client(ctx))
            .await
    }

    /// Turns two-factor off; the owner is told by mail. SECOND_FACTOR_REQUIRED when `code`
    /// is wrong; BAD_USER_INPUT when two-factor is off already.
    async fn disable_two_factor(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The account's password, as confirmation.")] password: String,
        #[graphql(desc = "A TOTP or recovery code.")] code: String,
    ) -> Result<bool, AppError> {
        let viewer = viewer(ctx)?;
        state(ctx)
            .accounts()
            .disable_two_factor(viewer, &password, &code, client(ctx))
            .await?;
        Ok(true)
    }

    /// Replaces the recovery codes with ten fresh ones, shown this once; the old ones stop
    /// working and the owner is told by mail. SECOND_FACTOR_REQUIRED when `code` is wrong.
    async fn regenerate_recovery_codes(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The account's password, as confirmation.")] password: String,
        #[graphql(desc = "A TOTP or recovery code.")] code: String,
    ) -> Result<Vec<String>, AppError> {
        let viewer = viewer(ctx)?;
        state(ctx)
            .accounts()
            .regenerate_recovery_codes(viewer, &password, &code, client(ctx))
            .await
    }

    /// Completes a login that answered SECOND_FACTOR_REQUIRED: its `extensions.challenge`
    /// and a TOTP or an unused recovery code. A wrong code is SECOND_FACTOR_REQUIRED; the
    /// challenge allows five codes in five minutes and one success, and is UNAUTHENTICATED
    /// after that (log in again). Wrong codes back off per account, as failed logins do.
    async fn verify_login(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "`extensions.challenge` of the login's error.")] challenge: String,
        #[graphql(desc = "A TOTP or a recovery code.")] code: String,
    ) -> Result<AuthPayload, AppError> {
        let client = ctx.data_opt::<ClientMeta>().cloned().unwrap_or_default();
        let signed_in = state(ctx)
            .accounts()
            .verify_login(&challenge, &code, client)
            .await?;
        Ok(signed_in.into())
    }
}
