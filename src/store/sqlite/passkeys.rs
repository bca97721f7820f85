//! The owner's passkeys and WebAuthn user handle.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::rows::{insert_event, owner_exists};
use super::ways_in::{passkey_count, password_signs_in};
use crate::store::{NewEvent, PasskeyAdded, PasskeyRemoved, StoredPasskey};

pub(super) fn user_handle(conn: &mut Connection, new: [u8; 16]) -> rusqlite::Result<[u8; 16]> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    tx.execute(
        "INSERT OR IGNORE INTO webauthn_user (id, user_handle) VALUES (1, ?1)",
        params![new.as_slice()],
    )?;
    let handle: Vec<u8> = tx.query_row("SELECT user_handle FROM webauthn_user", [], |row| {
        row.get(0)
    })?;
    tx.commit()?;
    Ok(handle.try_into().unwrap_or(new))
}

pub(super) fn list(conn: &Connection) -> rusqlite::Result<Vec<StoredPasskey>> {
    let mut statement = conn.prepare(
        "SELECT id, credential_id, name, credential, created_at, last_used_at FROM passkeys \
         ORDER BY created_at, id",
    )?;
    let rows = statement.query_map([], |row| {
        Ok(StoredPasskey {
            id: row.get(0)?,
            credential_id: row.get(1)?,
            name: row.get(2)?,
            credential: row.get(3)?,
            created_at: row.get(4)?,
            last_used_at: row.get(5)?,
        })
    })?;
    rows.collect()
}

pub(super) fn add(
    conn: &mut Connection,
    passkey: &StoredPasskey,
    event: &NewEvent,
) -> rusqlite::Result<PasskeyAdded> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if !owner_exists(&tx)? {
        return Ok(PasskeyAdded::NoOwner);
    }
    let known: Option<String> = tx
        .query_row(
            "SELECT id FROM passkeys WHERE credential_id = ?1",
            params![passkey.credential_id],
            |row| row.get(0),
        )
        .optional()?;
    if known.is_some() {
        return Ok(PasskeyAdded::AlreadyRegistered);
    }
    tx.execute(
        "INSERT INTO passkeys (id, credential_id, name, credential, created_at, last_used_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        params![
            passkey.id,
            passkey.credential_id,
            passkey.name,
            passkey.credential,
            passkey.created_at,
            passkey.last_used_at
        ],
    )?;
    insert_event(&tx, event)?;
    tx.commit()?;
    Ok(PasskeyAdded::Added)
}

pub(super) fn used(
    conn: &Connection,
    id: &str,
    credential: Option<&str>,
    at: i64,
) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE passkeys SET credential = coalesce(?2, credential), last_used_at = ?3 WHERE id = ?1",
        params![id, credential, at],
    )?;
    Ok(())
}

pub(super) fn remove(
    conn: &mut Connection,
    id: &str,
    event: &NewEvent,
) -> rusqlite::Result<PasskeyRemoved> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let exists: bool = tx.query_row(
        "SELECT EXISTS (SELECT 1 FROM passkeys WHERE id = ?1)",
        params![id],
        |row| row.get(0),
    )?;
    if !exists {
        return Ok(PasskeyRemoved::NoSuchPasskey);
    }
    if !password_signs_in(&tx)? && passkey_count(&tx)? <= 1 {
        return Ok(PasskeyRemoved::LastWayIn);
    }
    tx.execute("DELETE FROM passkeys WHERE id = ?1", params![id])?;
    insert_event(&tx, event)?;
    tx.commit()?;
    Ok(PasskeyRemoved::Removed)
}
