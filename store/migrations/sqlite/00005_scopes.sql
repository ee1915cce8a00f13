-- +goose Up
-- OpenDSR controllers get their own role, and each name belongs to one
-- live controller token. Tokens expire and say when they were last used.
-- SQLite cannot change a CHECK or a primary key in place: the tables are
-- rebuilt.
CREATE TABLE api_tokens_new (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('requester', 'approver', 'auditor', 'admin', 'controller')),
    departments   TEXT NOT NULL DEFAULT '',
    approver      TEXT NOT NULL DEFAULT '',
    token_hash    TEXT NOT NULL UNIQUE CHECK (length(token_hash) = 64),
    created_at    TIMESTAMP NOT NULL,
    revoked_at    TIMESTAMP,
    expires_at    TIMESTAMP NOT NULL,
    last_used_at  TIMESTAMP,
    CHECK (role <> 'approver' OR (departments <> '' AND approver <> ''))
);
-- Tokens made before expiry existed live 90 days from their creation,
-- as new ones do by default.
INSERT INTO api_tokens_new (id, name, role, departments, approver, token_hash, created_at, revoked_at, expires_at)
    SELECT id, name, role, departments, approver, token_hash, created_at, revoked_at, datetime(created_at, '+90 days') FROM api_tokens;
DROP TABLE api_tokens;
ALTER TABLE api_tokens_new RENAME TO api_tokens;
CREATE UNIQUE INDEX api_tokens_controller_name ON api_tokens (name) WHERE role = 'controller' AND revoked_at IS NULL;

-- Who sent each request: a request is the duplicate of another only if
-- both came from the same controller, or both from the company's staff.
ALTER TABLE requests ADD COLUMN requested_by TEXT NOT NULL DEFAULT '';

-- A controller's request is found by its own id and the controller's name
-- together: another controller's id is simply not there.
CREATE TABLE opendsr_requests_new (
    subject_request_id  TEXT NOT NULL,
    request_id          TEXT NOT NULL UNIQUE,
    controller          TEXT NOT NULL,
    callbacks           TEXT NOT NULL DEFAULT '',
    last_status         TEXT NOT NULL DEFAULT '',
    created_at          TIMESTAMP NOT NULL,
    PRIMARY KEY (controller, subject_request_id)
);
INSERT INTO opendsr_requests_new SELECT subject_request_id, request_id, controller, callbacks, last_status, created_at FROM opendsr_requests;
DROP TABLE opendsr_requests;
ALTER TABLE opendsr_requests_new RENAME TO opendsr_requests;
