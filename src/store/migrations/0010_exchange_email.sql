-- The email the replaced wrapper's sign-in broker must answer for the owner to be signed in
-- (`auth.session_exchange.url`), as the owner set it. An owner reset forgets it.
CREATE TABLE exchange_email (
    id       INTEGER PRIMARY KEY CHECK (id = 1),
    email    TEXT    NOT NULL,
    bound_at INTEGER NOT NULL
) STRICT;
