-- When the owner last gave the password in each session: sensitive actions need it recent.
-- Sessions from before count as never.
ALTER TABLE sessions ADD COLUMN reauthenticated_at INTEGER NOT NULL DEFAULT 0;
