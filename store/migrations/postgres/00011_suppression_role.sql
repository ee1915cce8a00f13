-- +goose Up
-- Company pipelines (a marketing import, a CRM sync) get a role of their
-- own, which checks the suppression list and does nothing else.
ALTER TABLE api_tokens DROP CONSTRAINT api_tokens_role_check;
ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_role_check CHECK (role IN ('requester', 'approver', 'auditor', 'admin', 'controller', 'suppression'));

-- +goose Down
DELETE FROM api_tokens WHERE role = 'suppression';
ALTER TABLE api_tokens DROP CONSTRAINT api_tokens_role_check;
ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_role_check CHECK (role IN ('requester', 'approver', 'auditor', 'admin', 'controller'));
