//! The owner's ways in taken together: the password, the passkeys, the linked identity. The
//! claim gives the first; what turns one off or removes it checks, in the same transaction,
//! that another remains.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::rows::{
    bump_auth_epoch, insert_event, insert_identity, insert_session_row, owner_exists,
};
use crate::store::{ClaimOutcome, FirstWayIn, Here, NewEvent, PasswordSignIn, Session};

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
    tx.execute(
        "INSERT INTO owner (id, password_hash, created_at, password_changed_at) \
         VALUES (1, ?1, ?2, ?2)",
        params![way_in.password_hash, event.at],
    )?;
    if let Some(identity) = &way_in.identity {
        insert_identity(&tx, identity)?;
    }
    insert_session_row(&tx, session)?;
    insert_event(&tx, event)?;
    bump_auth_epoch(&tx)?;
    tx.commit()?;
    Ok(ClaimOutcome::Claimed)
}

pub(super) fn set_password_sign_in(
    conn: &mut Connection,
    on: bool,
    here: Here<'_>,
    event: &NewEvent,
) -> rusqlite::Result<PasswordSignIn> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if password_signs_in(&tx)? == on {
        return Ok(PasswordSignIn::Unchanged);
    }
    if !on && !other_way_in(&tx, here, true)? {
        return Ok(PasswordSignIn::NeedsAnotherWayIn);
    }
    tx.execute("UPDATE owner SET password_sign_in = ?1", params![on])?;
    insert_event(&tx, event)?;
    tx.commit()?;
    Ok(PasswordSignIn::Changed)
}

/// Whether the owner has a way in besides the password `here`: a passkey made for its relying
/// party id (or before ids were kept), or (with `with_identity`) the identity linked at its
/// issuer.
pub(super) fn other_way_in(
    conn: &Connection,
    here: Here<'_>,
    with_identity: bool,
) -> rusqlite::Result<bool> {
    let passkey: bool = match here.rp_id {
        Some(rp_id) => conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM passkeys WHERE rp_id IS NULL OR rp_id = ?1)",
            params![rp_id],
            |row| row.get(0),
        )?,
        None => false,
    };
    let identity: bool = match here.issuer {
        Some(issuer) if with_identity => conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM oidc_identity WHERE issuer = ?1)",
            params![issuer],
            |row| row.get(0),
        )?,
        _ => false,
    };
    Ok(passkey || identity)
}

/// Whether the password signs in; without an owner, as if it did.
pub(super) fn password_signs_in(conn: &Connection) -> rusqlite::Result<bool> {
    Ok(conn
        .query_row("SELECT password_sign_in FROM owner", [], |row| row.get(0))
        .optional()?
        .unwrap_or(true))
}
