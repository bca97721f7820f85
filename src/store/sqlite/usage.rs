//! The egress proxy's counts, a row per day and model.

use rusqlite::{OptionalExtension, TransactionBehavior, params};

use super::SqliteStore;
use super::rows::insert_event;
use crate::store::{NewEvent, StoreError, UsageEntry, UsageRow, UsageStore};

/// SQLite integers are signed; counts beyond them stay at the largest.
fn stored(count: u64) -> i64 {
    i64::try_from(count).unwrap_or(i64::MAX)
}

impl UsageStore for SqliteStore {
    fn record_usage(&self, entries: &[UsageEntry]) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        {
            let mut add = tx.prepare_cached(
                "INSERT INTO usage (day, model, requests, errors, input_tokens, output_tokens) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6) \
                 ON CONFLICT (day, model) DO UPDATE SET \
                 requests = requests + excluded.requests, \
                 errors = errors + excluded.errors, \
                 input_tokens = input_tokens + excluded.input_tokens, \
                 output_tokens = output_tokens + excluded.output_tokens",
            )?;
            for entry in entries {
                add.execute(params![
                    entry.day,
                    entry.model,
                    stored(entry.requests),
                    stored(entry.errors),
                    stored(entry.input_tokens),
                    stored(entry.output_tokens)
                ])?;
            }
        }
        tx.commit()?;
        Ok(())
    }

    fn usage(&self, from: &str, to: &str) -> Result<Vec<UsageRow>, StoreError> {
        let conn = self.conn();
        let mut statement = conn.prepare(
            "SELECT day, model, requests, errors, input_tokens, output_tokens FROM usage \
             WHERE day >= ?1 AND day <= ?2 ORDER BY day, model",
        )?;
        let count = |value: i64| u64::try_from(value).unwrap_or(0);
        let rows = statement.query_map(params![from, to], |row| {
            Ok(UsageRow {
                day: row.get(0)?,
                model: row.get(1)?,
                requests: count(row.get(2)?),
                errors: count(row.get(3)?),
                input_tokens: count(row.get(4)?),
                output_tokens: count(row.get(5)?),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    fn tokens_since(&self, from: &str) -> Result<u64, StoreError> {
        let total: i64 = self.conn().query_row(
            "SELECT COALESCE(SUM(input_tokens + output_tokens), 0) FROM usage WHERE day >= ?1",
            params![from],
            |row| row.get(0),
        )?;
        Ok(u64::try_from(total).unwrap_or(0))
    }

    fn model_access_paused(&self) -> Result<bool, StoreError> {
        let paused: Option<i64> = self
            .conn()
            .query_row("SELECT paused FROM model_access WHERE id = 1", [], |row| {
                row.get(0)
            })
            .optional()?;
        Ok(paused == Some(1))
    }

    fn set_model_access_paused(&self, paused: bool, event: &NewEvent) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "INSERT INTO model_access (id, paused) VALUES (1, ?1) \
             ON CONFLICT (id) DO UPDATE SET paused = excluded.paused",
            params![i64::from(paused)],
        )?;
        insert_event(&tx, event)?;
        tx.commit()?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_add_up_per_day_and_model() {
        let dir = tempfile::tempdir().expect("dir");
        let store = SqliteStore::open(&dir.path().join("c.db")).expect("open");
        let entry = |day: &str, model: &str, input, output, errors| UsageEntry {
            day: day.into(),
            model: model.into(),
            requests: 1,
            errors,
            input_tokens: input,
            output_tokens: output,
        };
        store
            .record_usage(&[entry("2026-12-06", "m", 10, 2, 0)])
            .expect("record");
        // Written together, or not at all.
        store
            .record_usage(&[
                entry("2026-12-07", "m", 5, 1, 0),
                entry("2026-12-07", "n", 1, 1, 0),
            ])
            .expect("record");
        store
            .record_usage(&[entry("2026-12-07", "m", 0, 0, 1)])
            .expect("record");
        let rows = store.usage("2026-12-07", "2026-12-31").expect("usage");
        assert_eq!(
            rows,
            vec![
                UsageRow {
                    day: "2026-12-07".into(),
                    model: "m".into(),
                    requests: 2,
                    errors: 1,
                    input_tokens: 5,
                    output_tokens: 1,
                },
                UsageRow {
                    day: "2026-12-07".into(),
                    model: "n".into(),
                    requests: 1,
                    errors: 0,
                    input_tokens: 1,
                    output_tokens: 1,
                },
            ]
        );
        assert_eq!(
            store
                .usage("2026-12-06", "2026-12-06")
                .expect("usage")
                .len(),
            1
        );
        assert_eq!(store.tokens_since("2026-12-07").expect("tokens"), 8);
        assert_eq!(store.tokens_since("2026-12-01").expect("tokens"), 20);

        let event = |kind| NewEvent {
            at: 1,
            kind,
            ip: None,
            user_agent: None,
            detail: None,
        };
        assert!(!store.model_access_paused().expect("paused"));
        store
            .set_model_access_paused(true, &event(crate::store::EventKind::ModelAccessPaused))
            .expect("pause");
        assert!(store.model_access_paused().expect("paused"));
        store
            .set_model_access_paused(false, &event(crate::store::EventKind::ModelAccessResumed))
            .expect("resume");
        assert!(!store.model_access_paused().expect("paused"));
    }
}
