//! The hashing threads, at a lower scheduling priority, each with the argon2 memory it
//! reuses for every hash.

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex, PoisonError, mpsc};

use anyhow::Context;
use argon2::password_hash::{Output, PasswordHash, Salt, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use rand::RngCore;

use crate::error::AppError;

/// One hash or verification, run on a hashing thread with that thread's memory.
pub(super) type Job = Box<dyn FnOnce(&mut Memory) + Send>;

/// How much lower than the async workers' the hashing threads' scheduling priority is
/// (a nice value): high enough that request handling preempts hashing on a busy machine,
/// so logins take the cores requests leave idle instead of a fixed share of them.
const HASHING_NICENESS: i32 = 10;

/// The hashing threads; they end when the last [`PasswordHasher`](super::PasswordHasher)
/// clone is dropped.
#[derive(Clone)]
pub(super) struct HashingThreads(mpsc::Sender<Job>);

impl HashingThreads {
    pub(super) fn start(count: usize) -> anyhow::Result<Self> {
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

    pub(super) fn send(&self, job: Job) -> Result<(), AppError> {
        self.0
            .send(job)
            .map_err(|_| AppError::Internal(anyhow::anyhow!("the hashing threads have stopped")))
    }
}

/// The working memory of argon2, kept by a hashing thread for all its hashes instead of
/// allocating (and touching) 19 MiB afresh for each one.
#[derive(Default)]
pub(super) struct Memory(Vec<Block>);

impl Memory {
    fn blocks(&mut self, params: &Params) -> &mut [Block] {
        let count = params.block_count();
        if self.0.len() < count {
            self.0.resize(count, Block::default());
        }
        &mut self.0[..count]
    }

    /// A PHC string for `password` with a fresh salt: what argon2's `hash_password` makes.
    pub(super) fn hash(&mut self, argon2: &Argon2<'_>, password: &str) -> anyhow::Result<String> {
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
    pub(super) fn verify(&mut self, password: &[u8], hash: &PasswordHash<'_>) -> bool {
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
