-- +goose Up
-- Rectification, restriction, objection, opt-out of sale and sharing, and
-- limiting sensitive data are request types of their own.
ALTER TABLE requests DROP CONSTRAINT requests_type_check;
ALTER TABLE requests ADD CONSTRAINT requests_type_check CHECK (type IN ('access', 'portability', 'erasure', 'opt_in', 'withdrawal',
    'rectification', 'restriction', 'objection', 'opt_out', 'limit_sensitive'));

-- +goose Down
ALTER TABLE requests DROP CONSTRAINT requests_type_check;
ALTER TABLE requests ADD CONSTRAINT requests_type_check CHECK (type IN ('access', 'portability', 'erasure', 'opt_in', 'withdrawal'));
