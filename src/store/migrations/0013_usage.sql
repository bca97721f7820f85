-- What the provider was asked through the egress proxy, per day (UTC, YYYY-MM-DD) and model:
-- requests, those that failed, and the tokens the provider's answers reported.
CREATE TABLE usage (
    day           TEXT    NOT NULL,
    model         TEXT    NOT NULL,
    requests      INTEGER NOT NULL DEFAULT 0,
    errors        INTEGER NOT NULL DEFAULT 0,
    input_tokens  INTEGER NOT NULL DEFAULT 0,
    output_tokens INTEGER NOT NULL DEFAULT 0,
    PRIMARY KEY (day, model)
) STRICT;

-- Whether the owner paused the assistant's access to the model (the egress proxy refuses
-- its requests until resumed). No row: not paused.
CREATE TABLE model_access (
    id     INTEGER PRIMARY KEY CHECK (id = 1),
    paused INTEGER NOT NULL
) STRICT;
