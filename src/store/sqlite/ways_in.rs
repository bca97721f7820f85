//! The owner's ways in taken together: the password, the passkeys, the linked identity. The
//! claim gives the first; what turns one off or removes it checks, in the same transaction,
//! that another remains.

/// Becomes the owner in one transaction: there is none yet and the code is live; the code is
/// used up, and the first session opened.
pub(super) fn claim(
    conn: &mut Connection,
    code_hash: [u8; 32],
    way_in: &FirstWayIn,
    session: &Session,
    event: &NewEvent,
) -> rusqlite::Result<ClaimOutcome> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if owner_exists(&tx)? {
        return Ok(ClaimOutcome::AlreadyClaimed);
    }
    let consumed = tx.execute(
        "DELETE FROM claim_code WHERE code_hash = ?1 AND expires_at > ?2",
        params![code_hash.as_slice(), event.at],
    )?;
    if consumed != 1 {
        return Ok(ClaimOutcome::InvalidCode);
    }
    let password_hash = match way_in {
        FirstWayIn::Password(hash) => Some(hash.as_str()),
        FirstWayIn::Identity(_) => None,
    };
    tx.execute(
        "INSERT INTO owner (id, password_hash, created_at, password_changed_at, password_sign_in) \
         VALUES (1, ?1, ?2, ?2, ?3)",
        params![password_hash, event.at, password_hash.is_some()],
    )?;
    if let FirstWayIn::Identity(identity) = way_in {
        insert_identity(&tx, identity)?;
    }
    insert_session_row(&tx, session)?;
    insert_event(&tx, event)?;
    bump_auth_epoch(&tx)?;
    tx.commit()?;
    Ok(ClaimOutcome::Claimed)
}

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::rows::{
    bump_auth_epoch, insert_event, insert_identity, insert_session_row, owner_exists,
};
use crate::store::{ClaimOutcome, FirstWayIn, NewEvent, PasswordSignIn, Session};

pub(super) fn set_password_sign_in(
    conn: &mut Connection,
    on: bool,
    issuer_confirmed: bool,
    event: &NewEvent,
) -> rusqlite::Result<PasswordSignIn> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if password_signs_in(&tx)? == on {
        return Ok(PasswordSignIn::Unchanged);
    }
    if on && !has_password(&tx)? {
        return Ok(PasswordSignIn::NoPassword);
    }
    if !on && passkey_count(&tx)? == 0 && !(issuer_confirmed && identity_linked(&tx)?) {
        return Ok(PasswordSignIn::NeedsAnotherWayIn);
    }
    tx.execute("UPDATE owner SET password_sign_in = ?1", params![on])?;
    insert_event(&tx, event)?;
    tx.commit()?;
    Ok(PasswordSignIn::Changed)
}

/// Whether the password signs in; without an owner, as if it did.
pub(super) fn password_signs_in(conn: &Connection) -> rusqlite::Result<bool> {
    Ok(conn
        .query_row("SELECT password_sign_in FROM owner", [], |row| row.get(0))
        .optional()?
        .unwrap_or(true))
}

fn has_password(conn: &Connection) -> rusqlite::Result<bool> {
    conn.query_row(
        "SELECT EXISTS (SELECT 1 FROM owner WHERE password_hash IS NOT NULL)",
        [],
        |row| row.get(0),
    )
}

pub(super) fn passkey_count(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row("SELECT count(*) FROM passkeys", [], |row| row.get(0))
}

fn identity_linked(conn: &Connection) -> rusqlite::Result<bool> {
    conn.query_row("SELECT EXISTS (SELECT 1 FROM oidc_identity)", [], |row| {
        row.get(0)
    })
}
