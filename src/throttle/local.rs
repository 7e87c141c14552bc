//! Counters in this process's memory: the default, and the fallback while Redis is away.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use moka::Expiry;
use moka::sync::Cache;

use super::BackoffRule;

/// Most keys remembered at once; the least used are forgotten first.
const CAPACITY: u64 = 200_000;
/// A login key with no failure for this long after its wait is over starts over.
pub(super) const FORGET_AFTER: Duration = Duration::from_secs(24 * 60 * 60);

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

#[derive(Clone)]
pub(super) struct LocalCounters {
    entries: Cache<String, Entry>,
}

impl LocalCounters {
    pub(super) fn new() -> Self {
        Self {
            entries: Cache::builder()
                .max_capacity(CAPACITY)
                .expire_after(KeepAsAsked)
                .build(),
        }
    }

    /// Until when `key` must wait (Unix milliseconds), if it has had to.
    pub(super) fn blocked_until(&self, key: &str) -> Option<i64> {
        self.entries.get(key).and_then(|entry| entry.blocked_until)
    }

    /// Records a failure of `key` at `now`. The entry outlives its wait by
    /// [`FORGET_AFTER`], so a long wait is never cut short by expiry.
    pub(super) fn fail(&self, key: &str, rule: BackoffRule, now: DateTime<Utc>) {
        self.entries.entry_by_ref(key).and_upsert_with(|existing| {
            let count = existing.map_or(0, |entry| entry.into_value().count) + 1;
            let wait = rule.wait_after(u32::try_from(count).unwrap_or(u32::MAX));
            Entry {
                count,
                blocked_until: wait.map(|wait| {
                    now.timestamp_millis()
                        .saturating_add(wait.as_millis() as i64)
                }),
                keep: wait.unwrap_or_default() + FORGET_AFTER,
            }
        });
    }

    pub(super) fn clear(&self, key: &str) {
        self.entries.invalidate(key);
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
            counters.fail("login:account:alice", rule, at(0));
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
}
