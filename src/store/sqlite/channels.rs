//! The channels' tokens, sealed.

use rusqlite::{TransactionBehavior, params};

use super::SqliteStore;
use super::rows::{insert_channel_token, insert_event};
use crate::store::{ChannelStore, ChannelToken, NewEvent, StoreError};

impl ChannelStore for SqliteStore {
    fn channel_tokens(&self) -> Result<Vec<ChannelToken>, StoreError> {
        let conn = self.conn();
        let mut query = conn.prepare_cached(
            "SELECT channel, sealed, last4, api_root, account, updated_at, mention_only \
             FROM channel_tokens ORDER BY channel",
        )?;
        let tokens = query
            .query_map([], |row| {
                Ok(ChannelToken {
                    channel: row.get(0)?,
                    sealed: row.get(1)?,
                    last4: row.get(2)?,
                    api_root: row.get(3)?,
                    account: row.get(4)?,
                    updated_at: row.get(5)?,
                    mention_only: row.get(6)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(tokens)
    }

    fn save_channel_token(&self, token: &ChannelToken, event: &NewEvent) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        insert_channel_token(&tx, token)?;
        insert_event(&tx, event)?;
        tx.commit()?;
        Ok(())
    }

    fn remove_channel_token(&self, channel: &str, event: &NewEvent) -> Result<bool, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
        let removed = tx.execute(
            "DELETE FROM channel_tokens WHERE channel = ?1",
            params![channel],
        )? > 0;
        if removed {
            insert_event(&tx, event)?;
        }
        tx.commit()?;
        Ok(removed)
    }
}
