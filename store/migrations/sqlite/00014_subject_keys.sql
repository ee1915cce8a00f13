-- +goose Up
-- Each subject's data key, wrapped by the wrapping key (named by its id, so
-- a rotation knows what to re-wrap). The key encrypts the subject's sealed
-- identities, archived histories and files; destroying it (wrapped set to
-- NULL) makes every copy of them unreadable, backups included.
CREATE TABLE subject_keys (
    subject_id    TEXT PRIMARY KEY REFERENCES subjects(id),
    wrapped       BLOB,
    wrap_key_id   TEXT NOT NULL,
    created_at    TIMESTAMP NOT NULL,
    destroyed_at  TIMESTAMP
);

-- What sealed an identity: the master key (rows from before subject
-- keys), the subject's data key, or nothing any more (shredded).
ALTER TABLE subject_identities ADD COLUMN sealed_with TEXT NOT NULL DEFAULT 'master';
-- An archived history sealed under its subject's key.
ALTER TABLE histories ADD COLUMN sealed BOOLEAN NOT NULL DEFAULT FALSE;

-- +goose Down
ALTER TABLE histories DROP COLUMN sealed;
ALTER TABLE subject_identities DROP COLUMN sealed_with;
DROP TABLE subject_keys;
