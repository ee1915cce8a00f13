-- +goose Up
-- The address a request's notices go to: the e-mail it was made with,
-- sealed like every identity, and kept apart from the subject's merged
-- identities, so that a notice reaches the person who asked and no one
-- the request was linked to.
CREATE TABLE request_contacts (
    request_id    TEXT PRIMARY KEY,
    value_sealed  BLOB NOT NULL,
    added_at      TIMESTAMP NOT NULL
);

-- E-mails sent, one row per delivery (a notice's key across its retries):
-- a retry after the server accepted the message sends nothing again.
CREATE TABLE mail_sent (
    delivery_key  TEXT PRIMARY KEY,
    request_id    TEXT NOT NULL,
    kind          TEXT NOT NULL,
    sent_at       TIMESTAMP NOT NULL
);

-- +goose Down
DROP TABLE mail_sent;
DROP TABLE request_contacts;
