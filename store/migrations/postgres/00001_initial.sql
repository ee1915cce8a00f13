-- +goose Up
-- A data subject is known only through sealed identities; no column here
-- holds a plain-text e-mail, phone number or customer id.
CREATE TABLE subjects (
    id          TEXT PRIMARY KEY,
    created_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE subject_identities (
    subject_id    TEXT NOT NULL REFERENCES subjects(id),
    kind          TEXT NOT NULL CHECK (kind IN ('email', 'phone', 'customer_id')),
    value_hash    TEXT NOT NULL CHECK (length(value_hash) = 64),
    value_sealed  BYTEA NOT NULL,
    added_at      TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (kind, value_hash)
);
CREATE INDEX subject_identities_subject ON subject_identities (subject_id);

CREATE TABLE requests (
    id               TEXT PRIMARY KEY,
    subject_id       TEXT NOT NULL REFERENCES subjects(id),
    type             TEXT NOT NULL CHECK (type IN ('access', 'portability', 'erasure', 'opt_in', 'withdrawal')),
    regulation       TEXT NOT NULL CHECK (regulation IN ('gdpr', 'uk_gdpr', 'ccpa', 'lgpd')),
    status           TEXT NOT NULL,
    received_at      TIMESTAMPTZ NOT NULL,
    due_at           TIMESTAMPTZ NOT NULL,
    extended_due_at  TIMESTAMPTZ,
    completed_at     TIMESTAMPTZ,
    workflow_id      TEXT NOT NULL UNIQUE,
    created_at       TIMESTAMPTZ NOT NULL,
    updated_at       TIMESTAMPTZ NOT NULL
);
CREATE INDEX requests_status_due ON requests (status, due_at);
CREATE INDEX requests_subject ON requests (subject_id, type);

CREATE TABLE departments (
    name        TEXT PRIMARY KEY,
    channel     TEXT NOT NULL DEFAULT '',
    updated_at  TIMESTAMPTZ NOT NULL
);

CREATE TABLE department_approvers (
    department  TEXT NOT NULL REFERENCES departments(name) ON DELETE CASCADE,
    approver    TEXT NOT NULL,
    PRIMARY KEY (department, approver)
);

-- One decision per department and request; the unique key enforces it even
-- if two clicks race.
CREATE TABLE signoffs (
    request_id   TEXT NOT NULL REFERENCES requests(id),
    department   TEXT NOT NULL,
    decision     TEXT NOT NULL CHECK (decision IN ('approve', 'object')),
    legal_basis  TEXT NOT NULL DEFAULT '',
    actor        TEXT NOT NULL,
    decided_at   TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (request_id, department),
    CHECK (decision <> 'object' OR legal_basis <> '')
);

-- Append-only and hash-chained: each row's hash covers the previous row's.
CREATE TABLE audit_log (
    seq         BIGSERIAL PRIMARY KEY,
    request_id  TEXT NOT NULL DEFAULT '',
    at          TIMESTAMPTZ NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    detail      TEXT NOT NULL DEFAULT '{}',
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL UNIQUE
);
CREATE INDEX audit_log_request ON audit_log (request_id, seq);

CREATE TABLE consent_ledger (
    seq              BIGSERIAL PRIMARY KEY,
    subject_id       TEXT NOT NULL REFERENCES subjects(id),
    purpose          TEXT NOT NULL,
    state            TEXT NOT NULL CHECK (state IN ('pending', 'granted', 'withdrawn', 'expired')),
    channel          TEXT NOT NULL,
    wording_version  TEXT NOT NULL,
    request_id       TEXT,
    at               TIMESTAMPTZ NOT NULL
);
CREATE INDEX consent_ledger_subject ON consent_ledger (subject_id, purpose, seq);

-- Exports travel by reference: the row says where the package is and its
-- digest, never its contents.
CREATE TABLE access_artifacts (
    id          TEXT PRIMARY KEY,
    request_id  TEXT NOT NULL REFERENCES requests(id),
    system      TEXT NOT NULL,
    format      TEXT NOT NULL,
    location    TEXT NOT NULL,
    sha256      TEXT NOT NULL,
    size_bytes  BIGINT NOT NULL,
    created_at  TIMESTAMPTZ NOT NULL,
    expires_at  TIMESTAMPTZ
);
CREATE INDEX access_artifacts_request ON access_artifacts (request_id);

-- Erased subjects stay suppressed by keyed hash only, so they are not
-- re-imported or re-marketed and nothing readable remains.
CREATE TABLE suppression_list (
    kind        TEXT NOT NULL,
    value_hash  TEXT NOT NULL,
    reason      TEXT NOT NULL,
    request_id  TEXT,
    added_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (kind, value_hash)
);

-- +goose Down
DROP TABLE suppression_list;
DROP TABLE access_artifacts;
DROP TABLE consent_ledger;
DROP TABLE audit_log;
DROP TABLE signoffs;
DROP TABLE department_approvers;
DROP TABLE departments;
DROP TABLE requests;
DROP TABLE subject_identities;
DROP TABLE subjects;
