-- +goose Up
-- Rectification, restriction, objection, opt-out of sale and sharing, and
-- limiting sensitive data are request types of their own.
-- SQLite cannot change a CHECK in place: the table is rebuilt. Other
-- tables point at requests, and goose runs this in a transaction, where
-- foreign keys cannot be switched off; deferred, the rows that the drop
-- leaves without a parent have one again once the copy is back, before
-- the commit checks.
PRAGMA defer_foreign_keys = ON;
CREATE TABLE requests_copy AS SELECT * FROM requests;
DROP TABLE requests;
CREATE TABLE requests (
    id               TEXT PRIMARY KEY,
    subject_id       TEXT NOT NULL REFERENCES subjects(id),
    type             TEXT NOT NULL CHECK (type IN ('access', 'portability', 'erasure', 'opt_in', 'withdrawal',
                                                   'rectification', 'restriction', 'objection', 'opt_out', 'limit_sensitive')),
    regulation       TEXT NOT NULL CHECK (regulation IN ('gdpr', 'uk_gdpr', 'ccpa', 'lgpd')),
    status           TEXT NOT NULL,
    received_at      TIMESTAMP NOT NULL,
    due_at           TIMESTAMP NOT NULL,
    extended_due_at  TIMESTAMP,
    completed_at     TIMESTAMP,
    workflow_id      TEXT NOT NULL UNIQUE,
    created_at       TIMESTAMP NOT NULL,
    updated_at       TIMESTAMP NOT NULL,
    requested_by     TEXT NOT NULL DEFAULT ''
);
INSERT INTO requests (id, subject_id, type, regulation, status, received_at, due_at, extended_due_at, completed_at, workflow_id, created_at, updated_at, requested_by)
    SELECT id, subject_id, type, regulation, status, received_at, due_at, extended_due_at, completed_at, workflow_id, created_at, updated_at, requested_by FROM requests_copy;
DROP TABLE requests_copy;
CREATE INDEX requests_status_due ON requests (status, due_at);
CREATE INDEX requests_subject ON requests (subject_id, type);

-- An objection to direct marketing suppresses the subject for marketing
-- only: an erased person is suppressed for everything ('all'), and only
-- they block a re-import.
CREATE TABLE suppression_list_new (
    kind        TEXT NOT NULL,
    value_hash  TEXT NOT NULL,
    scope       TEXT NOT NULL DEFAULT 'all' CHECK (scope IN ('all', 'marketing')),
    reason      TEXT NOT NULL,
    request_id  TEXT,
    added_at    TIMESTAMP NOT NULL,
    PRIMARY KEY (kind, value_hash, scope)
);
INSERT INTO suppression_list_new (kind, value_hash, scope, reason, request_id, added_at)
    SELECT kind, value_hash, 'all', reason, request_id, added_at FROM suppression_list;
DROP TABLE suppression_list;
ALTER TABLE suppression_list_new RENAME TO suppression_list;

-- +goose Down
CREATE TABLE suppression_list_old (
    kind        TEXT NOT NULL,
    value_hash  TEXT NOT NULL,
    reason      TEXT NOT NULL,
    request_id  TEXT,
    added_at    TIMESTAMP NOT NULL,
    PRIMARY KEY (kind, value_hash)
);
INSERT INTO suppression_list_old SELECT kind, value_hash, reason, request_id, added_at FROM suppression_list WHERE scope = 'all';
DROP TABLE suppression_list;
ALTER TABLE suppression_list_old RENAME TO suppression_list;

PRAGMA defer_foreign_keys = ON;
CREATE TABLE requests_copy AS SELECT * FROM requests WHERE type IN ('access', 'portability', 'erasure', 'opt_in', 'withdrawal');
DROP TABLE requests;
CREATE TABLE requests (
    id               TEXT PRIMARY KEY,
    subject_id       TEXT NOT NULL REFERENCES subjects(id),
    type             TEXT NOT NULL CHECK (type IN ('access', 'portability', 'erasure', 'opt_in', 'withdrawal')),
    regulation       TEXT NOT NULL CHECK (regulation IN ('gdpr', 'uk_gdpr', 'ccpa', 'lgpd')),
    status           TEXT NOT NULL,
    received_at      TIMESTAMP NOT NULL,
    due_at           TIMESTAMP NOT NULL,
    extended_due_at  TIMESTAMP,
    completed_at     TIMESTAMP,
    workflow_id      TEXT NOT NULL UNIQUE,
    created_at       TIMESTAMP NOT NULL,
    updated_at       TIMESTAMP NOT NULL,
    requested_by     TEXT NOT NULL DEFAULT ''
);
INSERT INTO requests SELECT * FROM requests_copy;
DROP TABLE requests_copy;
CREATE INDEX requests_status_due ON requests (status, due_at);
CREATE INDEX requests_subject ON requests (subject_id, type);
