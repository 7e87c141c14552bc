//! The mail flows: verifying an address, resetting a forgotten password and changing the
//! account's address. Tokens arrive by mail only, in the fragment of a link.

use async_graphql::{Context, Object};

use super::{client, state, viewer};
use crate::auth::Authentication;
use crate::error::AppError;

/// Mutations that send mail or use its links.
#[derive(Default)]
pub struct EmailMutation;

#[Object]
impl EmailMutation {
    /// Sends a new verification link: to the viewer's address when signed in (`email` is
    /// then ignored), else to `email`. Always true, whether or not an account with an
    /// unverified address has it. FORBIDDEN when the server has mail turned off.
    async fn request_email_verification(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The address to verify; only read when not signed in.")] email: Option<
            String,
        >,
    ) -> Result<bool, AppError> {
        let signed_in = match ctx.data_opt::<Authentication>() {
            Some(Authentication::Viewer(_)) => Some(viewer(ctx)?),
            _ => None,
        };
        state(ctx)
            .accounts()
            .request_email_verification(signed_in, email.as_deref(), client(ctx))
            .await?;
        Ok(true)
    }

    /// Confirms an address with the token from a verification or change-of-address link.
    /// Any token that cannot be used (wrong, used, expired, replaced) is one
    /// BAD_USER_INPUT; CONFLICT when a new address was registered by another account
    /// meanwhile.
    async fn verify_email(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The token from the link (after `#token=`).")] token: String,
    ) -> Result<bool, AppError> {
        state(ctx)
            .accounts()
            .verify_email(&token, client(ctx))
            .await?;
        Ok(true)
    }

    /// Sends a password reset link to `email`. Always true, at the same cost whether or
    /// not the address is registered. FORBIDDEN when the server has mail turned off.
    async fn request_password_reset(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The account's address.")] email: String,
    ) -> Result<bool, AppError> {
        state(ctx)
            .accounts()
            .request_password_reset(&email, client(ctx))
            .await?;
        Ok(true)
    }

    /// Sets a new password with the token from a reset link, under the sign-up rules.
    /// Every session of the account ends and its owner is told by mail. A token that
    /// cannot be used is one BAD_USER_INPUT; a refused password leaves it usable. With
    /// two-factor on, SECOND_FACTOR_REQUIRED unless `code` is valid (the link stays usable).
    async fn reset_password(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The token from the link (after `#token=`).")] token: String,
        #[graphql(desc = "The new password; the same rules as at sign-up.")] new_password: String,
        #[graphql(desc = "A TOTP or recovery code; required when the account has two-factor on.")]
        code: Option<String>,
    ) -> Result<bool, AppError> {
        state(ctx)
            .accounts()
            .reset_password(&token, &new_password, code.as_deref(), client(ctx))
            .await?;
        Ok(true)
    }

    /// Asks to move the viewer's account to `newEmail`: a link goes to the new address and
    /// a notice to the old one; the address changes only when the link is used. CONFLICT
    /// when the address is registered already; FORBIDDEN when mail is turned off; with
    /// two-factor on, SECOND_FACTOR_REQUIRED unless `code` is valid.
    async fn change_email(
        &self,
        ctx: &Context<'_>,
        #[graphql(desc = "The address to move to.")] new_email: String,
        #[graphql(desc = "The account's password, as confirmation.")] password: String,
        #[graphql(desc = "A TOTP or recovery code; required when the account has two-factor on.")]
        code: Option<String>,
    ) -> Result<bool, AppError> {
        let viewer = viewer(ctx)?;
        state(ctx)
            .accounts()
            .change_email(viewer, &new_email, &password, code.as_deref(), client(ctx))
            .await?;
        Ok(true)
    }
}
