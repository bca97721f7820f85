//! A bounded number of long-lived things per session (Control UI sockets, event streams): a
//! slot is held while the thing lives and given back when it is dropped.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

pub(crate) struct SessionSlots {
    limit: usize,
    counts: Arc<Mutex<HashMap<String, usize>>>,
}

/// One of a session's slots, until dropped.
pub(crate) struct Slot {
    session: String,
    counts: Arc<Mutex<HashMap<String, usize>>>,
}

impl SessionSlots {
    pub(crate) fn new(limit: usize) -> Self {
        Self {
            limit,
            counts: Arc::new(Mutex::new(HashMap::new())),
        }
    }

    /// One more slot for `session`, or `None` when it holds all it may.
    pub(crate) fn claim(&self, session: &str) -> Option<Slot> {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        let count = counts.entry(session.to_owned()).or_insert(0);
        if *count >= self.limit {
            return None;
        }
        *count += 1;
        Some(Slot {
            session: session.to_owned(),
            counts: self.counts.clone(),
        })
    }
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut counts = self.counts.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(count) = counts.get_mut(&self.session) {
            *count -= 1;
            if *count == 0 {
                counts.remove(&self.session);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slots_are_bounded_per_session_and_given_back() {
        let slots = SessionSlots::new(2);
        let first = slots.claim("a").expect("one");
        let _second = slots.claim("a").expect("two");
        assert!(slots.claim("a").is_none(), "a third is refused");
        assert!(slots.claim("b").is_some(), "another session has its own");
        drop(first);
        assert!(slots.claim("a").is_some(), "a slot comes back when dropped");
    }
}
