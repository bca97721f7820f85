//! In-memory abuse limits: exponential lockouts after repeated failures, and a token bucket
//! for request rates. Both are keyed, bounded in size, and take the current time as an
//! argument so tests can drive them.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// Keys kept at most; beyond this the stalest entries are dropped, so a flood of distinct
/// keys (e.g. spoofed sources) cannot grow memory without bound.
const MAX_KEYS: usize = 10_000;

#[derive(Debug, Clone, Copy)]
pub(crate) struct LockoutPolicy {
    /// Failures allowed before the first lockout.
    pub(crate) free_failures: u32,
    /// The first lockout; each further failure doubles it.
    pub(crate) base: Duration,
    pub(crate) max: Duration,
    /// Failures are forgotten this long after the last one.
    pub(crate) forget_after: Duration,
}

#[derive(Debug, Clone, Copy)]
struct FailureRecord {
    failures: u32,
    last_failure: Instant,
    locked_until: Option<Instant>,
}

/// Counts failures per key and locks the key out for exponentially longer after too many.
pub(crate) struct Lockout<K> {
    policy: LockoutPolicy,
    records: Mutex<HashMap<K, FailureRecord>>,
}

/// Seconds to wait, rounded up, at least 1 (the value for `Retry-After`).
pub(crate) fn retry_after_secs(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

impl<K: Eq + Hash + Clone> Lockout<K> {
    pub(crate) fn new(policy: LockoutPolicy) -> Self {
        Self {
            policy,
            records: Mutex::new(HashMap::new()),
        }
    }

    fn records(&self) -> std::sync::MutexGuard<'_, HashMap<K, FailureRecord>> {
        self.records
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// `Err(wait)` while the key is locked out.
    pub(crate) fn check(&self, key: &K, now: Instant) -> Result<(), Duration> {
        match self.records().get(key).and_then(|r| r.locked_until) {
            Some(until) if until > now => Err(until - now),
            _ => Ok(()),
        }
    }

    /// Records a failure; returns the lockout it starts, if any.
    pub(crate) fn record_failure(&self, key: &K, now: Instant) -> Option<Duration> {
        let mut records = self.records();
        if records.len() >= MAX_KEYS && !records.contains_key(key) {
            prune(&mut records, now, self.policy.forget_after);
        }
        let record = records.entry(key.clone()).or_insert(FailureRecord {
            failures: 0,
            last_failure: now,
            locked_until: None,
        });
        if now.duration_since(record.last_failure) > self.policy.forget_after {
            record.failures = 0;
        }
        record.failures = record.failures.saturating_add(1);
        record.last_failure = now;
        let over = record.failures.checked_sub(self.policy.free_failures)?;
        if over == 0 {
            return None;
        }
        let lock = self
            .policy
            .base
            .saturating_mul(1u32.checked_shl(over - 1).unwrap_or(u32::MAX))
            .min(self.policy.max);
        record.locked_until = Some(now + lock);
        Some(lock)
    }

    pub(crate) fn reset(&self, key: &K) {
        self.records().remove(key);
    }

    /// The failures counted for `key` now (those forgotten by now not).
    pub(crate) fn failures(&self, key: &K, now: Instant) -> u32 {
        self.records()
            .get(key)
            .filter(|r| now.duration_since(r.last_failure) <= self.policy.forget_after)
            .map_or(0, |r| r.failures)
    }

    /// When the key's lockout ends, while it is locked out.
    pub(crate) fn locked_until(&self, key: &K, now: Instant) -> Option<Instant> {
        self.records()
            .get(key)
            .and_then(|r| r.locked_until)
            .filter(|until| *until > now)
    }

    /// Locks `key` out until at least `until` (it has just failed: see `record_failure`).
    pub(crate) fn lock_until(&self, key: &K, until: Instant) {
        if let Some(record) = self.records().get_mut(key) {
            record.locked_until = Some(record.locked_until.map_or(until, |u| u.max(until)));
        }
    }

    /// Forgets every failure and lockout.
    pub(crate) fn clear(&self) {
        self.records().clear();
    }
}

fn prune<K: Eq + Hash + Clone>(
    records: &mut HashMap<K, FailureRecord>,
    now: Instant,
    forget_after: Duration,
) {
    records.retain(|_, r| {
        now.duration_since(r.last_failure) <= forget_after
            || r.locked_until.is_some_and(|until| until > now)
    });
    if records.len() >= MAX_KEYS {
        // Still full of live entries: drop the oldest half of those not locked out rather
        // than grow. A lockout in force is never forgotten early, or a flood of new keys
        // would free the keys it locked.
        let mut by_age: Vec<(K, Instant)> = records
            .iter()
            .filter(|(_, r)| r.locked_until.is_none_or(|until| until <= now))
            .map(|(k, r)| (k.clone(), r.last_failure))
            .collect();
        by_age.sort_by_key(|(_, at)| *at);
        for (key, _) in by_age.into_iter().take(MAX_KEYS / 2) {
            records.remove(&key);
        }
    }
}

/// A token bucket per key: `burst` requests at once, refilled at `per_second`.
pub(crate) struct RateLimit<K> {
    burst: f64,
    per_second: f64,
    buckets: Mutex<HashMap<K, (f64, Instant)>>,
}

impl<K: Eq + Hash + Clone> RateLimit<K> {
    pub(crate) fn new(burst: u32, per_second: f64) -> Self {
        Self {
            burst: f64::from(burst),
            per_second,
            buckets: Mutex::new(HashMap::new()),
        }
    }

    /// Takes one token; `Err(wait)` when the bucket is empty.
    pub(crate) fn take(&self, key: &K, now: Instant) -> Result<(), Duration> {
        let mut buckets = self
            .buckets
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        if buckets.len() >= MAX_KEYS && !buckets.contains_key(key) {
            // Buckets full again by now are the same as none.
            let full_after = self.burst / self.per_second;
            buckets.retain(|_, (_, at)| now.duration_since(*at).as_secs_f64() < full_after);
            if buckets.len() >= MAX_KEYS {
                // Still full: the least recently used half goes, not everyone's limit.
                let mut by_use: Vec<(K, Instant)> = buckets
                    .iter()
                    .map(|(k, (_, at))| (k.clone(), *at))
                    .collect();
                by_use.sort_by_key(|(_, at)| *at);
                for (key, _) in by_use.into_iter().take(MAX_KEYS / 2) {
                    buckets.remove(&key);
                }
            }
        }
        let (tokens, at) = buckets.entry(key.clone()).or_insert((self.burst, now));
        let refilled =
            (*tokens + now.duration_since(*at).as_secs_f64() * self.per_second).min(self.burst);
        *at = now;
        if refilled >= 1.0 {
            *tokens = refilled - 1.0;
            Ok(())
        } else {
            *tokens = refilled;
            Err(Duration::from_secs_f64((1.0 - refilled) / self.per_second))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn policy() -> LockoutPolicy {
        LockoutPolicy {
            free_failures: 3,
            base: Duration::from_secs(1),
            max: Duration::from_secs(8),
            forget_after: Duration::from_hours(1),
        }
    }

    /// Review of issue 11: a flood of new keys never frees a key that is locked out.
    #[test]
    fn a_full_table_keeps_its_lockouts() {
        let lockout = Lockout::new(policy());
        let start = Instant::now();
        let locked = u32::MAX;
        for _ in 0..4 {
            lockout.record_failure(&locked, start);
        }
        assert!(lockout.check(&locked, start).is_err());
        for key in 0..(u32::try_from(MAX_KEYS).expect("small") * 2) {
            lockout.record_failure(&key, start + Duration::from_millis(10));
        }
        assert!(
            lockout
                .check(&locked, start + Duration::from_millis(20))
                .is_err()
        );
    }

    #[test]
    fn a_lockout_can_be_extended_and_forgotten() {
        let lockout = Lockout::new(policy());
        let start = Instant::now();
        let key = "ip".to_string();
        assert_eq!(lockout.record_failure(&key, start), None);
        assert_eq!(lockout.locked_until(&key, start), None);
        lockout.lock_until(&key, start + Duration::from_mins(1));
        assert!(
            lockout
                .check(&key, start + Duration::from_secs(59))
                .is_err()
        );
        assert!(lockout.check(&key, start + Duration::from_mins(1)).is_ok());
        lockout.lock_until(&key, start + Duration::from_secs(10));
        assert_eq!(
            lockout.locked_until(&key, start),
            Some(start + Duration::from_mins(1)),
            "never shortened"
        );
        lockout.clear();
        assert!(lockout.check(&key, start).is_ok());
    }

    #[test]
    fn lockout_doubles_and_caps() {
        let lockout = Lockout::new(policy());
        let start = Instant::now();
        let key = "ip".to_string();
        for _ in 0..3 {
            assert_eq!(lockout.record_failure(&key, start), None);
        }
        assert!(lockout.check(&key, start).is_ok());
        assert_eq!(
            lockout.record_failure(&key, start),
            Some(Duration::from_secs(1))
        );
        assert!(lockout.check(&key, start).is_err());
        assert!(lockout.check(&key, start + Duration::from_secs(1)).is_ok());
        assert_eq!(
            lockout.record_failure(&key, start),
            Some(Duration::from_secs(2))
        );
        assert_eq!(
            lockout.record_failure(&key, start),
            Some(Duration::from_secs(4))
        );
        assert_eq!(
            lockout.record_failure(&key, start),
            Some(Duration::from_secs(8))
        );
        assert_eq!(
            lockout.record_failure(&key, start),
            Some(Duration::from_secs(8))
        );
        lockout.reset(&key);
        assert!(lockout.check(&key, start).is_ok());
    }

    #[test]
    fn failures_are_forgotten() {
        let lockout = Lockout::new(policy());
        let start = Instant::now();
        let key = 1u8;
        for _ in 0..3 {
            lockout.record_failure(&key, start);
        }
        let later = start + Duration::from_secs(3601);
        assert_eq!(lockout.record_failure(&key, later), None);
    }

    #[test]
    fn lockout_map_stays_bounded() {
        let lockout = Lockout::new(policy());
        let now = Instant::now();
        for key in 0..(u32::try_from(MAX_KEYS).expect("small") + 10) {
            lockout.record_failure(&key, now);
        }
        assert!(lockout.records().len() <= MAX_KEYS);
    }

    #[test]
    fn bucket_refills() {
        let limit = RateLimit::new(2, 1.0);
        let now = Instant::now();
        assert!(limit.take(&"a", now).is_ok());
        assert!(limit.take(&"a", now).is_ok());
        let wait = limit.take(&"a", now).expect_err("empty");
        assert!(wait <= Duration::from_secs(1));
        assert!(limit.take(&"b", now).is_ok());
        assert!(limit.take(&"a", now + Duration::from_secs(1)).is_ok());
    }

    #[test]
    fn retry_after_rounds_up() {
        assert_eq!(retry_after_secs(Duration::from_millis(1)), 1);
        assert_eq!(retry_after_secs(Duration::from_millis(1500)), 2);
        assert_eq!(retry_after_secs(Duration::from_secs(3)), 3);
    }
}
