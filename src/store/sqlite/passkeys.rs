//! The owner's passkeys and WebAuthn user handle.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::rows::{insert_event, owner_exists};
use super::ways_in::{other_way_in, password_signs_in};
use crate::store::{Here, NewEvent, PasskeyAdded, PasskeyRemoved, StoredPasskey};

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

pub(super) fn known_user_handle(conn: &Connection) -> rusqlite::Result<Option<Vec<u8>>> {
    conn.query_row("SELECT user_handle FROM webauthn_user", [], |row| {
        row.get(0)
    })
    .optional()
}

pub(super) fn list(conn: &Connection) -> rusqlite::Result<Vec<StoredPasskey>> {
    let mut statement = conn.prepare(
        "SELECT id, credential_id, name, credential, created_at, last_used_at, rp_id FROM passkeys \
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
            rp_id: row.get(6)?,
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
        "INSERT INTO passkeys (id, credential_id, name, credential, created_at, last_used_at, rp_id) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            passkey.id,
            passkey.credential_id,
            passkey.name,
            passkey.credential,
            passkey.created_at,
            passkey.last_used_at,
            passkey.rp_id
        ],
    )?;
    insert_event(&tx, event)?;
    tx.commit()?;
    Ok(PasskeyAdded::Added)
}

/// Records a use of passkey `id` verified against its record `verified_against`, and the
/// record the verifier updated (counter, backup state); false, and nothing written, when
/// the record changed since it was read (another sign-in with it, at the same moment) or
/// the passkey is gone.
pub(super) fn used(
    conn: &Connection,
    id: &str,
    verified_against: &str,
    updated: Option<&str>,
    at: i64,
) -> rusqlite::Result<bool> {
    let changed = conn.execute(
        "UPDATE passkeys SET credential = coalesce(?3, credential), last_used_at = ?4 \
         WHERE id = ?1 AND credential = ?2",
        params![id, verified_against, updated, at],
    )?;
    Ok(changed == 1)
}

pub(super) fn remove(
    conn: &mut Connection,
    id: &str,
    here: Here<'_>,
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
    tx.execute("DELETE FROM passkeys WHERE id = ?1", params![id])?;
    if !password_signs_in(&tx)? && !other_way_in(&tx, here, true)? {
        // Dropped with the transaction: nothing is removed.
        return Ok(PasskeyRemoved::LastWayIn);
    }
    insert_event(&tx, event)?;
    tx.commit()?;
    Ok(PasskeyRemoved::Removed)
}
