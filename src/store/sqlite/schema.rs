//! The database's schema: its migrations, applied in order at open.

use rusqlite::{Connection, TransactionBehavior};

use super::rows::sql_int;
use crate::store::StoreError;

/// Migrations in order; `PRAGMA user_version` records how many have run.
const MIGRATIONS: &[&str] = &[
    include_str!("../migrations/0001_foundation.sql"),
    include_str!("../migrations/0002_gateway.sql"),
    include_str!("../migrations/0003_status_checks.sql"),
    include_str!("../migrations/0004_status_check_origin.sql"),
    include_str!("../migrations/0005_session_reauthentication.sql"),
    include_str!("../migrations/0006_known_devices.sql"),
    include_str!("../migrations/0007_gateway_first_ready.sql"),
    include_str!("../migrations/0008_oidc_identity.sql"),
    include_str!("../migrations/0009_passkeys.sql"),
    include_str!("../migrations/0010_exchange_email.sql"),
    include_str!("../migrations/0011_password_sign_in.sql"),
    include_str!("../migrations/0012_passkey_rp_id.sql"),
    include_str!("../migrations/0013_usage.sql"),
    include_str!("../migrations/0014_channel_tokens.sql"),
    include_str!("../migrations/0015_channel_mention_only.sql"),
];

pub(super) fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    let applied: i64 = conn.pragma_query_value(None, "user_version", |row| row.get(0))?;
    let supported = sql_int(MIGRATIONS.len());
    if applied > supported {
        return Err(StoreError::SchemaTooNew {
            found: applied,
            supported,
        });
    }
    // A negative version is none that clawhost wrote: leave such a schema alone.
    let done = usize::try_from(applied).unwrap_or(usize::MAX);
    for (index, sql) in MIGRATIONS.iter().enumerate().skip(done) {
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        // Another process may have migrated while we waited for the write lock.
        let now: i64 = tx.pragma_query_value(None, "user_version", |row| row.get(0))?;
        if now > sql_int(index) {
            continue;
        }
        tx.execute_batch(sql)?;
        tx.pragma_update(None, "user_version", sql_int(index + 1))?;
        tx.commit()?;
    }
    Ok(())
}
