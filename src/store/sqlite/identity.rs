//! The owner's linked OpenID Connect identity, and the email a sign-in broker must answer.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::rows::{insert_event, insert_identity, owner_exists};
use super::ways_in::{other_way_in, password_signs_in};
use crate::store::{Here, IdentityUnlinked, LinkedIdentity, NewEvent};

pub(super) fn linked(conn: &Connection) -> rusqlite::Result<Option<LinkedIdentity>> {
    conn.query_row(
        "SELECT issuer, subject, email, linked_at FROM oidc_identity",
        [],
        |row| {
            Ok(LinkedIdentity {
                issuer: row.get(0)?,
                subject: row.get(1)?,
                email: row.get(2)?,
                linked_at: row.get(3)?,
            })
        },
    )
    .optional()
}

pub(super) fn link(
    conn: &mut Connection,
    identity: &LinkedIdentity,
    event: &NewEvent,
) -> rusqlite::Result<bool> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    if !owner_exists(&tx)? {
        return Ok(false);
    }
    insert_identity(&tx, identity)?;
    insert_event(&tx, event)?;
    tx.commit()?;
    Ok(true)
}

pub(super) fn unlink(
    conn: &mut Connection,
    here: Here<'_>,
    event: &NewEvent,
) -> rusqlite::Result<IdentityUnlinked> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let linked: bool = tx.query_row("SELECT EXISTS (SELECT 1 FROM oidc_identity)", [], |row| {
        row.get(0)
    })?;
    if !linked {
        return Ok(IdentityUnlinked::NotLinked);
    }
    tx.execute("DELETE FROM oidc_identity", [])?;
    if !password_signs_in(&tx)? && !other_way_in(&tx, here, false)? {
        // Dropped with the transaction: nothing is unlinked.
        return Ok(IdentityUnlinked::LastWayIn);
    }
    insert_event(&tx, event)?;
    tx.commit()?;
    Ok(IdentityUnlinked::Unlinked)
}

pub(super) fn exchange_email(conn: &Connection) -> rusqlite::Result<Option<String>> {
    conn.query_row("SELECT email FROM exchange_email", [], |row| row.get(0))
        .optional()
}

pub(super) fn bind_exchange_email(
    conn: &mut Connection,
    email: Option<&str>,
    at: i64,
    event: &NewEvent,
) -> rusqlite::Result<bool> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let changed =
        match email {
            Some(email) if owner_exists(&tx)? => tx.execute(
                "INSERT OR REPLACE INTO exchange_email (id, email, bound_at) VALUES (1, ?1, ?2)",
                params![email, at],
            )? > 0,
            Some(_) => false,
            None => tx.execute("DELETE FROM exchange_email", [])? > 0,
        };
    if changed {
        insert_event(&tx, event)?;
    }
    tx.commit()?;
    Ok(changed)
}
