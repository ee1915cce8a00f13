-- +goose Up
-- What each system held on a request's subject before its erasure first
-- changed anything, per location: a retry after a crash counts what the
-- attempts before it erased as this baseline less what is left, so the
-- evidence adds up whatever happened. Counts only, never data.
CREATE TABLE erasure_baselines (
    request_id  TEXT NOT NULL,
    system      TEXT NOT NULL,
    counts      TEXT NOT NULL,
    taken_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (request_id, system)
);

-- +goose Down
DROP TABLE erasure_baselines;
