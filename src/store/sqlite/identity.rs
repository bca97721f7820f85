//! The owner's linked OpenID Connect identity, and the email a sign-in broker must answer.

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use super::rows::{insert_event, owner_exists};
use crate::store::{LinkedIdentity, NewEvent};

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
    tx.execute(
        "INSERT OR REPLACE INTO oidc_identity (id, issuer, subject, email, linked_at) \
         VALUES (1, ?1, ?2, ?3, ?4)",
        params![
            identity.issuer,
            identity.subject,
            identity.email,
            identity.linked_at
        ],
    )?;
    insert_event(&tx, event)?;
    tx.commit()?;
    Ok(true)
}

pub(super) fn unlink(conn: &mut Connection, event: &NewEvent) -> rusqlite::Result<bool> {
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let removed = tx.execute("DELETE FROM oidc_identity", [])? > 0;
    if removed {
        insert_event(&tx, event)?;
    }
    tx.commit()?;
    Ok(removed)
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
