//! Whole-database copies, for backups: a consistent snapshot of the open database into a new
//! file (`VACUUM INTO`, which reads one transaction), a restored file copied into the open
//! database in one step (SQLite's online backup: readers see the old pages or the new ones),
//! and what a restored database must forget before it is used.

use std::os::unix::fs::OpenOptionsExt;
use std::time::Duration;

use rusqlite::backup::StepResult;
use rusqlite::{Connection, OpenFlags, TransactionBehavior, params};

use super::rows::insert_event;
use crate::store::{DatabaseCopy, Restored, StoreError};

pub(super) fn copy(conn: &mut Connection, copy: DatabaseCopy<'_>) -> Result<(), StoreError> {
    match copy {
        DatabaseCopy::SnapshotInto(path) => {
            let shown = path
                .to_str()
                .ok_or_else(|| StoreError::Task("a backup path must be UTF-8".into()))?;
            // Private from the first byte; VACUUM INTO fills an empty file.
            std::fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path)
                .map_err(|e| StoreError::Task(format!("{shown}: {e}")))?;
            conn.execute("VACUUM INTO ?1", params![shown])?;
        }
        DatabaseCopy::ReplaceWith(path) => {
            let epoch: i64 = conn.query_row(
                "SELECT value FROM meta WHERE key = 'auth_epoch'",
                [],
                |row| row.get(0),
            )?;
            let source = Connection::open_with_flags(path, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
            replace_with(&source, conn)?;
            // Past the epoch replaced, whatever the copy brought: every cached session
            // check starts over. Then on disk for good before a restore's journal goes.
            conn.execute(
                "UPDATE meta SET value = MAX(value, ?1) + 1 WHERE key = 'auth_epoch'",
                params![epoch],
            )?;
            conn.query_row("PRAGMA wal_checkpoint(FULL)", [], |_| Ok(()))?;
        }
    }
    Ok(())
}

/// `source` copied over `conn`'s database in one write transaction.
fn replace_with(source: &Connection, conn: &mut Connection) -> Result<(), StoreError> {
    let backup = rusqlite::backup::Backup::new(source, conn)?;
    // Every page in one step (-1): one write transaction on the open database. A reader in
    // another process may hold it up for a moment.
    for _ in 0..50 {
        match backup.step(-1)? {
            StepResult::Done => return Ok(()),
            _ => std::thread::sleep(Duration::from_millis(100)),
        }
    }
    Err(StoreError::Task(
        "the database stayed busy for 5 s; try again".into(),
    ))
}

/// Prepares a database restored from a backup (not yet in use): no session of the time of
/// the backup signs in, the key is the one given, the auth epoch moves past the one replaced.
pub(super) fn prepare_restored(
    conn: &mut Connection,
    restored: &Restored,
) -> Result<(), StoreError> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute("DELETE FROM sessions", [])?;
    tx.execute(
        "UPDATE gateway_settings SET api_key_sealed = ?1, \
             api_key_last4 = CASE WHEN ?1 IS NULL THEN NULL ELSE api_key_last4 END",
        params![restored.api_key_sealed],
    )?;
    tx.execute("DELETE FROM channel_tokens", [])?;
    for token in &restored.channel_tokens {
        super::rows::insert_channel_token(&tx, token)?;
    }
    tx.execute(
        "UPDATE meta SET value = MAX(value, ?1) + 1 WHERE key = 'auth_epoch'",
        params![restored.epoch_above],
    )?;
    tx.execute(
        "UPDATE gateway_state SET wanted_running = ?1",
        params![restored.wanted_running],
    )?;
    insert_event(&tx, &restored.event)?;
    tx.commit()?;
    Ok(())
}
