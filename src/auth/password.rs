//! argon2id hashing on a pool of threads of its own.

use std::collections::VecDeque;
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, mpsc};
use std::time::{Duration, Instant};

use anyhow::Context;
use argon2::password_hash::{Output, PasswordHash, Salt, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use rand::RngCore;

use super::fair::FairTurns;
use crate::client::{ClientMeta, client_network};
use crate::domain::Password;
use crate::error::AppError;
use crate::store::users::PasswordHash as StoredHash;

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

/// How many argon2 hashes and verifications a [`PasswordHasher`] has run, how often it
/// slept instead of verifying, and how long a verification typically takes. Each hash or
/// verification costs the same configured time and each sleep lasts a typical
/// verification, so equal counts mean equal time: this is how the tests prove that login
/// outcomes the API keeps apart only by their answer cannot be told apart by timing.
#[derive(Debug, Clone, Default)]
pub struct HashingWork(Arc<Counters>);

#[derive(Debug, Default)]
struct Counters {
    hashes: AtomicU64,
    verifications: AtomicU64,
    sleeps: AtomicU64,
    recent: Mutex<RecentDurations>,
}

impl HashingWork {
    /// Hashes computed so far.
    pub fn hashes(&self) -> u64 {
        self.0.hashes.load(Ordering::Relaxed)
    }

    /// Verifications run so far, the dummy ones included.
    pub fn verifications(&self) -> u64 {
        self.0.verifications.load(Ordering::Relaxed)
    }

    /// Times a verification's duration was slept instead of running one.
    pub fn sleeps(&self) -> u64 {
        self.0.sleeps.load(Ordering::Relaxed)
    }

    /// The median duration of the latest verifications: what a sleep in place of one lasts.
    pub fn typical_verification(&self) -> Duration {
        self.recent().median()
    }

    fn count_hash(&self) {
        self.0.hashes.fetch_add(1, Ordering::Relaxed);
    }

    fn count_verification(&self, took: Duration) {
        self.0.verifications.fetch_add(1, Ordering::Relaxed);
        self.recent().record(took);
    }

    fn count_sleep(&self) {
        self.0.sleeps.fetch_add(1, Ordering::Relaxed);
    }

    fn recent(&self) -> MutexGuard<'_, RecentDurations> {
        // The guarded code cannot panic, so a poisoned lock still holds consistent data.
        self.0.recent.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// How many of the latest verification times the typical one is taken from: enough that a
/// few preempted or cheaper (older-parameter) verifications do not move the median, few
/// enough that it follows a change of load soon.
const RECENT_VERIFICATIONS: usize = 31;

/// The latest verification times, oldest first.
#[derive(Debug, Default)]
struct RecentDurations(VecDeque<Duration>);

impl RecentDurations {
    fn record(&mut self, took: Duration) {
        if self.0.len() == RECENT_VERIFICATIONS {
            self.0.pop_front();
        }
        self.0.push_back(took);
    }

    /// The median (the upper one of an even count); zero before any verification.
    fn median(&self) -> Duration {
        let mut sorted: Vec<Duration> = self.0.iter().copied().collect();
        sorted.sort_unstable();
        sorted.get(sorted.len() / 2).copied().unwrap_or_default()
    }
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
        work.recent().record(took);
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

/// One hash or verification, run on a hashing thread with that thread's memory.
type Job = Box<dyn FnOnce(&mut Memory) + Send>;

/// How much lower than the async workers' the hashing threads' scheduling priority is
/// (a nice value): high enough that request handling preempts hashing on a busy machine,
/// so logins take the cores requests leave idle instead of a fixed share of them.
const HASHING_NICENESS: i32 = 10;

/// The hashing threads; they end when the last [`PasswordHasher`] clone is dropped.
#[derive(Clone)]
struct HashingThreads(mpsc::Sender<Job>);

impl HashingThreads {
    fn start(count: usize) -> anyhow::Result<Self> {
        let (jobs, queue) = mpsc::channel::<Job>();
        let queue = Arc::new(Mutex::new(queue));
        for _ in 0..count {
            let queue = Arc::clone(&queue);
            std::thread::Builder::new()
                .name("taskql-hashing".into())
                .spawn(move || {
                    // On Linux this lowers the calling thread's priority, not the process's.
                    if let Err(err) = rustix::process::setpriority_process(None, HASHING_NICENESS) {
                        tracing::warn!(error = %err, "cannot lower the hashing thread's priority");
                    }
                    let mut memory = Memory::default();
                    loop {
                        let job = queue.lock().unwrap_or_else(PoisonError::into_inner).recv();
                        let Ok(job) = job else { break };
                        // A panicking job fails its own request (its answer is dropped),
                        // not the thread.
                        let _ = std::panic::catch_unwind(AssertUnwindSafe(|| job(&mut memory)));
                    }
                })
                .context("cannot start a password hashing thread")?;
        }
        Ok(Self(jobs))
    }

    fn send(&self, job: Job) -> Result<(), AppError> {
        self.0
            .send(job)
            .map_err(|_| AppError::Internal(anyhow::anyhow!("the hashing threads have stopped")))
    }
}

/// The working memory of argon2, kept by a hashing thread for all its hashes instead of
/// allocating (and touching) 19 MiB afresh for each one.
#[derive(Default)]
struct Memory(Vec<Block>);

impl Memory {
    fn blocks(&mut self, params: &Params) -> &mut [Block] {
        let count = params.block_count();
        if self.0.len() < count {
            self.0.resize(count, Block::default());
        }
        &mut self.0[..count]
    }

    /// A PHC string for `password` with a fresh salt: what argon2's `hash_password` makes.
    fn hash(&mut self, argon2: &Argon2<'_>, password: &str) -> anyhow::Result<String> {
        let mut salt = [0u8; 16];
        rand::rng().fill_bytes(&mut salt);
        let salt = SaltString::encode_b64(&salt).map_err(|err| anyhow::anyhow!("salt: {err}"))?;
        self.compute(
            Algorithm::Argon2id,
            Version::V0x13,
            argon2.params().clone(),
            password.as_bytes(),
            salt.as_salt(),
        )
        .map(|hash| hash.to_string())
        .map_err(|err| anyhow::anyhow!("cannot hash password: {err}"))
    }

    /// Whether `password` matches `hash`, computed with the hash's own algorithm, version
    /// and parameters and compared in constant time, as argon2's `verify_password` does.
    fn verify(&mut self, password: &[u8], hash: &PasswordHash<'_>) -> bool {
        let (Some(salt), Some(expected)) = (hash.salt, &hash.hash) else {
            return false;
        };
        let computed = Algorithm::try_from(hash.algorithm).and_then(|algorithm| {
            let version = hash
                .version
                .map(Version::try_from)
                .transpose()?
                .unwrap_or_default();
            self.compute(algorithm, version, Params::try_from(hash)?, password, salt)
        });
        computed.is_ok_and(|computed| computed.hash.as_ref() == Some(expected))
    }

    fn compute<'a>(
        &mut self,
        algorithm: Algorithm,
        version: Version,
        params: Params,
        password: &[u8],
        salt: Salt<'a>,
    ) -> argon2::password_hash::Result<PasswordHash<'a>> {
        let mut salt_bytes = [0u8; Salt::MAX_LENGTH];
        let salt_bytes = salt.decode_b64(&mut salt_bytes)?;
        let output_len = params.output_len().unwrap_or(Params::DEFAULT_OUTPUT_LEN);
        let argon2 = Argon2::new(algorithm, version, params.clone());
        let output = Output::init_with(output_len, |out| {
            argon2
                .hash_password_into_with_memory(password, salt_bytes, out, self.blocks(&params))
                .map_err(Into::into)
        })?;
        Ok(PasswordHash {
            algorithm: algorithm.ident(),
            version: Some(version.into()),
            params: (&params).try_into()?,
            salt: Some(salt),
            hash: Some(output),
        })
    }
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

    #[test]
    fn the_typical_duration_is_the_median_of_the_latest_verifications() {
        let ms = Duration::from_millis;
        let mut recent = RecentDurations::default();
        assert_eq!(recent.median(), Duration::ZERO);
        recent.record(ms(40));
        assert_eq!(recent.median(), ms(40));
        // A few outliers, however long, do not move it.
        for took in [ms(38), ms(900), ms(41), ms(5000)] {
            recent.record(took);
        }
        assert_eq!(recent.median(), ms(41));
        // Only the latest count: a change of load shows once it fills half the window.
        for _ in 0..RECENT_VERIFICATIONS / 2 {
            recent.record(ms(80));
        }
        assert_eq!(recent.median(), ms(80));
        for _ in 0..RECENT_VERIFICATIONS {
            recent.record(ms(20));
        }
        assert_eq!(recent.0.len(), RECENT_VERIFICATIONS);
        assert_eq!(recent.median(), ms(20));
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
