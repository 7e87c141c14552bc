//! Two-factor for tests: turning it on over the API with a code computed from the secret
//! as an authenticator app would, and the second step of a login.

use serde_json::{Value, json};
use totp_rs::{Builder, Secret};

use super::documents::{BEGIN_TWO_FACTOR, ENABLE_TWO_FACTOR, VERIFY_LOGIN};
use super::{PASSWORD, TestApp, TestUser};

/// What an authenticator app holds for an account, and the recovery codes it was given.
pub struct Authenticator {
    secret: Vec<u8>,
    pub recovery_codes: Vec<String>,
    /// The code that turned two-factor on: its step is spent.
    pub enabling_code: String,
}

impl Authenticator {
    /// An authenticator for a base32 secret as `beginTwoFactorSetup` hands it out.
    pub fn for_secret(base32: &str) -> Self {
        let secret = Secret::try_from_base32(base32)
            .expect("a base32 secret")
            .as_bytes()
            .to_vec();
        Self {
            secret,
            recovery_codes: Vec::new(),
            enabling_code: String::new(),
        }
    }

    /// The code shown `offset` steps of 30 seconds from now (the server allows one either
    /// way; a code of a step it accepted once is never accepted again).
    pub fn code(&self, offset: i64) -> String {
        let totp = Builder::new()
            .with_secret(self.secret.as_slice())
            .with_account_name("test")
            .build()
            .expect("RFC 6238 parameters");
        let now = chrono::Utc::now().timestamp() + 30 * offset;
        totp.generate(now as u64).to_string()
    }
}

impl TestApp {
    /// Turns two-factor on for `user` (whose password is [`PASSWORD`]) as a client would:
    /// begins the setup and confirms it with the current code.
    pub async fn two_factor_on(&self, user: &TestUser) -> Authenticator {
        let setup = self
            .gql(
                Some(&user.token),
                BEGIN_TWO_FACTOR,
                json!({ "p": PASSWORD }),
            )
            .await;
        let secret = setup["data"]["beginTwoFactorSetup"]["secret"]
            .as_str()
            .unwrap_or_else(|| panic!("no setup: {setup}"));
        let mut authenticator = Authenticator::for_secret(secret);
        authenticator.enabling_code = authenticator.code(0);
        let enabled = self
            .gql(
                Some(&user.token),
                ENABLE_TWO_FACTOR,
                json!({ "c": authenticator.enabling_code }),
            )
            .await;
        authenticator.recovery_codes = enabled["data"]["enableTwoFactor"]
            .as_array()
            .unwrap_or_else(|| panic!("not enabled: {enabled}"))
            .iter()
            .map(|code| code.as_str().expect("a code").to_owned())
            .collect();
        authenticator
    }

    /// The challenge a correct login answers with when two-factor is on.
    pub async fn challenge(&self, username: &str) -> String {
        let login = self.login(username, PASSWORD).await;
        assert_eq!(
            login["errors"][0]["extensions"]["code"], "SECOND_FACTOR_REQUIRED",
            "{login}"
        );
        login["errors"][0]["extensions"]["challenge"]
            .as_str()
            .unwrap_or_else(|| panic!("no challenge: {login}"))
            .to_owned()
    }

    /// The access token of a login of `username` completed with `code`.
    pub async fn token_with_code(&self, username: &str, code: &str) -> String {
        let challenge = self.challenge(username).await;
        let verified = self.verify_login(&challenge, code).await;
        verified["data"]["verifyLogin"]["accessToken"]
            .as_str()
            .unwrap_or_else(|| panic!("the code was refused: {verified}"))
            .to_owned()
    }

    /// `verifyLogin` with `challenge` and `code`.
    pub async fn verify_login(&self, challenge: &str, code: &str) -> Value {
        self.gql(None, VERIFY_LOGIN, json!({ "ch": challenge, "c": code }))
            .await
    }

    /// Lets TOTP codes of steps already used count again, as if time had passed: what the
    /// replay guard remembers is the last step accepted.
    pub async fn forget_used_steps(&self) {
        self.execute("UPDATE users SET totp_last_step = NULL").await;
    }
}
