-- +goose Up
-- Why a request's files were purged ("expired", "erased by REQ-…"), so an
-- erasure retried after a crash still counts every request it purged.
ALTER TABLE package_downloads ADD COLUMN purged_why TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE package_downloads DROP COLUMN purged_why;
