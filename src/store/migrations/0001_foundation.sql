-- Counters that other processes (the CLI) bump so a running server notices.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value INTEGER NOT NULL
) STRICT;
INSERT INTO meta (key, value) VALUES ('auth_epoch', 0);

-- At most one owner: the primary key is pinned to 1.
CREATE TABLE owner (
    id                  INTEGER PRIMARY KEY CHECK (id = 1),
    password_hash       TEXT    NOT NULL,
    created_at          INTEGER NOT NULL,
    password_changed_at INTEGER NOT NULL
) STRICT;

-- At most one claim code: issuing a new one replaces the old.
CREATE TABLE claim_code (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    code_hash  BLOB    NOT NULL,
    created_at INTEGER NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;

CREATE TABLE sessions (
    id           TEXT    PRIMARY KEY,
    token_hash   BLOB    NOT NULL UNIQUE,
    created_at   INTEGER NOT NULL,
    last_seen_at INTEGER NOT NULL,
    expires_at   INTEGER NOT NULL,
    ip           TEXT    NOT NULL,
    user_agent   TEXT    NOT NULL
) STRICT;

CREATE TABLE security_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    at         INTEGER NOT NULL,
    kind       TEXT    NOT NULL,
    ip         TEXT,
    user_agent TEXT
) STRICT;
