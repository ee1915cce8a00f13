-- +goose Up
-- Company pipelines (a marketing import, a CRM sync) get a role of their
-- own, which checks the suppression list and does nothing else. SQLite
-- cannot change a CHECK in place: the table is rebuilt.
CREATE TABLE api_tokens_new (
    id            TEXT PRIMARY KEY,
    name          TEXT NOT NULL,
    role          TEXT NOT NULL CHECK (role IN ('requester', 'approver', 'auditor', 'admin', 'controller', 'suppression')),
    departments   TEXT NOT NULL DEFAULT '',
    approver      TEXT NOT NULL DEFAULT '',
    token_hash    TEXT NOT NULL UNIQUE CHECK (length(token_hash) = 64),
    created_at    TIMESTAMP NOT NULL,
    revoked_at    TIMESTAMP,
    expires_at    TIMESTAMP NOT NULL,
    last_used_at  TIMESTAMP,
    CHECK (role <> 'approver' OR (departments <> '' AND approver <> ''))
);
INSERT INTO api_tokens_new (id, name, role, departments, approver, token_hash, created_at, revoked_at, expires_at, last_used_at)
    SELECT id, name, role, departments, approver, token_hash, created_at, revoked_at, expires_at, last_used_at FROM api_tokens;
DROP TABLE api_tokens;
ALTER TABLE api_tokens_new RENAME TO api_tokens;
CREATE UNIQUE INDEX api_tokens_controller_name ON api_tokens (name) WHERE role = 'controller' AND revoked_at IS NULL;

-- +goose Down
DELETE FROM api_tokens WHERE role = 'suppression';
