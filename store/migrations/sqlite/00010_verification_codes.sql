-- +goose Up
-- The one-time code that proves a privacy-center request's address: its
-- keyed hash only, when it expires, and the attempts made on it. A new code
-- replaces the old; a code that matched is deleted.
CREATE TABLE verification_codes (
    request_id  TEXT PRIMARY KEY,
    code_hash   TEXT NOT NULL,
    expires_at  TIMESTAMP NOT NULL,
    attempts    INTEGER NOT NULL DEFAULT 0,
    sent_at     TIMESTAMP NOT NULL
);

-- +goose Down
DROP TABLE verification_codes;
