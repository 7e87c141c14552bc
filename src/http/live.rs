//! The live subscription sockets of this replica, counted per client network and per
//! account, so that no client or account can hold an unbounded share of them.
//!
//! Each replica counts its own: the bounds protect each replica's memory and event fan-out,
//! which is what a flood of sockets costs. A socket counts from its upgrade (per network)
//! and from its accepted `connection_init` (per account) until it closes.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, PoisonError};

use uuid::Uuid;

/// How many sockets and subscriptions a client may hold at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SocketBounds {
    /// Subscriptions one socket serves at once.
    pub subscriptions_per_socket: usize,
    /// Live sockets of one account, on this replica.
    pub sockets_per_account: usize,
    /// Live sockets from one client network, on this replica.
    pub sockets_per_address: usize,
}

/// The counts of live sockets.
#[derive(Clone)]
pub struct LiveSockets {
    bounds: SocketBounds,
    by_network: Counts<String>,
    by_account: Counts<Uuid>,
}

impl LiveSockets {
    /// No live sockets yet, to be held to `bounds`.
    pub fn new(bounds: SocketBounds) -> Self {
        Self {
            bounds,
            by_network: Counts::default(),
            by_account: Counts::default(),
        }
    }

    /// The bounds these counts enforce.
    pub fn bounds(&self) -> SocketBounds {
        self.bounds
    }

    /// A place for one more socket from `network`; `None` when it holds the most already.
    pub fn from_network(&self, network: String) -> Option<Lease> {
        self.by_network
            .take(network, self.bounds.sockets_per_address)
            .map(|release| Lease(Some(Box::new(release))))
    }

    /// A place for one more socket of `account`; `None` when it holds the most already.
    pub fn of_account(&self, account: Uuid) -> Option<Lease> {
        self.by_account
            .take(account, self.bounds.sockets_per_account)
            .map(|release| Lease(Some(Box::new(release))))
    }
}

/// One socket's place in a count, given back when dropped.
pub struct Lease(Option<Box<dyn FnOnce() + Send + Sync>>);

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(release) = self.0.take() {
            release();
        }
    }
}

/// Live counts by key; a key whose count falls to zero is removed.
struct Counts<K>(Arc<Mutex<HashMap<K, usize>>>);

impl<K> Clone for Counts<K> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<K> Default for Counts<K> {
    fn default() -> Self {
        Self(Arc::default())
    }
}

impl<K: Eq + Hash + Clone + Send + Sync + 'static> Counts<K> {
    /// Counts one more for `key` unless it has `most` already; the closure undoes it.
    fn take(&self, key: K, most: usize) -> Option<impl FnOnce() + Send + Sync + 'static> {
        {
            // The guarded code cannot panic, so a poisoned lock still holds consistent counts.
            let mut counts = self.0.lock().unwrap_or_else(PoisonError::into_inner);
            let count = counts.entry(key.clone()).or_default();
            if *count >= most {
                if *count == 0 {
                    counts.remove(&key);
                }
                return None;
            }
            *count += 1;
        }
        let counts = self.clone();
        Some(move || {
            let mut map = counts.0.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(count) = map.get_mut(&key) {
                *count -= 1;
                if *count == 0 {
                    map.remove(&key);
                }
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use uuid::Uuid;

    use super::{LiveSockets, SocketBounds};

    fn sockets() -> LiveSockets {
        LiveSockets::new(SocketBounds {
            subscriptions_per_socket: 5,
            sockets_per_account: 2,
            sockets_per_address: 3,
        })
    }

    #[test]
    fn a_count_refuses_past_its_bound_and_frees_a_place_when_a_lease_drops() {
        let live = sockets();
        let leases: Vec<_> = (0..3)
            .map(|_| {
                live.from_network("10.0.0.1".into())
                    .expect("within the bound")
            })
            .collect();
        assert!(live.from_network("10.0.0.1".into()).is_none());
        assert!(
            live.from_network("10.0.0.2".into()).is_some(),
            "per network"
        );
        drop(leases);
        assert!(live.from_network("10.0.0.1".into()).is_some());

        let account = Uuid::now_v7();
        let first = live.of_account(account).unwrap();
        let _second = live.of_account(account).unwrap();
        assert!(live.of_account(account).is_none());
        assert!(live.of_account(Uuid::now_v7()).is_some(), "per account");
        drop(first);
        assert!(live.of_account(account).is_some());
    }

    #[test]
    fn released_keys_are_forgotten() {
        let live = sockets();
        drop(live.from_network("10.0.0.9".into()));
        assert!(live.by_network.0.lock().unwrap().is_empty());
    }
}
