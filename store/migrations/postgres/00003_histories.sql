-- +goose Up
-- Closed request workflows' histories, copied from Temporal so that the
-- evidence outlives its retention: request records are kept at least 24
-- months. The history is protobuf JSON with its payloads still encrypted.
CREATE TABLE histories (
    workflow_id  TEXT NOT NULL,
    run_id       TEXT NOT NULL,
    request_id   TEXT NOT NULL,
    closed_at    TIMESTAMPTZ NOT NULL,
    history      BYTEA NOT NULL,
    sha256       TEXT NOT NULL,
    archived_at  TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (workflow_id, run_id)
);
CREATE INDEX histories_request ON histories (request_id);

-- +goose Down
DROP TABLE histories;
