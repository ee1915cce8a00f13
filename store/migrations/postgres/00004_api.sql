-- +goose Up
-- API tokens, stored as SHA-256 hashes: a token is 32 random bytes, shown
-- once when created. Approvers act for their departments only.
CREATE TABLE api_tokens (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('requester', 'approver', 'auditor', 'admin')),
    departments   TEXT NOT NULL DEFAULT '',
    approver      TEXT NOT NULL DEFAULT '',
    token_hash    TEXT NOT NULL UNIQUE CHECK (length(token_hash) = 64),
    created_at    TIMESTAMPTZ NOT NULL,
    revoked_at    TIMESTAMPTZ,
    CHECK (role <> 'approver' OR (departments <> '' AND approver <> ''))
);

-- Requests that came in through OpenDSR: the controller's ids and where
-- to send status callbacks, and the last status sent.
CREATE TABLE opendsr_requests (
    subject_request_id  TEXT PRIMARY KEY,
    request_id          TEXT NOT NULL UNIQUE,
    controller          TEXT NOT NULL,
    callbacks           TEXT NOT NULL DEFAULT '',
    last_status         TEXT NOT NULL DEFAULT '',
    created_at          TIMESTAMPTZ NOT NULL
);

-- +goose Down
DROP TABLE opendsr_requests;
DROP TABLE api_tokens;
