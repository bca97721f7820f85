-- What the owner chose for the gateway. The provider key is sealed (secrets.rs); only its
-- last four characters are kept in the clear, to show which key is set.
CREATE TABLE gateway_settings (
    id             INTEGER PRIMARY KEY CHECK (id = 1),
    provider       TEXT    NOT NULL,
    model          TEXT    NOT NULL,
    base_url       TEXT,
    api_key_sealed BLOB,
    api_key_last4  TEXT,
    updated_at     INTEGER NOT NULL
) STRICT;

-- Whether the owner wants the gateway running (restored after a restart or reboot), and the
-- SHA-256 of the credential of the current run (the credential itself lives only in memory).
CREATE TABLE gateway_state (
    id                INTEGER PRIMARY KEY CHECK (id = 1),
    wanted_running    INTEGER NOT NULL DEFAULT 0,
    credential_sha256 BLOB
) STRICT;
INSERT INTO gateway_state (id, wanted_running) VALUES (1, 0);

ALTER TABLE security_events ADD COLUMN detail TEXT;
