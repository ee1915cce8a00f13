-- +goose Up
-- Every notice the engine sent, for the console's inbox. Notices carry no
-- personal data: recipients are roles and departments.
CREATE TABLE inbox (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    request_id  TEXT NOT NULL,
    recipient   TEXT NOT NULL,
    kind        TEXT NOT NULL,
    text        TEXT NOT NULL,
    sent_key    TEXT NOT NULL UNIQUE,
    sent_at     TIMESTAMP NOT NULL
);
CREATE INDEX inbox_recipient ON inbox (recipient, sent_at);

-- Slack messages posted per request and recipient, so that reminders are
-- threaded under them and decisions update them; sent_key makes a retried
-- notice find the message it already posted.
CREATE TABLE slack_messages (
    request_id  TEXT NOT NULL,
    recipient   TEXT NOT NULL,
    kind        TEXT NOT NULL,
    subject     TEXT NOT NULL,
    channel     TEXT NOT NULL,
    ts          TEXT NOT NULL,
    sent_key    TEXT NOT NULL,
    posted_at   TIMESTAMP NOT NULL,
    PRIMARY KEY (channel, ts)
);
CREATE INDEX slack_messages_request ON slack_messages (request_id, recipient, kind);
CREATE INDEX slack_messages_key ON slack_messages (sent_key);

-- Signatures of Slack interaction payloads already handled: a replayed
-- payload (same signature, inside Slack's five-minute window) is refused.
CREATE TABLE slack_seen (
    signature  TEXT PRIMARY KEY,
    seen_at    TIMESTAMP NOT NULL
);

-- +goose Down
DROP TABLE slack_seen;
DROP TABLE slack_messages;
DROP TABLE inbox;
