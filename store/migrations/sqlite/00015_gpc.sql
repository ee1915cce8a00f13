-- +goose Up
-- Global Privacy Control signals from browsers the site knows only by its
-- own visitor identifier: the identifier's keyed hash, never the
-- identifier, with when the signal was first and last seen.
CREATE TABLE gpc_visitors (
    visitor_hash  TEXT PRIMARY KEY,
    first_at      TIMESTAMP NOT NULL,
    last_at       TIMESTAMP NOT NULL
);

-- +goose Down
DROP TABLE gpc_visitors;
