-- The replaced wrapper's "status checks", kept for compatibility. Ids are UUIDv7 text, so
-- their order is their creation order.
CREATE TABLE status_checks (
    id          TEXT    PRIMARY KEY,
    client_name TEXT    NOT NULL,
    created_at  INTEGER NOT NULL
) STRICT;
