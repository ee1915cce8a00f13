-- +goose Up
-- A data map may declare its own identity kinds (a loyalty number); the
-- engine validates them, and the store keeps any well-formed kind name.
ALTER TABLE subject_identities DROP CONSTRAINT subject_identities_kind_check;
ALTER TABLE subject_identities ADD CONSTRAINT subject_identities_kind_check CHECK (kind ~ '^[a-z][a-z0-9_]{0,31}$');

-- +goose Down
ALTER TABLE subject_identities DROP CONSTRAINT subject_identities_kind_check;
ALTER TABLE subject_identities ADD CONSTRAINT subject_identities_kind_check CHECK (kind IN ('email', 'phone', 'customer_id'));
