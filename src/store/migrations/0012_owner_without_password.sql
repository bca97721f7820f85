-- An owner who claimed the instance through an OpenID Connect issuer has no password until
-- they set one: the hash may be missing. (SQLite cannot drop NOT NULL: the table is rebuilt.)
CREATE TABLE owner_new (
    id                  INTEGER PRIMARY KEY CHECK (id = 1),
    password_hash       TEXT,
    created_at          INTEGER NOT NULL,
    password_changed_at INTEGER NOT NULL,
    password_sign_in    INTEGER NOT NULL DEFAULT 1
) STRICT;
INSERT INTO owner_new (id, password_hash, created_at, password_changed_at, password_sign_in)
    SELECT id, password_hash, created_at, password_changed_at, password_sign_in FROM owner;
DROP TABLE owner;
ALTER TABLE owner_new RENAME TO owner;
