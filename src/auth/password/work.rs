//! What the hasher has done: counts of hashes, verifications and sleeps, and the typical
//! duration of a verification that a sleep lasts.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

/// How many argon2 hashes and verifications a [`PasswordHasher`](super::PasswordHasher) has run, how often it
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

    pub(super) fn count_hash(&self) {
        self.0.hashes.fetch_add(1, Ordering::Relaxed);
    }

    pub(super) fn count_verification(&self, took: Duration) {
        self.0.verifications.fetch_add(1, Ordering::Relaxed);
        self.recent().record(took);
    }

    pub(super) fn count_sleep(&self) {
        self.0.sleeps.fetch_add(1, Ordering::Relaxed);
    }

    /// Takes `took` as a verification's duration without counting one: the hasher's
    /// check of its dummy hash at startup.
    pub(super) fn seed(&self, took: Duration) {
        self.recent().record(took);
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

#[cfg(test)]
mod tests {
    use super::*;

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
}
