-- +goose Up
-- Rectification, restriction, objection, opt-out of sale and sharing, and
-- limiting sensitive data are request types of their own.
ALTER TABLE requests DROP CONSTRAINT requests_type_check;
ALTER TABLE requests ADD CONSTRAINT requests_type_check CHECK (type IN ('access', 'portability', 'erasure', 'opt_in', 'withdrawal',
    'rectification', 'restriction', 'objection', 'opt_out', 'limit_sensitive'));

-- An objection to direct marketing suppresses the subject for marketing
-- only: an erased person is suppressed for everything ('all'), and only
-- they block a re-import.
CREATE TABLE suppression_list_new (
    kind        TEXT NOT NULL,
    value_hash  TEXT NOT NULL,
    scope       TEXT NOT NULL DEFAULT 'all' CHECK (scope IN ('all', 'marketing')),
    reason      TEXT NOT NULL,
    request_id  TEXT,
    added_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (kind, value_hash, scope)
);
INSERT INTO suppression_list_new (kind, value_hash, scope, reason, request_id, added_at)
    SELECT kind, value_hash, 'all', reason, request_id, added_at FROM suppression_list;
DROP TABLE suppression_list;
ALTER TABLE suppression_list_new RENAME TO suppression_list;

-- +goose Down
CREATE TABLE suppression_list_old (
    kind        TEXT NOT NULL,
    value_hash  TEXT NOT NULL,
    reason      TEXT NOT NULL,
    request_id  TEXT,
    added_at    TIMESTAMPTZ NOT NULL,
    PRIMARY KEY (kind, value_hash)
);
INSERT INTO suppression_list_old SELECT kind, value_hash, reason, request_id, added_at FROM suppression_list WHERE scope = 'all';
DROP TABLE suppression_list;
ALTER TABLE suppression_list_old RENAME TO suppression_list;

ALTER TABLE requests DROP CONSTRAINT requests_type_check;
ALTER TABLE requests ADD CONSTRAINT requests_type_check CHECK (type IN ('access', 'portability', 'erasure', 'opt_in', 'withdrawal'));
