-- Browsers the owner signed in with before. While the account is under a guessing attack,
-- they keep a lane of their own, so the attack cannot keep the owner out. Only hashes of
-- their tokens are stored; an owner reset forgets them.
CREATE TABLE known_devices (
    token_hash   BLOB    PRIMARY KEY,
    created_at   INTEGER NOT NULL,
    last_used_at INTEGER NOT NULL
) STRICT;
