-- The owner's identity at an OpenID Connect issuer: at most one. It is the issuer and the
-- subject that sign in (an email can change hands); the email is only shown. An owner reset
-- forgets it.
CREATE TABLE oidc_identity (
    id        INTEGER PRIMARY KEY CHECK (id = 1),
    issuer    TEXT    NOT NULL,
    subject   TEXT    NOT NULL,
    email     TEXT,
    linked_at INTEGER NOT NULL
) STRICT;
