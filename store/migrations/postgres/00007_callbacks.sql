-- +goose Up
-- OpenDSR callbacks as an outbox: one row per status change and URL,
-- written in the same transaction as the change, delivered in order per
-- URL, retried on its own with backoff, given up after a while.
CREATE TABLE opendsr_callbacks (
    id            BIGSERIAL PRIMARY KEY,
    request_id    TEXT NOT NULL,
    url           TEXT NOT NULL,
    status        TEXT NOT NULL,
    created_at    TIMESTAMPTZ NOT NULL,
    attempts      INTEGER NOT NULL DEFAULT 0,
    next_at       TIMESTAMPTZ NOT NULL,
    last_error    TEXT NOT NULL DEFAULT '',
    delivered_at  TIMESTAMPTZ,
    given_up_at   TIMESTAMPTZ
);
CREATE INDEX opendsr_callbacks_due ON opendsr_callbacks (next_at) WHERE delivered_at IS NULL AND given_up_at IS NULL;

-- +goose Down
DROP TABLE opendsr_callbacks;
