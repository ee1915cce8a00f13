-- +goose Up
-- The subject portal. A package may be downloaded until it expires and a
-- number of times; after that it is deleted (purged_at). A session is
-- opened by a fresh one-time code and lets its holder read one request's
-- status and download its package: only its keyed hash is kept.
CREATE TABLE package_downloads (
    request_id  TEXT PRIMARY KEY,
    expires_at  TIMESTAMP NOT NULL,
    max_uses    INTEGER NOT NULL,
    uses        INTEGER NOT NULL DEFAULT 0,
    purged_at   TIMESTAMP
);

CREATE TABLE portal_sessions (
    token_hash  TEXT PRIMARY KEY,
    request_id  TEXT NOT NULL,
    expires_at  TIMESTAMP NOT NULL
);
CREATE INDEX portal_sessions_expiry ON portal_sessions (expires_at);

-- +goose Down
DROP TABLE portal_sessions;
DROP TABLE package_downloads;
