//! What is under way between two requests for a few minutes (a sign-in at an issuer, a
//! passkey ceremony): kept in memory under a random key, each taken once, forgotten after
//! its time, and at most so many at once (beyond, the oldest goes).

use std::borrow::Borrow;
use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

pub(crate) struct Pending<K, T> {
    entries: Mutex<HashMap<K, Entry<T>>>,
    ttl: Duration,
    max: usize,
}

struct Entry<T> {
    started: Instant,
    /// Whose it is, for [`Pending::insert_from`]'s cap.
    from: Option<IpAddr>,
    value: T,
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
        self.insert_entry(key, None, value, usize::MAX);
    }

    /// Inserts what a visitor at `from` (an address, or a network as the limits count it)
    /// began: beyond `per_source` of theirs, their oldest goes first, so a stranger who
    /// begins many pushes out their own, not the owner's.
    pub(crate) fn insert_from(&self, from: IpAddr, key: K, value: T, per_source: usize) {
        self.insert_entry(key, Some(from), value, per_source);
    }

    fn insert_entry(&self, key: K, from: Option<IpAddr>, value: T, per_source: usize) {
        let mut entries = self.entries();
        entries.retain(|_, entry| entry.started.elapsed() < self.ttl);
        let oldest = |entries: &HashMap<K, Entry<T>>, of: Option<IpAddr>| {
            entries
                .iter()
                .filter(|(_, entry)| of.is_none() || entry.from == of)
                .min_by_key(|(_, entry)| entry.started)
                .map(|(key, _)| key.clone())
        };
        if from.is_some()
            && entries.values().filter(|entry| entry.from == from).count() >= per_source
            && let Some(theirs) = oldest(&entries, from)
        {
            entries.remove(&theirs);
        }
        if entries.len() >= self.max
            && let Some(any) = oldest(&entries, None)
        {
            entries.remove(&any);
        }
        let started = Instant::now();
        entries.insert(
            key,
            Entry {
                started,
                from,
                value,
            },
        );
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
            .filter(|entry| entry.started.elapsed() < self.ttl)
            .map(|entry| entry.value)
    }

    /// Forgets every entry `matches` picks.
    pub(crate) fn forget(&self, matches: impl Fn(&T) -> bool) {
        self.entries().retain(|_, entry| !matches(&entry.value));
    }

    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.entries().len()
    }

    fn entries(&self) -> MutexGuard<'_, HashMap<K, Entry<T>>> {
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

    #[test]
    fn a_source_beyond_its_share_pushes_out_its_own_oldest() {
        let pending = Pending::new(Duration::from_mins(1), 4);
        let owner: IpAddr = [192, 0, 2, 1].into();
        let stranger: IpAddr = [198, 51, 100, 7].into();
        pending.insert_from(owner, 100, 100, 2);
        for n in 0..10 {
            pending.insert_from(stranger, n, n, 2);
        }
        assert_eq!(
            pending.len(),
            3,
            "two of the stranger's, one of the owner's"
        );
        assert_eq!(pending.take(&9), Some(9));
        assert_eq!(pending.take(&0), None, "the stranger's oldest went");
        assert_eq!(pending.take(&100), Some(100), "the owner's stays");
    }
}
