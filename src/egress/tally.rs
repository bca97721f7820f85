//! What went through the egress proxy, counted in memory and written to the store about once
//! a second: a request neither waits for the store nor writes to it, and the limits are
//! checked against the tokens kept here.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use super::usage::Tokens;
use crate::store::{self, SharedStore, StoreError, UsageEntry, UsageRow};

/// How long a count waits in memory before it is written.
pub(super) const FLUSH_EVERY: Duration = Duration::from_secs(1);

/// Tokens counted through the proxy.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct Used {
    pub(crate) today: u64,
    pub(crate) month: u64,
}

pub(super) struct Tally {
    store: SharedStore,
    counts: Mutex<Counts>,
    /// Held while counts move from memory to the store.
    writing: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct Counts {
    /// The day (`YYYY-MM-DD`, UTC) `used` is for.
    day: String,
    used: Used,
    /// Counted and not written yet, per day and model.
    unwritten: HashMap<(String, String), UsageEntry>,
}

impl Counts {
    /// Starts a new day (and month) when the clock has moved past the one counted.
    fn roll(&mut self, today: &str) {
        if self.day == today {
            return;
        }
        if self.day.get(..7) != today.get(..7) {
            self.used.month = 0;
        }
        self.used.today = 0;
        today.clone_into(&mut self.day);
    }

    fn add(&mut self, entry: UsageEntry) {
        self.roll(&entry.day);
        let tokens = entry.input_tokens.saturating_add(entry.output_tokens);
        self.used.today = self.used.today.saturating_add(tokens);
        self.used.month = self.used.month.saturating_add(tokens);
        self.keep(entry);
    }

    /// Keeps `entry` to be written, added to what is kept for its day and model.
    fn keep(&mut self, entry: UsageEntry) {
        let key = (entry.day.clone(), entry.model.clone());
        match self.unwritten.get_mut(&key) {
            Some(sum) => sum.add(&entry),
            None => {
                self.unwritten.insert(key, entry);
            }
        }
    }

    /// Today's and this month's tokens of what is not written yet.
    fn unwritten_tokens(&self) -> Used {
        let month = self.day.get(..7).unwrap_or_default();
        self.unwritten
            .values()
            .fold(Used::default(), |mut sum, entry| {
                let tokens = entry.input_tokens.saturating_add(entry.output_tokens);
                if entry.day == self.day {
                    sum.today = sum.today.saturating_add(tokens);
                }
                if entry.day.starts_with(month) {
                    sum.month = sum.month.saturating_add(tokens);
                }
                sum
            })
    }
}

impl Tally {
    /// Starts from what the store counted today and this month.
    pub(super) async fn load(store: SharedStore) -> Result<Self, StoreError> {
        let tally = Self {
            store,
            counts: Mutex::new(Counts::default()),
            writing: tokio::sync::Mutex::new(()),
        };
        tally.reread().await?;
        Ok(tally)
    }

    fn counts(&self) -> std::sync::MutexGuard<'_, Counts> {
        self.counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    pub(super) fn add(&self, entry: UsageEntry) {
        self.counts().add(entry);
    }

    /// The store's rows from `from` to `to` with what is not written yet added in: read
    /// while no write is under way, so nothing is counted twice or missed.
    pub(super) async fn usage(&self, from: &str, to: &str) -> Result<Vec<UsageRow>, StoreError> {
        let _no_write = self.writing.lock().await;
        let mut rows = {
            let (from, to) = (from.to_owned(), to.to_owned());
            store::run(&self.store, move |s| s.usage(&from, &to)).await?
        };
        let unwritten: Vec<UsageEntry> = self
            .counts()
            .unwritten
            .values()
            .filter(|entry| from <= entry.day.as_str() && entry.day.as_str() <= to)
            .cloned()
            .collect();
        for entry in unwritten {
            match rows
                .iter_mut()
                .find(|row| row.day == entry.day && row.model == entry.model)
            {
                Some(row) => {
                    row.requests += entry.requests;
                    row.errors += entry.errors;
                    row.input_tokens += entry.input_tokens;
                    row.output_tokens += entry.output_tokens;
                }
                None => rows.push(UsageRow {
                    day: entry.day,
                    model: entry.model,
                    requests: entry.requests,
                    errors: entry.errors,
                    input_tokens: entry.input_tokens,
                    output_tokens: entry.output_tokens,
                }),
            }
        }
        rows.sort_by(|a, b| (&a.day, &a.model).cmp(&(&b.day, &b.model)));
        Ok(rows)
    }

    pub(super) fn used(&self) -> Used {
        let mut counts = self.counts();
        counts.roll(&today());
        counts.used
    }

    /// Writes what was counted since the last write, then reads the totals back (the store
    /// is the truth: a restored backup brings its own).
    pub(super) async fn flush(&self) -> Result<(), StoreError> {
        let _writing = self.writing.lock().await;
        let entries: Vec<UsageEntry> = self.counts().unwritten.drain().map(|(_, e)| e).collect();
        if entries.is_empty() {
            return Ok(());
        }
        let kept = entries.clone();
        if let Err(error) = store::run(&self.store, move |s| s.record_usage(&entries)).await {
            // Kept for the next write: nothing counted is lost to a busy store.
            let mut counts = self.counts();
            for entry in kept {
                counts.keep(entry);
            }
            return Err(error);
        }
        self.reread().await
    }

    async fn reread(&self) -> Result<(), StoreError> {
        let day = today();
        let month = format!("{}-01", day.get(..7).unwrap_or_default());
        let stored = {
            let day = day.clone();
            store::run(&self.store, move |s| {
                Ok(Used {
                    today: s.tokens_since(&day)?,
                    month: s.tokens_since(&month)?,
                })
            })
            .await?
        };
        let mut counts = self.counts();
        counts.roll(&day);
        let unwritten = counts.unwritten_tokens();
        counts.used = Used {
            today: stored.today.saturating_add(unwritten.today),
            month: stored.month.saturating_add(unwritten.month),
        };
        Ok(())
    }
}

impl UsageEntry {
    /// One request to `model` today.
    pub(super) fn one(model: String, tokens: Tokens, error: bool) -> Self {
        Self {
            day: today(),
            model,
            requests: 1,
            errors: u64::from(error),
            input_tokens: tokens.input,
            output_tokens: tokens.output,
        }
    }

    fn add(&mut self, other: &Self) {
        self.requests = self.requests.saturating_add(other.requests);
        self.errors = self.errors.saturating_add(other.errors);
        self.input_tokens = self.input_tokens.saturating_add(other.input_tokens);
        self.output_tokens = self.output_tokens.saturating_add(other.output_tokens);
    }
}

/// Today, `YYYY-MM-DD` (UTC), as the store keeps days.
fn today() -> String {
    crate::clock::rfc3339(crate::clock::now_ms())
        .chars()
        .take(10)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(day: &str, model: &str, tokens: u64) -> UsageEntry {
        UsageEntry {
            day: day.into(),
            model: model.into(),
            requests: 1,
            errors: 0,
            input_tokens: tokens,
            output_tokens: 1,
        }
    }

    #[test]
    fn a_new_day_starts_from_nothing_and_a_new_month_too() {
        let mut counts = Counts::default();
        counts.add(entry("2026-11-30", "m", 9));
        counts.add(entry("2026-11-30", "m", 9));
        assert_eq!(
            counts.used,
            Used {
                today: 20,
                month: 20
            }
        );
        assert_eq!(counts.unwritten.len(), 1, "one row per day and model");
        counts.add(entry("2026-12-01", "m", 4));
        assert_eq!(counts.used, Used { today: 5, month: 5 });
        counts.add(entry("2026-12-02", "n", 4));
        assert_eq!(
            counts.used,
            Used {
                today: 5,
                month: 10
            }
        );
        assert_eq!(
            counts.unwritten_tokens(),
            Used {
                today: 5,
                month: 10
            }
        );
    }

    #[tokio::test]
    async fn counts_show_before_they_are_written_and_once_after() {
        let dir = tempfile::tempdir().expect("dir");
        let store: SharedStore = std::sync::Arc::new(
            crate::store::sqlite::SqliteStore::open(&dir.path().join("c.db")).expect("store"),
        );
        let tally = Tally::load(store.clone()).await.expect("tally");
        let day = today();
        tally.add(entry(&day, "m", 9));
        tally.add(entry(&day, "m", 9));
        let before = tally.usage(&day, &day).await.expect("usage");
        assert_eq!((before[0].requests, before[0].input_tokens), (2, 18));
        assert!(store.usage(&day, &day).expect("rows").is_empty());
        tally.flush().await.expect("written");
        assert_eq!(tally.usage(&day, &day).await.expect("usage"), before);
        assert_eq!(store.usage(&day, &day).expect("rows"), before);
        // A new tally (a restart) starts from what was written.
        let again = Tally::load(store).await.expect("tally");
        assert_eq!(again.used().today, 20);
    }
}
