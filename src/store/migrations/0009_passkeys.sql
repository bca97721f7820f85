-- The owner's passkeys. `credential` is the verifier's record of the credential (its public
-- key, counter and backup state, as JSON); the credential id is unique, so one credential
-- cannot be registered twice. An owner reset forgets them all, and the user handle with them.
CREATE TABLE passkeys (
    id            TEXT    PRIMARY KEY,
    credential_id BLOB    NOT NULL UNIQUE,
    name          TEXT    NOT NULL,
    credential    TEXT    NOT NULL,
    created_at    INTEGER NOT NULL,
    last_used_at  INTEGER
) STRICT;

-- The owner's WebAuthn user handle: random, made at the first registration.
CREATE TABLE webauthn_user (
    id          INTEGER PRIMARY KEY CHECK (id = 1),
    user_handle BLOB    NOT NULL
) STRICT;
