-- +goose Up
-- A data map may declare its own identity kinds (a loyalty number); the
-- engine validates them, and the store keeps any well-formed kind name.
-- SQLite cannot change a CHECK in place: the table is rebuilt.
CREATE TABLE subject_identities_new (
    subject_id    TEXT NOT NULL REFERENCES subjects(id),
    kind          TEXT NOT NULL CHECK (length(kind) BETWEEN 1 AND 32 AND kind NOT GLOB '*[^a-z0-9_]*' AND kind GLOB '[a-z]*'),
    value_hash    TEXT NOT NULL CHECK (length(value_hash) = 64),
    value_sealed  BLOB NOT NULL,
    added_at      TIMESTAMP NOT NULL,
    PRIMARY KEY (kind, value_hash)
);
INSERT INTO subject_identities_new SELECT subject_id, kind, value_hash, value_sealed, added_at FROM subject_identities;
DROP TABLE subject_identities;
ALTER TABLE subject_identities_new RENAME TO subject_identities;
CREATE INDEX subject_identities_subject ON subject_identities (subject_id);

-- +goose Down
CREATE TABLE subject_identities_old (
    subject_id    TEXT NOT NULL REFERENCES subjects(id),
    kind          TEXT NOT NULL CHECK (kind IN ('email', 'phone', 'customer_id')),
    value_hash    TEXT NOT NULL CHECK (length(value_hash) = 64),
    value_sealed  BLOB NOT NULL,
    added_at      TIMESTAMP NOT NULL,
    PRIMARY KEY (kind, value_hash)
);
INSERT INTO subject_identities_old SELECT * FROM subject_identities WHERE kind IN ('email', 'phone', 'customer_id');
DROP TABLE subject_identities;
ALTER TABLE subject_identities_old RENAME TO subject_identities;
CREATE INDEX subject_identities_subject ON subject_identities (subject_id);
