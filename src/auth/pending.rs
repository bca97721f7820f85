//! What is under way between two requests for a few minutes (a sign-in at an issuer, a
//! passkey ceremony): kept in memory under a random key, each taken once, forgotten after
//! its time, and at most so many at once (beyond, the oldest goes).

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

pub(crate) struct Pending<K, T> {
    entries: Mutex<HashMap<K, (Instant, T)>>,
    ttl: Duration,
    max: usize,
}

impl<K: Eq + Hash + Clone, T> Pending<K, T> {
    pub(crate) fn new(ttl: Duration, max: usize) -> Self {
        Self {
            entries: Mutex::new(HashMap::new()),
            ttl,
            max,
        }
    }

    pub(crate) fn insert(&self, key: K, value: T) {
        let mut entries = self.entries();
        entries.retain(|_, (started, _)| started.elapsed() < self.ttl);
        if entries.len() >= self.max
            && let Some(oldest) = entries
                .iter()
                .min_by_key(|(_, (started, _))| *started)
                .map(|(key, _)| key.clone())
        {
            entries.remove(&oldest);
        }
        entries.insert(key, (Instant::now(), value));
    }

    /// The entry under `key`, gone from here whatever the caller does with it; `None` when
    /// there is none, or its time is up.
    pub(crate) fn take<Q>(&self, key: &Q) -> Option<T>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
    {
        self.entries()
            .remove(key)
            .filter(|(started, _)| started.elapsed() < self.ttl)
            .map(|(_, value)| value)
    }

    /// A copy of the live entry under `key`, which stays.
    pub(crate) fn peek<Q>(&self, key: &Q) -> Option<T>
    where
        K: Borrow<Q>,
        Q: Eq + Hash + ?Sized,
        T: Clone,
    {
        self.entries()
            .get(key)
            .filter(|(started, _)| started.elapsed() < self.ttl)
            .map(|(_, value)| value.clone())
    }

    /// Forgets every entry `matches` picks.
    pub(crate) fn forget(&self, matches: impl Fn(&T) -> bool) {
        self.entries().retain(|_, (_, value)| !matches(value));
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries().len()
    }

    fn entries(&self) -> MutexGuard<'_, HashMap<K, (Instant, T)>> {
        self.entries.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_taken_once_within_their_time_and_the_oldest_go_first() {
        let pending = Pending::new(Duration::from_mins(1), 2);
        pending.insert("a", 1);
        pending.insert("b", 2);
        pending.insert("c", 3);
        assert_eq!(pending.len(), 2);
        assert_eq!(pending.take("a"), None, "the oldest went");
        assert_eq!(pending.take("b"), Some(2));
        assert_eq!(pending.take("b"), None, "taken once");
        pending.forget(|value| *value == 3);
        assert_eq!(pending.take("c"), None);
        let expired = Pending::new(Duration::ZERO, 2);
        expired.insert("a", 1);
        assert_eq!(expired.take("a"), None, "its time is up");
    }
}
