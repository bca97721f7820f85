-- The tokens of the channels clawhost set up (Telegram's bot token), sealed under the
-- instance's secret key. The gateway never gets them: it gets a virtual token, and reaches the
-- channel's API through the egress proxy, which puts the real one in.
CREATE TABLE channel_tokens (
    channel    TEXT    PRIMARY KEY,
    sealed     BLOB    NOT NULL,
    last4      TEXT    NOT NULL,
    -- The channel's API, when not its public one (a self-hosted Telegram Bot API server).
    api_root   TEXT,
    -- The bot's name as the channel reported it when the token was checked.
    account    TEXT,
    updated_at INTEGER NOT NULL
) STRICT;
