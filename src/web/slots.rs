//! A bounded number of long-lived things per session (Control UI sockets, event streams): a
//! slot is held while the thing lives and given back when it is dropped. When a session
//! holds all it may, a new claim is refused, or (for event streams, which a browser opens
//! again by itself after a network change, while the dead connection still holds its slot)
//! the session's oldest is told to end and the new one takes its place.

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::sync::watch;

/// What a claim does when the session holds all its slots.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum WhenFull {
    Refuse,
    EndOldest,
}

type Held = Arc<Mutex<HashMap<String, VecDeque<(u64, watch::Sender<bool>)>>>>;

pub(crate) struct SessionSlots {
    limit: usize,
    when_full: WhenFull,
    held: Held,
    next: AtomicU64,
}

/// One of a session's slots, until dropped.
pub(crate) struct Slot {
    session: String,
    id: u64,
    held: Held,
    ended: watch::Receiver<bool>,
}

impl SessionSlots {
    pub(crate) fn new(limit: usize, when_full: WhenFull) -> Self {
        Self {
            limit,
            when_full,
            held: Arc::new(Mutex::new(HashMap::new())),
            next: AtomicU64::new(0),
        }
    }

    /// One more slot for `session`, or `None` when it holds all it may and they are not
    /// given up.
    pub(crate) fn claim(&self, session: &str) -> Option<Slot> {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        let slots = held.entry(session.to_owned()).or_default();
        if slots.len() >= self.limit {
            match self.when_full {
                WhenFull::Refuse => return None,
                WhenFull::EndOldest => {
                    if let Some((_, oldest)) = slots.pop_front() {
                        oldest.send_replace(true);
                    }
                }
            }
        }
        let id = self.next.fetch_add(1, Ordering::Relaxed);
        let (end, ended) = watch::channel(false);
        slots.push_back((id, end));
        Some(Slot {
            session: session.to_owned(),
            id,
            held: self.held.clone(),
            ended,
        })
    }
}

impl Slot {
    /// Resolves when a newer claim of the session took this slot's place.
    pub(crate) async fn given_up(&mut self) {
        let _ = self.ended.wait_for(|ended| *ended).await;
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut held = self.held.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(slots) = held.get_mut(&self.session) {
            slots.retain(|(id, _)| *id != self.id);
            if slots.is_empty() {
                held.remove(&self.session);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn slots_are_bounded_per_session_and_given_back() {
        let slots = SessionSlots::new(2, WhenFull::Refuse);
        let first = slots.claim("a").expect("one");
        let _second = slots.claim("a").expect("two");
        assert!(slots.claim("a").is_none(), "a third is refused");
        assert!(slots.claim("b").is_some(), "another session has its own");
        drop(first);
        assert!(slots.claim("a").is_some(), "a slot comes back when dropped");
    }

    #[tokio::test]
    async fn a_full_session_can_give_up_its_oldest() {
        let slots = SessionSlots::new(2, WhenFull::EndOldest);
        let mut first = slots.claim("a").expect("one");
        let mut second = slots.claim("a").expect("two");
        let _third = slots.claim("a").expect("three, in the place of the first");
        tokio::time::timeout(Duration::from_secs(1), first.given_up())
            .await
            .expect("the oldest is told to end");
        let still = tokio::time::timeout(Duration::from_millis(50), second.given_up()).await;
        assert!(still.is_err(), "the others stay");
        drop(first);
        let _fourth = slots.claim("a").expect("four");
        tokio::time::timeout(Duration::from_secs(1), second.given_up())
            .await
            .expect("then the next oldest");
    }
}
