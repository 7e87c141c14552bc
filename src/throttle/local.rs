//! Counters in this process's memory: the default, and the fallback while Redis is away.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use moka::Expiry;
use moka::ops::compute::Op;
use moka::sync::Cache;

use super::BackoffRule;

/// Most keys remembered at once; the least used are forgotten first.
const CAPACITY: u64 = 200_000;
/// A login key with no failure for this long after its wait is over starts over.
pub(super) const FORGET_AFTER: Duration = Duration::from_secs(24 * 60 * 60);
/// How long a client that signed in to an account stays known to it.
pub(super) const KNOWN_FOR: Duration = Duration::from_secs(30 * 24 * 60 * 60);

/// One counter: consecutive failures (backoff) or events in a window (rates).
#[derive(Debug, Clone, Copy)]
struct Entry {
    count: u64,
    /// Until when a login key must wait, or when a rate's window ends, in Unix
    /// milliseconds.
    blocked_until: Option<i64>,
    /// How long to keep the entry after this write.
    keep: Duration,
}

/// Keeps each entry as long as its last write asked for; reading never extends it.
struct KeepAsAsked;

impl Expiry<String, Entry> for KeepAsAsked {
    fn expire_after_create(&self, _: &String, entry: &Entry, _: Instant) -> Option<Duration> {
        Some(entry.keep)
    }

    fn expire_after_update(
        &self,
        _: &String,
        entry: &Entry,
        _: Instant,
        _: Option<Duration>,
    ) -> Option<Duration> {
        Some(entry.keep)
    }
}

/// What [`LocalCounters::reserve`] found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Reservation {
    /// The key must wait until then (Unix milliseconds); nothing was counted.
    Blocked(i64),
    /// A failure was counted, setting a wait until then when one was due.
    Counted(Option<i64>),
}

#[derive(Clone)]
pub(super) struct LocalCounters {
    entries: Cache<String, Entry>,
    /// Clients that signed in to an account, by [`super::Throttle`]'s known-client key.
    known: Cache<String, ()>,
}

impl LocalCounters {
    pub(super) fn new() -> Self {
        Self {
            entries: Cache::builder()
                .max_capacity(CAPACITY)
                .expire_after(KeepAsAsked)
                .build(),
            known: Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_live(KNOWN_FOR)
                .build(),
        }
    }

    /// Whether `key` (a client of an account) has signed in within [`KNOWN_FOR`].
    pub(super) fn knows(&self, key: &str) -> bool {
        self.known.contains_key(key)
    }

    /// Remembers a client that signed in, for [`KNOWN_FOR`] from now.
    pub(super) fn remember(&self, key: &str) {
        self.known.insert(key.to_owned(), ());
    }

    /// Until when `key` must wait (Unix milliseconds), if it has had to.
    pub(super) fn blocked_until(&self, key: &str) -> Option<i64> {
        self.entries.get(key).and_then(|entry| entry.blocked_until)
    }

    /// In one step: `Blocked` with the end of the wait when `key` must still wait at `now`
    /// and `enforce` holds; otherwise counts a failure of `key` in advance and returns the
    /// wait it set, if any. The entry outlives its wait by [`FORGET_AFTER`], so a long
    /// wait is never cut short by expiry.
    pub(super) fn reserve(
        &self,
        key: &str,
        rule: BackoffRule,
        now: DateTime<Utc>,
        enforce: bool,
    ) -> Reservation {
        let now_ms = now.timestamp_millis();
        let mut outcome = Reservation::Counted(None);
        self.entries.entry_by_ref(key).and_compute_with(|existing| {
            let existing = existing.map(|entry| entry.into_value());
            if let Some(until) = existing.and_then(|entry| entry.blocked_until)
                && enforce
                && until > now_ms
            {
                outcome = Reservation::Blocked(until);
                return Op::Nop;
            }
            let count = existing.map_or(0, |entry| entry.count) + 1;
            let wait = rule.wait_after(u32::try_from(count).unwrap_or(u32::MAX));
            let blocked_until = wait.map(|wait| now_ms.saturating_add(wait.as_millis() as i64));
            outcome = Reservation::Counted(blocked_until);
            Op::Put(Entry {
                count,
                blocked_until,
                keep: wait.unwrap_or_default() + FORGET_AFTER,
            })
        });
        outcome
    }

    /// Takes back a failure counted by [`reserve`](Self::reserve) with `enforce` (so no
    /// wait was running then). The wait that reservation set (`reserved_until`) goes with
    /// it, and so does any wait once the count is below the free failures again.
    pub(super) fn refund(
        &self,
        key: &str,
        rule: BackoffRule,
        reserved_until: Option<i64>,
        now: DateTime<Utc>,
    ) {
        let now_ms = now.timestamp_millis();
        self.entries.entry_by_ref(key).and_compute_with(|existing| {
            let Some(entry) = existing.map(|entry| entry.into_value()) else {
                return Op::Nop;
            };
            let count = entry.count.saturating_sub(1);
            if count == 0 {
                return Op::Remove;
            }
            let below_free = count < u64::from(rule.free_failures);
            let blocked_until = entry
                .blocked_until
                .filter(|until| !below_free && Some(*until) != reserved_until);
            let left = blocked_until.map_or(0, |until| until.saturating_sub(now_ms).max(0));
            Op::Put(Entry {
                count,
                blocked_until,
                keep: Duration::from_millis(left as u64) + FORGET_AFTER,
            })
        });
    }

    pub(super) fn clear(&self, key: &str) {
        self.entries.invalidate(key);
    }

    /// The count of `key`'s current window and the milliseconds left in it, counting
    /// nothing; `(0, 0)` when no window is open.
    pub(super) fn peek(&self, key: &str, now: DateTime<Utc>) -> (u64, i64) {
        let now = now.timestamp_millis();
        match self.entries.get(key) {
            Some(Entry {
                count,
                blocked_until: Some(end),
                ..
            }) if end > now => (count, end - now),
            _ => (0, 0),
        }
    }

    /// Counts one event under `key` in a window of `window_ms` that starts with the
    /// key's first event; returns the window's count so far and the milliseconds left.
    pub(super) fn hit(&self, key: &str, window_ms: i64, now: DateTime<Utc>) -> (u64, i64) {
        let now = now.timestamp_millis();
        let entry = self
            .entries
            .entry_by_ref(key)
            .and_upsert_with(|existing| {
                let (count, end) = match existing.map(|entry| entry.into_value()) {
                    Some(Entry {
                        count,
                        blocked_until: Some(end),
                        ..
                    }) if end > now => (count + 1, end),
                    _ => (1, now.saturating_add(window_ms)),
                };
                Entry {
                    count,
                    blocked_until: Some(end),
                    keep: Duration::from_millis((end - now).max(1) as u64),
                }
            })
            .into_value();
        (entry.count, entry.blocked_until.unwrap_or(now) - now)
    }
}

#[cfg(test)]
mod tests {
    use super::super::tests::{at, rule};
    use super::*;

    #[test]
    fn a_long_wait_is_kept_for_longer_than_the_wait() {
        let counters = LocalCounters::new();
        let rule = BackoffRule {
            max: Duration::from_secs(86_400),
            ..rule()
        };
        for _ in 0..100 {
            counters.reserve("login:account:alice", rule, at(0), false);
        }
        let entry = counters.entries.get("login:account:alice").unwrap();
        assert_eq!(entry.count, 100);
        assert_eq!(
            entry.blocked_until,
            Some(at(86_400).timestamp_millis()),
            "the longest wait"
        );
        let kept = KeepAsAsked.expire_after_update(
            &"login:account:alice".to_owned(),
            &entry,
            Instant::now(),
            None,
        );
        assert_eq!(kept, Some(Duration::from_secs(86_400) + FORGET_AFTER));
    }

    #[test]
    fn a_reservation_counts_unless_the_key_must_wait() {
        let counters = LocalCounters::new();
        let rule = rule();
        let key = "login:ip:10.0.0.1";
        for _ in 0..4 {
            assert_eq!(
                counters.reserve(key, rule, at(0), true),
                Reservation::Counted(None)
            );
        }
        let until = at(30).timestamp_millis();
        assert_eq!(
            counters.reserve(key, rule, at(0), true),
            Reservation::Counted(Some(until))
        );
        assert_eq!(
            counters.reserve(key, rule, at(29), true),
            Reservation::Blocked(until)
        );
        assert_eq!(counters.entries.get(key).unwrap().count, 5, "not counted");
        assert_eq!(
            counters.reserve(key, rule, at(29), false),
            Reservation::Counted(Some(at(89).timestamp_millis())),
            "counted when the wait is not enforced"
        );
    }

    #[test]
    fn a_refund_takes_back_the_failure_and_the_wait_it_set() {
        let counters = LocalCounters::new();
        let rule = rule();
        let key = "login:ip:10.0.0.1";
        for _ in 0..6 {
            counters.reserve(key, rule, at(0), false);
        }
        // The wait of the sixth failure has passed; the seventh attempt sets its own.
        let Reservation::Counted(reserved) = counters.reserve(key, rule, at(100), true) else {
            panic!("not blocked after the wait");
        };
        assert_eq!(reserved, Some(at(220).timestamp_millis()));
        counters.refund(key, rule, reserved, at(101));
        let entry = counters.entries.get(key).unwrap();
        assert_eq!((entry.count, entry.blocked_until), (6, None));
        // A wait that another failure set stays while the count is not below the free ones.
        counters.reserve(key, rule, at(200), true);
        counters.refund(key, rule, None, at(201));
        assert_eq!(
            counters.entries.get(key).unwrap().blocked_until,
            Some(at(320).timestamp_millis())
        );
        counters.refund(key, rule, None, at(201));
        let entry = counters.entries.get(key).unwrap();
        assert_eq!(
            (entry.count, entry.blocked_until),
            (5, Some(at(320).timestamp_millis()))
        );
        counters.refund(key, rule, None, at(201));
        let entry = counters.entries.get(key).unwrap();
        assert_eq!(
            (entry.count, entry.blocked_until),
            (4, None),
            "below the free failures"
        );
        for _ in 0..4 {
            counters.refund(key, rule, None, at(201));
        }
        assert!(counters.entries.get(key).is_none());
    }
}
