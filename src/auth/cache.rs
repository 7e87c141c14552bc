//! An optional short-lived cache of the guard's session check.
//!
//! With a lifetime of zero (the default) every request checks its session in the database,
//! so a revocation anywhere takes effect on the next request. With a lifetime of N seconds a
//! replica may keep accepting a revoked session's access tokens for up to N seconds, except
//! on the replica that revoked it, which forgets the session at once. Administrators'
//! sessions are never kept: their role is read on every request.

use std::time::Duration;

use moka::sync::Cache;
use uuid::Uuid;

use super::Viewer;

/// Most sessions remembered at once.
const CAPACITY: u64 = 100_000;

/// What the guard last decided for each session: a viewer, or `None` for "not live".
#[derive(Clone)]
pub struct SessionCache(Option<Caches>);

#[derive(Clone)]
struct Caches {
    decided: Cache<Uuid, Option<Viewer>>,
    /// Sessions revoked in this process. A check that read "live" just before the
    /// revocation may store its answer just after; this list outranks it.
    revoked: Cache<Uuid, ()>,
}

impl SessionCache {
    pub fn new(lifetime: Duration) -> Self {
        Self((!lifetime.is_zero()).then(|| {
            Caches {
                decided: Cache::builder()
                    .max_capacity(CAPACITY)
                    .time_to_live(lifetime)
                    .build(),
                revoked: Cache::builder()
                    .max_capacity(CAPACITY)
                    .time_to_live(lifetime)
                    .build(),
            }
        }))
    }

    pub(super) fn get(&self, session_id: Uuid) -> Option<Option<Viewer>> {
        let caches = self.0.as_ref()?;
        if caches.revoked.contains_key(&session_id) {
            return Some(None);
        }
        caches.decided.get(&session_id)
    }

    pub(super) fn insert(&self, session_id: Uuid, viewer: Option<Viewer>) {
        if let Some(caches) = &self.0
            && !caches.revoked.contains_key(&session_id)
        {
            caches.decided.insert(session_id, viewer);
        }
    }

    /// Marks these sessions as revoked, after they were revoked in this process.
    pub fn forget(&self, session_ids: &[Uuid]) {
        if let Some(caches) = &self.0 {
            for id in session_ids {
                caches.revoked.insert(*id, ());
                caches.decided.invalidate(id);
            }
        }
    }
}
