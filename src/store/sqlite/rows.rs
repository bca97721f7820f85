//! Rows as the store writes and reads them, shared by its operations.

use rusqlite::{Connection, params};

use super::super::{ChannelToken, LinkedIdentity, NewEvent, Session, StoreError};

/// Oldest security events are dropped beyond this many, so the table stays bounded.
const MAX_EVENTS: i64 = 10_000;

pub(super) fn insert_event(conn: &Connection, event: &NewEvent) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO security_events (at, kind, ip, user_agent, detail) VALUES (?1, ?2, ?3, ?4, ?5)",
        params![event.at, event.kind.as_str(), event.ip, event.user_agent, event.detail],
    )?;
    conn.execute(
        "DELETE FROM security_events WHERE id <= \
         (SELECT id FROM security_events ORDER BY id DESC LIMIT 1 OFFSET ?1)",
        params![MAX_EVENTS],
    )?;
    crate::metrics::event(event.kind.as_str());
    Ok(())
}

/// One column of the gateway's one state row (`column` is one of ours, never input).
pub(super) fn gateway_state<T: rusqlite::types::FromSql>(
    conn: &Connection,
    column: &'static str,
) -> rusqlite::Result<T> {
    conn.query_row(&format!("SELECT {column} FROM gateway_state"), [], |row| {
        row.get(0)
    })
}

pub(super) fn bump_auth_epoch(conn: &Connection) -> rusqlite::Result<()> {
    conn.execute(
        "UPDATE meta SET value = value + 1 WHERE key = 'auth_epoch'",
        [],
    )?;
    Ok(())
}

pub(super) fn insert_session_row(conn: &Connection, session: &Session) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT INTO sessions \
         (id, token_hash, created_at, last_seen_at, expires_at, ip, user_agent, reauthenticated_at) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            session.id,
            session.token_hash.as_slice(),
            session.created_at,
            session.last_seen_at,
            session.expires_at,
            session.ip,
            session.user_agent,
            session.reauthenticated_at
        ],
    )?;
    Ok(())
}

pub(super) fn owner_exists(conn: &Connection) -> rusqlite::Result<bool> {
    conn.query_row("SELECT EXISTS (SELECT 1 FROM owner)", [], |row| row.get(0))
}

pub(super) const SESSION_COLUMNS: &str =
    "id, token_hash, created_at, last_seen_at, expires_at, ip, user_agent, reauthenticated_at";

pub(super) fn session_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<Session> {
    let hash: Vec<u8> = row.get(1)?;
    let mut token_hash = [0u8; 32];
    if hash.len() == token_hash.len() {
        token_hash.copy_from_slice(&hash);
    }
    Ok(Session {
        id: row.get(0)?,
        token_hash,
        created_at: row.get(2)?,
        last_seen_at: row.get(3)?,
        expires_at: row.get(4)?,
        ip: row.get(5)?,
        user_agent: row.get(6)?,
        reauthenticated_at: row.get(7)?,
    })
}

/// A count or a position as SQLite takes it.
pub(super) fn sql_int(n: usize) -> i64 {
    i64::try_from(n).unwrap_or(i64::MAX)
}

/// Links `identity` (replacing any other), in the caller's transaction.
pub(super) fn insert_identity(
    conn: &Connection,
    identity: &LinkedIdentity,
) -> rusqlite::Result<()> {
    conn.execute(
        "INSERT OR REPLACE INTO oidc_identity (id, issuer, subject, email, linked_at) \
         VALUES (1, ?1, ?2, ?3, ?4)",
        params![
            identity.issuer,
            identity.subject,
            identity.email,
            identity.linked_at
        ],
    )?;
    Ok(())
}

/// Sets `token` for its channel, replacing the one before.
pub(super) fn insert_channel_token(
    conn: &Connection,
    token: &ChannelToken,
) -> Result<(), StoreError> {
    conn.execute(
        "INSERT OR REPLACE INTO channel_tokens \
         (channel, sealed, last4, api_root, account, updated_at, mention_only) \
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
        params![
            token.channel,
            token.sealed,
            token.last4,
            token.api_root,
            token.account,
            token.updated_at,
            token.mention_only
        ],
    )?;
    Ok(())
}
