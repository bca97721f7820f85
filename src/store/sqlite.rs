//! The embedded SQLite store: one connection in WAL mode, guarded by a mutex.
//!
//! One connection is enough: every call is a few microseconds of work, the hot path (session
//! checks) is served from memory, and SQLite serializes writers anyway. Other processes (the
//! CLI) open the same file; WAL and the busy timeout let them take turns.

use std::fs::OpenOptions;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};

use rows::{
    SESSION_COLUMNS, bump_auth_epoch, gateway_state, insert_event, insert_session_row,
    owner_exists, session_from_row, sql_int,
};

use super::{
    ClaimOutcome, DatabaseCopy, Event, FirstWayIn, GatewaySettings, Here, IdentityUnlinked,
    IssueCodeOutcome, LinkedIdentity, NewEvent, Owner, PasskeyAdded, PasskeyRemoved,
    PasswordSignIn, Restored, Session, StatusBudget, StatusCheck, Store, StoreError, StoredPasskey,
    UnixMs,
};

pub(crate) struct SqliteStore {
    conn: Mutex<Connection>,
}

impl SqliteStore {
    /// Opens (creating when missing, 0600) the database and applies pending migrations.
    pub(crate) fn open(path: &Path) -> Result<Self, StoreError> {
        if !path.exists() {
            // Create it ourselves so it is private from the first byte; SQLite gives its
            // -wal and -shm files the same mode.
            let _ = OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(path);
        }
        let mut conn = Connection::open(path)?;
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.pragma_update(None, "foreign_keys", "ON")?;
        // Deleted rows (session hashes, old password hashes) are overwritten, not left behind.
        conn.pragma_update(None, "secure_delete", "ON")?;
        schema::migrate(&mut conn)?;
        Ok(Self {
            conn: Mutex::new(conn),
        })
    }

    fn conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock cannot leave a half-done transaction behind
        // (rusqlite rolls back on drop), so a poisoned lock is still safe to use.
        self.conn
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

impl Store for SqliteStore {
    fn owner(&self) -> Result<Option<Owner>, StoreError> {
        let conn = self.conn();
        let owner = conn
            .query_row(
                "SELECT password_hash, created_at, password_changed_at, password_sign_in FROM owner",
                [],
                |row| {
                    Ok(Owner {
                        password_hash: row.get(0)?,
                        created_at: row.get(1)?,
                        password_changed_at: row.get(2)?,
                        password_sign_in: row.get(3)?,
                    })
                },
            )
            .optional()?;
        Ok(owner)
    }

    fn issue_claim_code(
        &self,
        code_hash: [u8; 32],
        now: UnixMs,
        expires_at: UnixMs,
        event: &NewEvent,
    ) -> Result<IssueCodeOutcome, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        if owner_exists(&tx)? {
            return Ok(IssueCodeOutcome::AlreadyClaimed);
        }
        tx.execute(
            "INSERT OR REPLACE INTO claim_code (id, code_hash, created_at, expires_at) \
             VALUES (1, ?1, ?2, ?3)",
            params![code_hash.as_slice(), now, expires_at],
        )?;
        insert_event(&tx, event)?;
        tx.commit()?;
        Ok(IssueCodeOutcome::Issued)
    }

    fn claim_code_matches(&self, code_hash: [u8; 32], now: UnixMs) -> Result<bool, StoreError> {
        let conn = self.conn();
        Ok(conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM claim_code WHERE code_hash = ?1 AND expires_at > ?2)",
            params![code_hash.as_slice(), now],
            |row| row.get(0),
        )?)
    }

    fn has_live_claim_code(&self, now: UnixMs) -> Result<bool, StoreError> {
        let conn = self.conn();
        Ok(conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM claim_code WHERE expires_at > ?1)",
            params![now],
            |row| row.get(0),
        )?)
    }

    fn claim(
        &self,
        code_hash: [u8; 32],
        way_in: &FirstWayIn,
        session: &Session,
        event: &NewEvent,
    ) -> Result<ClaimOutcome, StoreError> {
        Ok(ways_in::claim(
            &mut self.conn(),
            code_hash,
            way_in,
            session,
            event,
        )?)
    }

    fn change_password(
        &self,
        password_hash: &str,
        keep_session_id: &str,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "UPDATE owner SET password_hash = ?1, password_changed_at = ?2",
            params![password_hash, event.at],
        )?;
        tx.execute(
            "DELETE FROM sessions WHERE id <> ?1",
            params![keep_session_id],
        )?;
        insert_event(&tx, event)?;
        bump_auth_epoch(&tx)?;
        tx.commit()?;
        Ok(())
    }

    fn reset_owner(
        &self,
        code_hash: [u8; 32],
        expires_at: UnixMs,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute("DELETE FROM owner", [])?;
        tx.execute("DELETE FROM sessions", [])?;
        tx.execute("DELETE FROM known_devices", [])?;
        tx.execute("DELETE FROM oidc_identity", [])?;
        tx.execute("DELETE FROM passkeys", [])?;
        tx.execute("DELETE FROM webauthn_user", [])?;
        tx.execute("DELETE FROM exchange_email", [])?;
        tx.execute(
            "INSERT OR REPLACE INTO claim_code (id, code_hash, created_at, expires_at) \
             VALUES (1, ?1, ?2, ?3)",
            params![code_hash.as_slice(), event.at, expires_at],
        )?;
        insert_event(&tx, event)?;
        bump_auth_epoch(&tx)?;
        tx.commit()?;
        Ok(())
    }

    fn linked_identity(&self) -> Result<Option<LinkedIdentity>, StoreError> {
        Ok(identity::linked(&self.conn())?)
    }

    fn link_identity(
        &self,
        identity: &LinkedIdentity,
        event: &NewEvent,
    ) -> Result<bool, StoreError> {
        Ok(identity::link(&mut self.conn(), identity, event)?)
    }

    fn unlink_identity(
        &self,
        here: Here<'_>,
        event: &NewEvent,
    ) -> Result<IdentityUnlinked, StoreError> {
        Ok(identity::unlink(&mut self.conn(), here, event)?)
    }

    fn exchange_email(&self) -> Result<Option<String>, StoreError> {
        Ok(identity::exchange_email(&self.conn())?)
    }

    fn bind_exchange_email(
        &self,
        email: Option<&str>,
        at: UnixMs,
        event: &NewEvent,
    ) -> Result<bool, StoreError> {
        Ok(identity::bind_exchange_email(
            &mut self.conn(),
            email,
            at,
            event,
        )?)
    }

    fn webauthn_user_handle(&self, new: [u8; 16]) -> Result<[u8; 16], StoreError> {
        Ok(passkeys::user_handle(&mut self.conn(), new)?)
    }

    fn passkeys(&self) -> Result<Vec<StoredPasskey>, StoreError> {
        Ok(passkeys::list(&self.conn())?)
    }

    fn add_passkey(
        &self,
        passkey: &StoredPasskey,
        event: &NewEvent,
    ) -> Result<PasskeyAdded, StoreError> {
        Ok(passkeys::add(&mut self.conn(), passkey, event)?)
    }

    fn known_webauthn_user_handle(&self) -> Result<Option<Vec<u8>>, StoreError> {
        Ok(passkeys::known_user_handle(&self.conn())?)
    }

    fn passkey_used(
        &self,
        id: &str,
        verified_against: &str,
        updated: Option<&str>,
        at: UnixMs,
    ) -> Result<bool, StoreError> {
        let conn = self.conn();
        Ok(passkeys::used(&conn, id, verified_against, updated, at)?)
    }

    fn remove_passkey(
        &self,
        id: &str,
        here: Here<'_>,
        event: &NewEvent,
    ) -> Result<PasskeyRemoved, StoreError> {
        Ok(passkeys::remove(&mut self.conn(), id, here, event)?)
    }

    fn set_password_sign_in(
        &self,
        on: bool,
        here: Here<'_>,
        event: &NewEvent,
    ) -> Result<PasswordSignIn, StoreError> {
        let mut conn = self.conn();
        Ok(ways_in::set_password_sign_in(&mut conn, on, here, event)?)
    }

    fn insert_session(&self, session: &Session, event: &NewEvent) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        insert_session_row(&tx, session)?;
        insert_event(&tx, event)?;
        tx.commit()?;
        Ok(())
    }

    fn session_by_token_hash(&self, token_hash: [u8; 32]) -> Result<Option<Session>, StoreError> {
        let conn = self.conn();
        let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions WHERE token_hash = ?1");
        Ok(conn
            .query_row(&sql, params![token_hash.as_slice()], session_from_row)
            .optional()?)
    }

    fn touch_session(&self, id: &str, last_seen_at: UnixMs) -> Result<(), StoreError> {
        let conn = self.conn();
        conn.execute(
            "UPDATE sessions SET last_seen_at = max(last_seen_at, ?2) WHERE id = ?1",
            params![id, last_seen_at],
        )?;
        Ok(())
    }

    fn remember_device(
        &self,
        token_hash: [u8; 32],
        now: UnixMs,
        keep: usize,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "INSERT INTO known_devices (token_hash, created_at, last_used_at) VALUES (?1, ?2, ?2) \
             ON CONFLICT (token_hash) DO UPDATE SET last_used_at = max(last_used_at, ?2)",
            params![token_hash.as_slice(), now],
        )?;
        tx.execute(
            "DELETE FROM known_devices WHERE token_hash NOT IN \
             (SELECT token_hash FROM known_devices ORDER BY last_used_at DESC LIMIT ?1)",
            params![sql_int(keep)],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn is_known_device(&self, token_hash: [u8; 32]) -> Result<bool, StoreError> {
        let conn = self.conn();
        Ok(conn.query_row(
            "SELECT EXISTS (SELECT 1 FROM known_devices WHERE token_hash = ?1)",
            params![token_hash.as_slice()],
            |row| row.get(0),
        )?)
    }

    fn mark_reauthenticated(
        &self,
        id: &str,
        at: UnixMs,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "UPDATE sessions SET reauthenticated_at = max(reauthenticated_at, ?2) WHERE id = ?1",
            params![id, at],
        )?;
        insert_event(&tx, event)?;
        tx.commit()?;
        Ok(())
    }

    fn list_sessions(&self) -> Result<Vec<Session>, StoreError> {
        let conn = self.conn();
        let sql = format!("SELECT {SESSION_COLUMNS} FROM sessions ORDER BY created_at DESC, id");
        let mut statement = conn.prepare(&sql)?;
        let rows = statement.query_map([], session_from_row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn delete_session(&self, id: &str, event: Option<&NewEvent>) -> Result<bool, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let deleted = tx.execute("DELETE FROM sessions WHERE id = ?1", params![id])?;
        if deleted > 0 {
            if let Some(event) = event {
                insert_event(&tx, event)?;
            }
            bump_auth_epoch(&tx)?;
        }
        tx.commit()?;
        Ok(deleted > 0)
    }

    fn delete_other_sessions(&self, keep_id: &str, event: &NewEvent) -> Result<usize, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let deleted = tx.execute("DELETE FROM sessions WHERE id <> ?1", params![keep_id])?;
        insert_event(&tx, event)?;
        bump_auth_epoch(&tx)?;
        tx.commit()?;
        Ok(deleted)
    }

    fn delete_expired_sessions(&self, now: UnixMs, idle_ms: i64) -> Result<usize, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let deleted = tx.execute(
            "DELETE FROM sessions WHERE expires_at <= ?1 OR last_seen_at + ?2 <= ?1",
            params![now, idle_ms],
        )?;
        if deleted > 0 {
            bump_auth_epoch(&tx)?;
        }
        tx.commit()?;
        Ok(deleted)
    }

    fn record_event(&self, event: &NewEvent) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        insert_event(&tx, event)?;
        tx.commit()?;
        Ok(())
    }

    fn events(&self, before_id: Option<i64>, limit: usize) -> Result<Vec<Event>, StoreError> {
        let conn = self.conn();
        let mut statement = conn.prepare(
            "SELECT id, at, kind, ip, user_agent, detail FROM security_events \
             WHERE id < ?1 ORDER BY id DESC LIMIT ?2",
        )?;
        let rows = statement.query_map(
            params![before_id.unwrap_or(i64::MAX), sql_int(limit)],
            |row| {
                Ok(Event {
                    id: row.get(0)?,
                    at: row.get(1)?,
                    kind: row.get(2)?,
                    ip: row.get(3)?,
                    user_agent: row.get(4)?,
                    detail: row.get(5)?,
                })
            },
        )?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn auth_epoch(&self) -> Result<i64, StoreError> {
        let conn = self.conn();
        Ok(conn.query_row(
            "SELECT value FROM meta WHERE key = 'auth_epoch'",
            [],
            |row| row.get(0),
        )?)
    }

    fn gateway_settings(&self) -> Result<Option<GatewaySettings>, StoreError> {
        let conn = self.conn();
        Ok(conn
            .query_row(
                "SELECT provider, model, base_url, api_key_sealed, api_key_last4, updated_at \
                 FROM gateway_settings",
                [],
                |row| {
                    Ok(GatewaySettings {
                        provider: row.get(0)?,
                        model: row.get(1)?,
                        base_url: row.get(2)?,
                        api_key_sealed: row.get(3)?,
                        api_key_last4: row.get(4)?,
                        updated_at: row.get(5)?,
                    })
                },
            )
            .optional()?)
    }

    fn save_gateway_settings(
        &self,
        settings: &GatewaySettings,
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "INSERT OR REPLACE INTO gateway_settings \
             (id, provider, model, base_url, api_key_sealed, api_key_last4, updated_at) \
             VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                settings.provider,
                settings.model,
                settings.base_url,
                settings.api_key_sealed,
                settings.api_key_last4,
                settings.updated_at
            ],
        )?;
        insert_event(&tx, event)?;
        tx.commit()?;
        Ok(())
    }

    fn insert_status_check(
        &self,
        check: &StatusCheck,
        budget: StatusBudget,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "INSERT INTO status_checks (id, client_name, created_at, anonymous) \
             VALUES (?1, ?2, ?3, ?4)",
            params![
                check.id,
                check.client_name,
                check.created_at,
                check.anonymous
            ],
        )?;
        // The newest rows of the same origin that fit the budget stay; the others go.
        tx.execute(
            "DELETE FROM status_checks WHERE id IN ( \
                SELECT id FROM ( \
                    SELECT id, \
                        ROW_NUMBER() OVER newest AS n, \
                        SUM(length(CAST(client_name AS BLOB))) OVER newest AS bytes \
                    FROM status_checks WHERE anonymous = ?1 \
                    WINDOW newest AS (ORDER BY id DESC) \
                ) WHERE n > ?2 OR bytes > ?3)",
            params![check.anonymous, sql_int(budget.rows), sql_int(budget.bytes)],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn status_checks(
        &self,
        before_id: Option<&str>,
        limit: usize,
    ) -> Result<Vec<StatusCheck>, StoreError> {
        let conn = self.conn();
        let mut statement = conn.prepare(
            "SELECT id, client_name, created_at, anonymous FROM status_checks \
             WHERE ?1 IS NULL OR id < ?1 ORDER BY id DESC LIMIT ?2",
        )?;
        let rows = statement.query_map(params![before_id, sql_int(limit)], |row| {
            Ok(StatusCheck {
                id: row.get(0)?,
                client_name: row.get(1)?,
                created_at: row.get(2)?,
                anonymous: row.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn gateway_wanted_running(&self) -> Result<bool, StoreError> {
        Ok(gateway_state(&self.conn(), "wanted_running")?)
    }

    fn set_gateway_wanted_running(&self, running: bool) -> Result<(), StoreError> {
        let conn = self.conn();
        conn.execute(
            "UPDATE gateway_state SET wanted_running = ?1",
            params![running],
        )?;
        Ok(())
    }

    fn gateway_first_ready_at(&self) -> Result<Option<UnixMs>, StoreError> {
        Ok(gateway_state(&self.conn(), "first_ready_at")?)
    }

    fn mark_gateway_ready(&self, at: UnixMs) -> Result<(), StoreError> {
        let conn = self.conn();
        conn.execute(
            "UPDATE gateway_state SET first_ready_at = ?1 WHERE first_ready_at IS NULL",
            params![at],
        )?;
        Ok(())
    }

    fn record_gateway_credential(
        &self,
        sha256: [u8; 32],
        event: &NewEvent,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        tx.execute(
            "UPDATE gateway_state SET credential_sha256 = ?1",
            params![sha256.as_slice()],
        )?;
        insert_event(&tx, event)?;
        tx.commit()?;
        Ok(())
    }

    fn copy(&self, copy: DatabaseCopy<'_>) -> Result<(), StoreError> {
        copies::copy(&mut self.conn(), copy)
    }

    fn prepare_restored(&self, restored: &Restored) -> Result<(), StoreError> {
        copies::prepare_restored(&mut self.conn(), restored)
    }
}

mod channels;
mod copies;
mod identity;
mod passkeys;
mod rows;
mod schema;
#[cfg(test)]
mod tests;
mod usage;
mod ways_in;
