//! The state every resolver and handler shares, apart from the code that builds it, so
//! that `auth`, `graphql` and `http` need not import startup.

use sea_orm::DatabaseConnection;

use crate::auth::{AdminPolicy, Authenticator, JwtKeys, PasswordHasher, SessionCache};
use crate::mail::Mail;
use crate::services::{Accounts, Administration, SessionSettings, Sessions, TwoFactorSettings};
use crate::store::events::TaskEvents;
use crate::throttle::Throttle;

/// What resolvers and handlers share: the pool, the keys, the hashing pool and the
/// session rules.
#[derive(Clone)]
pub struct AppState {
    pub db: DatabaseConnection,
    pub keys: JwtKeys,
    pub passwords: PasswordHasher,
    pub events: TaskEvents,
    pub session_settings: SessionSettings,
    pub session_cache: SessionCache,
    /// Login backoff and rate limits, with their counters.
    pub throttle: Throttle,
    /// The outbox's rules and its worker's bell.
    pub mail: Mail,
    /// The data keys and issuer name of the second factor.
    pub two_factor: TwoFactorSettings,
    /// A small pool for background work (the mail worker, deferred history writes), so
    /// it neither waits for nor holds up request connections.
    pub background: DatabaseConnection,
    /// What the admin API asks of administrators beyond their role.
    pub admin_policy: AdminPolicy,
}

impl AppState {
    /// The part of the state that authenticates a request.
    pub fn authenticator(&self) -> Authenticator<'_> {
        Authenticator {
            keys: &self.keys,
            session_cache: &self.session_cache,
            db: &self.db,
        }
    }

    /// The session service over this state.
    pub fn sessions(&self) -> Sessions<'_> {
        Sessions {
            db: &self.db,
            keys: &self.keys,
            session_cache: &self.session_cache,
            settings: self.session_settings,
        }
    }

    /// The admin service over this state.
    pub fn administration(&self) -> Administration<'_> {
        Administration {
            db: &self.db,
            session_cache: &self.session_cache,
        }
    }

    /// The account service over this state.
    pub fn accounts(&self) -> Accounts<'_> {
        Accounts {
            db: &self.db,
            passwords: &self.passwords,
            throttle: &self.throttle,
            sessions: self.sessions(),
            mail: &self.mail,
            two_factor: &self.two_factor,
            background: &self.background,
        }
    }
}
