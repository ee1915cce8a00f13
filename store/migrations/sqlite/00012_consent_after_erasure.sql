-- +goose Up
-- An opt-in from a person the engine erased before: allowed, since a
-- person may come back, but marked in the ledger as a new consent after
-- erasure.
ALTER TABLE consent_ledger ADD COLUMN after_erasure BOOLEAN NOT NULL DEFAULT FALSE;

-- +goose Down
ALTER TABLE consent_ledger DROP COLUMN after_erasure;
