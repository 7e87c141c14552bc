//! Turns on the hashing pool, taken round-robin by client.
//!
//! A first-come semaphore lets one client's backlog delay everyone queued behind it: a
//! few addresses flooding correct logins would hold every other login and sign-up for as
//! long as their backlog takes. Here each client waits in a line of its own and a freed
//! turn goes to the next client in rotation, so another client waits behind at most one
//! verification per client that has work queued, however long their lines are. No
//! maintained crate offers a semaphore keyed this way, hence this one.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};

use tokio::sync::oneshot;

/// A fixed number of turns, handed out round-robin between the clients waiting for one.
#[derive(Clone)]
pub(super) struct FairTurns(Arc<Mutex<Lines>>);

struct Lines {
    /// Turns nobody holds or waits for.
    free: usize,
    /// Each waiting client's line, oldest first; a client with an empty line has none.
    lines: HashMap<String, VecDeque<oneshot::Sender<()>>>,
    /// The clients with a line, in the order their next turn comes.
    rotation: VecDeque<String>,
}

/// One turn; the next waiting client gets it when this is dropped.
pub(super) struct Turn(FairTurns);

impl Drop for Turn {
    fn drop(&mut self) {
        self.0.hand_on();
    }
}

/// A place in a line. Dropped after its turn came but before it was taken (the request
/// was cancelled at that moment), it hands the turn on instead of losing it.
struct Waiting {
    granted: oneshot::Receiver<()>,
    turns: FairTurns,
}

impl Drop for Waiting {
    fn drop(&mut self) {
        // Closed first, so that a turn handed on from another thread either arrives before
        // this look or finds the place gone and goes to the next in line.
        self.granted.close();
        if self.granted.try_recv().is_ok() {
            self.turns.hand_on();
        }
    }
}

impl FairTurns {
    /// `turns` turns (at least one).
    pub(super) fn new(turns: usize) -> Self {
        Self(Arc::new(Mutex::new(Lines {
            free: turns.max(1),
            lines: HashMap::new(),
            rotation: VecDeque::new(),
        })))
    }

    /// Waits for a turn of `client`'s: at once when one is free and nobody waits.
    pub(super) async fn take(&self, client: &str) -> Turn {
        let mut waiting = {
            let mut guard = self.lock();
            let lines = &mut *guard;
            if lines.free > 0 && lines.rotation.is_empty() {
                lines.free -= 1;
                return Turn(self.clone());
            }
            let (grant, granted) = oneshot::channel();
            let line = lines.lines.entry(client.to_owned()).or_default();
            if line.is_empty() {
                lines.rotation.push_back(client.to_owned());
            }
            line.push_back(grant);
            Waiting {
                granted,
                turns: self.clone(),
            }
        };
        // The sender lives in the line until it grants, and the line lives as long as this
        // place (which holds the turns): `hand_on` drops a sender unsent only when its
        // receiver is gone.
        (&mut waiting.granted)
            .await
            .expect("a place in line is granted before its sender goes");
        Turn(self.clone())
    }

    /// Gives a freed turn to the next client in rotation, skipping places whose request
    /// was cancelled; keeps it free when nobody waits.
    fn hand_on(&self) {
        let mut guard = self.lock();
        let lines = &mut *guard;
        while let Some(client) = lines.rotation.pop_front() {
            let Some(line) = lines.lines.get_mut(&client) else {
                continue;
            };
            let next = line.pop_front();
            if line.is_empty() {
                lines.lines.remove(&client);
            } else {
                lines.rotation.push_back(client);
            }
            if next.is_some_and(|grant| grant.send(()).is_ok()) {
                return;
            }
        }
        lines.free += 1;
    }

    fn lock(&self) -> MutexGuard<'_, Lines> {
        // The guarded code cannot panic, so a poisoned lock still holds consistent lines.
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use tokio::sync::mpsc;

    use super::FairTurns;

    /// The order in which queued work of `clients` (each line in order) gets one turn.
    async fn order_of(clients: &[(&'static str, usize)]) -> Vec<String> {
        let turns = FairTurns::new(1);
        let held = turns.take("holder").await;
        let (done, mut finished) = mpsc::unbounded_channel();
        for &(client, count) in clients {
            for index in 0..count {
                let (turns, done) = (turns.clone(), done.clone());
                let name = format!("{client}{index}");
                tokio::spawn(async move {
                    let _turn = turns.take(client).await;
                    done.send(name).unwrap();
                });
                // On this single-threaded runtime, the task runs up to its place in line
                // before this one resumes: they queue in a known order.
                tokio::task::yield_now().await;
            }
        }
        drop(done);
        drop(held);
        let mut order = Vec::new();
        while let Some(name) = finished.recv().await {
            order.push(name);
        }
        order
    }

    #[tokio::test]
    async fn a_long_line_does_not_hold_back_a_client_that_came_later() {
        let order = order_of(&[("flood", 5), ("other", 1)]).await;
        assert_eq!(
            order,
            ["flood0", "other0", "flood1", "flood2", "flood3", "flood4"]
        );
        let order = order_of(&[("a", 3), ("b", 3), ("c", 1)]).await;
        assert_eq!(order, ["a0", "b0", "c0", "a1", "b1", "a2", "b2"]);
    }

    #[tokio::test]
    async fn a_free_turn_is_taken_at_once_and_comes_back_when_dropped() {
        let turns = FairTurns::new(2);
        let first = turns.take("a").await;
        let second = turns.take("a").await;
        let third = tokio::time::timeout(Duration::from_millis(50), turns.take("b")).await;
        assert!(third.is_err(), "both turns are held");
        drop(first);
        let third = tokio::time::timeout(Duration::from_secs(1), turns.take("b")).await;
        assert!(third.is_ok());
        drop(second);
    }

    #[tokio::test]
    async fn a_cancelled_wait_loses_no_turn() {
        let turns = FairTurns::new(1);
        let held = turns.take("a").await;
        // Gives up while waiting: its place is skipped.
        let gave_up = tokio::time::timeout(Duration::from_millis(20), turns.take("b")).await;
        assert!(gave_up.is_err());
        // Granted and then dropped before being polled again: the turn is handed on.
        let mut granted = Box::pin(turns.take("c"));
        assert!(futures_util::poll!(granted.as_mut()).is_pending());
        drop(held);
        drop(granted);
        let next = tokio::time::timeout(Duration::from_secs(1), turns.take("d")).await;
        assert!(next.is_ok(), "the turn came back");
    }
}
