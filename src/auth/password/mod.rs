//! argon2id hashing on a pool of threads of its own ([`threads`]), with the counts of
//! the work it did ([`work`]).

mod threads;
mod work;

use std::sync::{Arc, mpsc};
use std::time::{Duration, Instant};

use anyhow::Context;
use argon2::password_hash::PasswordHash;
use argon2::{Algorithm, Argon2, Params, Version};

pub use work::HashingWork;

use super::fair::FairTurns;
use crate::client::{ClientMeta, client_network};
use crate::domain::Password;
use crate::error::AppError;
use crate::store::users::PasswordHash as StoredHash;
use threads::{HashingThreads, Memory};

/// The key to a stored hash's text: only this module can make one, so only the password
/// verifier reads a hash, whoever else holds it.
pub struct Verifying(());

const VERIFYING: Verifying = Verifying(());

/// Hashes and verifies passwords off the async workers, on `max_concurrent` threads of
/// its own that run at a lower scheduling priority, so a login flood queues here and uses
/// the cores that requests leave idle instead of starving them; the turns go round-robin
/// between clients (by network, as the throttles count them), so one client's backlog does
/// not hold back anyone else's login or sign-up.
#[derive(Clone)]
pub struct PasswordHasher {
    argon2: Argon2<'static>,
    turns: FairTurns,
    threads: HashingThreads,
    /// Verified against when the account does not exist, so that "no such user" costs
    /// as much time as "wrong password".
    dummy_hash: Arc<str>,
    work: HashingWork,
}

impl PasswordHasher {
    /// argon2id with `params` (at least OWASP's m = 19 MiB, t = 2, p = 1, which
    /// [`Params::DEFAULT`] is).
    pub fn new(params: Params, max_concurrent: usize) -> anyhow::Result<Self> {
        let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
        let threads = HashingThreads::start(max_concurrent.max(1))?;
        // The dummy hash is made, and verified once, on a hashing thread, so its memory is
        // the one that thread keeps. The verification seeds the typical duration, so a
        // throttled login that comes before any real verification already takes the right
        // time.
        let (reply, answer) = mpsc::channel();
        let seeding = argon2.clone();
        threads.send(Box::new(move |memory| {
            let _ = reply.send(seed(&seeding, memory));
        }))?;
        let (dummy_hash, took) = answer
            .recv()
            .context("the hashing thread stopped before the dummy hash was made")??;
        let work = HashingWork::default();
        work.seed(took);
        Ok(Self {
            argon2,
            turns: FairTurns::new(max_concurrent),
            threads,
            dummy_hash: dummy_hash.into(),
            work,
        })
    }

    /// The counts of argon2 work done by this hasher and its clones.
    pub fn work(&self) -> HashingWork {
        self.work.clone()
    }

    /// A PHC string for `password`, hashed in a turn of `client`'s.
    pub async fn hash(
        &self,
        password: &Password,
        client: &ClientMeta,
    ) -> Result<StoredHash, AppError> {
        let argon2 = self.argon2.clone();
        let password = password.expose().to_owned();
        let work = self.work.clone();
        self.run(client, move |memory| {
            work.count_hash();
            memory.hash(&argon2, &password)
        })
        .await?
        .map(StoredHash::new)
        .map_err(AppError::from)
    }

    /// Whether `password` matches `hash`, checked in a turn of `client`'s; with no hash,
    /// spends one verification against the dummy hash and returns false.
    pub async fn verify(
        &self,
        password: &Password,
        hash: Option<&StoredHash>,
        client: &ClientMeta,
    ) -> Result<bool, AppError> {
        let password = password.expose().to_owned();
        let (hash, real) = match hash {
            Some(hash) => (hash.expose(&VERIFYING).to_owned(), true),
            None => (self.dummy_hash.to_string(), false),
        };
        let work = self.work.clone();
        let matches = self
            .run(client, move |memory| {
                PasswordHash::new(&hash)
                    .map(|parsed| {
                        let started = Instant::now();
                        let matches = memory.verify(password.as_bytes(), &parsed);
                        work.count_verification(started.elapsed());
                        matches
                    })
                    .map_err(|err| anyhow::anyhow!("stored password hash is malformed: {err}"))
            })
            .await??;
        Ok(real && matches)
    }

    /// Whether `hash` was made with another algorithm or weaker parameters than configured,
    /// so that a successful login should store a fresh hash.
    pub fn needs_rehash(&self, hash: &StoredHash) -> bool {
        let Ok(parsed) = PasswordHash::new(hash.expose(&VERIFYING)) else {
            return true;
        };
        let Ok(stored) = Params::try_from(&parsed) else {
            return true;
        };
        let wanted = self.argon2.params();
        parsed.algorithm != Algorithm::Argon2id.ident()
            || stored.m_cost() < wanted.m_cost()
            || stored.t_cost() < wanted.t_cost()
            || stored.p_cost() < wanted.p_cost()
    }

    /// Spends the time of one verification without a password, for logins that fail
    /// before a password could be checked.
    pub async fn verify_dummy(&self, client: &ClientMeta) -> Result<(), AppError> {
        let placeholder = Password::parse(&generate_dummy_password())?;
        self.verify(&placeholder, None, client).await.map(|_| ())
    }

    /// Takes as long as a typical verification without running one, for answers that must
    /// not be told apart from a failed login by their timing but must not occupy the
    /// hashing pool either: a throttled client would otherwise keep it busy for free and
    /// make real logins queue.
    pub async fn sleep_like_verify(&self) {
        self.work.count_sleep();
        tokio::time::sleep(self.work.typical_verification()).await;
    }

    /// Runs `work` on a hashing thread in a turn of `client`'s network. The turn moves
    /// into the job, so a client that disconnects mid-hash frees nothing early.
    async fn run<T: Send + 'static>(
        &self,
        client: &ClientMeta,
        work: impl FnOnce(&mut Memory) -> T + Send + 'static,
    ) -> Result<T, AppError> {
        let turn = self
            .turns
            .take(&client_network(client.ip.as_deref().unwrap_or("unknown")))
            .await;
        let (done, result) = tokio::sync::oneshot::channel();
        self.threads.send(Box::new(move |memory| {
            let _turn = turn;
            // The caller may have gone; its turn is over either way.
            let _ = done.send(work(memory));
        }))?;
        Ok(result.await.context("password hashing task failed")?)
    }
}

/// The dummy hash, and how long verifying it took.
fn seed(argon2: &Argon2<'_>, memory: &mut Memory) -> anyhow::Result<(String, Duration)> {
    let dummy_password = generate_dummy_password();
    let dummy_hash = memory.hash(argon2, &dummy_password)?;
    let parsed = PasswordHash::new(&dummy_hash)
        .map_err(|err| anyhow::anyhow!("dummy hash is malformed: {err}"))?;
    let started = Instant::now();
    anyhow::ensure!(
        memory.verify(dummy_password.as_bytes(), &parsed),
        "dummy hash does not verify"
    );
    Ok((dummy_hash, started.elapsed()))
}

fn generate_dummy_password() -> String {
    crate::config::generate_secret()
}

#[cfg(test)]
mod tests {
    use crate::client::ClientMeta;

    fn anyone() -> ClientMeta {
        ClientMeta::default()
    }

    use super::*;

    #[tokio::test]
    async fn hashes_are_argon2id_phc_strings_that_verify() {
        let hasher = PasswordHasher::new(Params::DEFAULT, 2).unwrap();
        let password = Password::parse("correct horse battery staple").unwrap();
        let hash = hasher.hash(&password, &anyone()).await.unwrap();
        let text = hash.expose(&VERIFYING);
        assert!(
            text.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{text}"
        );
        assert!(!text.contains("correct horse"));
        assert!(
            hasher
                .verify(&password, Some(&hash), &anyone())
                .await
                .unwrap()
        );
        let wrong = Password::parse("incorrect horse battery").unwrap();
        assert!(!hasher.verify(&wrong, Some(&hash), &anyone()).await.unwrap());
        // The same password hashes differently each time (fresh salt).
        assert_ne!(hash, hasher.hash(&password, &anyone()).await.unwrap());
    }

    #[tokio::test]
    async fn weaker_hashes_need_rehashing() {
        let hasher = PasswordHasher::new(Params::DEFAULT, 1).unwrap();
        let password = Password::parse("correct horse battery staple").unwrap();
        let current = hasher.hash(&password, &anyone()).await.unwrap();
        assert!(!hasher.needs_rehash(&current));
        let weak = PasswordHasher::new(Params::new(8192, 1, 1, None).unwrap(), 1).unwrap();
        let old = weak.hash(&password, &anyone()).await.unwrap();
        assert!(hasher.needs_rehash(&old));
        assert!(
            hasher
                .verify(&password, Some(&old), &anyone())
                .await
                .unwrap()
        );
        let stronger = PasswordHasher::new(Params::new(32768, 3, 1, None).unwrap(), 1).unwrap();
        assert!(stronger.needs_rehash(&current));
        assert!(!weak.needs_rehash(&current));
        assert!(hasher.needs_rehash(&StoredHash::new("$2b$12$notargon".into())));
    }

    #[tokio::test]
    async fn the_dummy_hash_costs_what_a_real_hash_with_the_configured_parameters_costs() {
        let params = Params::new(32768, 3, 2, None).unwrap();
        let hasher = PasswordHasher::new(params, 1).unwrap();
        let password = Password::parse("correct horse battery staple").unwrap();
        let real = hasher.hash(&password, &anyone()).await.unwrap();
        let (real, dummy) = (
            PasswordHash::new(real.expose(&VERIFYING)).unwrap(),
            PasswordHash::new(&hasher.dummy_hash).unwrap(),
        );
        assert_eq!(dummy.algorithm, Algorithm::Argon2id.ident());
        assert_eq!(dummy.version, real.version);
        assert_eq!(dummy.params, real.params);
        assert_eq!(dummy.salt.unwrap().len(), real.salt.unwrap().len());
        assert_eq!(dummy.hash.unwrap().len(), real.hash.unwrap().len());
        let stored = Params::try_from(&dummy).unwrap();
        assert_eq!(
            (stored.m_cost(), stored.t_cost(), stored.p_cost()),
            (32768, 3, 2)
        );
    }

    #[tokio::test]
    async fn work_counts_every_hash_and_verification_the_dummy_ones_included() {
        let hasher = PasswordHasher::new(Params::DEFAULT, 1).unwrap();
        let work = hasher.work();
        let password = Password::parse("correct horse battery staple").unwrap();
        let hash = hasher.hash(&password, &anyone()).await.unwrap();
        hasher
            .verify(&password, Some(&hash), &anyone())
            .await
            .unwrap();
        hasher.verify(&password, None, &anyone()).await.unwrap();
        hasher.verify_dummy(&anyone()).await.unwrap();
        assert_eq!((work.hashes(), work.verifications()), (1, 3));
        // A malformed stored hash is refused before any argon2 work.
        assert!(
            hasher
                .verify(
                    &password,
                    Some(&StoredHash::new("not-a-hash".into())),
                    &anyone()
                )
                .await
                .is_err()
        );
        assert_eq!(work.verifications(), 3);
    }

    #[tokio::test]
    async fn a_sleep_lasts_a_typical_verification_and_runs_none() {
        let hasher = PasswordHasher::new(Params::DEFAULT, 1).unwrap();
        let work = hasher.work();
        let typical = work.typical_verification();
        assert!(typical > Duration::ZERO, "seeded at startup");
        let started = Instant::now();
        hasher.sleep_like_verify().await;
        assert!(started.elapsed() >= typical);
        assert_eq!(
            (work.hashes(), work.verifications(), work.sleeps()),
            (0, 0, 1)
        );
    }

    #[tokio::test]
    async fn unknown_accounts_never_verify() {
        let hasher = PasswordHasher::new(Params::DEFAULT, 1).unwrap();
        let password = Password::parse("whatever password").unwrap();
        assert!(!hasher.verify(&password, None, &anyone()).await.unwrap());
        hasher.verify_dummy(&anyone()).await.unwrap();
    }

    #[tokio::test]
    async fn a_malformed_stored_hash_is_an_internal_error() {
        let hasher = PasswordHasher::new(Params::DEFAULT, 1).unwrap();
        let password = Password::parse("whatever password").unwrap();
        let err = hasher
            .verify(
                &password,
                Some(&StoredHash::new("not-a-hash".into())),
                &anyone(),
            )
            .await
            .unwrap_err();
        assert_eq!(err.code(), crate::error::ErrorCode::InternalServerError);
    }
}
