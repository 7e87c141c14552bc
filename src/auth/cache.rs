//! An optional short-lived cache of the guard's session check.
//!
//! With a lifetime of zero (the default) every request checks its session in the database,
//! so a revocation anywhere takes effect on the next request. With a lifetime of N seconds a
//! replica may keep accepting a revoked session's access tokens for up to N seconds, except
//! on the replica that revoked it, which forgets the session at once.

use std::time::Duration;

use moka::sync::Cache;
use uuid::Uuid;

use super::Viewer;

/// Most sessions remembered at once.
const CAPACITY: u64 = 100_000;

/// What the guard last decided for each session: a viewer, or `None` for "not live".
#[derive(Clone)]
pub struct SessionCache(Option<Cache<Uuid, Option<Viewer>>>);

impl SessionCache {
    pub fn new(lifetime: Duration) -> Self {
        Self((!lifetime.is_zero()).then(|| {
            Cache::builder()
                .max_capacity(CAPACITY)
                .time_to_live(lifetime)
                .build()
        }))
    }

    pub(super) fn get(&self, session_id: Uuid) -> Option<Option<Viewer>> {
        self.0.as_ref()?.get(&session_id)
    }

    pub(super) fn insert(&self, session_id: Uuid, viewer: Option<Viewer>) {
        if let Some(cache) = &self.0 {
            cache.insert(session_id, viewer);
        }
    }

    /// Drops what is known of these sessions, after they were revoked in this process.
    pub fn forget(&self, session_ids: &[Uuid]) {
        if let Some(cache) = &self.0 {
            for id in session_ids {
                cache.invalidate(id);
            }
        }
    }
}
