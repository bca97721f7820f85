-- Discord's mention-only mode: the bot reads channel messages only when mentioned, for a bot
-- whose application lacks the Message Content intent. The tokens of Discord and Slack are
-- sealed here like Telegram's; the gateway gets them in its environment at each start.
ALTER TABLE channel_tokens ADD COLUMN mention_only INTEGER NOT NULL DEFAULT 0
    CHECK (mention_only IN (0, 1));
