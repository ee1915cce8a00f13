-- +goose Up
-- OpenDSR controllers get their own role, and each name belongs to one
-- live controller token. Tokens expire and say when they were last used.
ALTER TABLE api_tokens DROP CONSTRAINT api_tokens_role_check;
ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_role_check CHECK (role IN ('requester', 'approver', 'auditor', 'admin', 'controller'));
ALTER TABLE api_tokens ADD COLUMN expires_at TIMESTAMPTZ;
ALTER TABLE api_tokens ADD COLUMN last_used_at TIMESTAMPTZ;
-- Tokens made before expiry existed live 90 days from their creation,
-- as new ones do by default.
UPDATE api_tokens SET expires_at = created_at + interval '90 days';
ALTER TABLE api_tokens ALTER COLUMN expires_at SET NOT NULL;
CREATE UNIQUE INDEX api_tokens_controller_name ON api_tokens (name) WHERE role = 'controller' AND revoked_at IS NULL;

-- Who sent each request: a request is the duplicate of another only if
-- both came from the same controller, or both from the company's staff.
ALTER TABLE requests ADD COLUMN requested_by TEXT NOT NULL DEFAULT '';

-- A controller's request is found by its own id and the controller's name
-- together: another controller's id is simply not there.
ALTER TABLE opendsr_requests DROP CONSTRAINT opendsr_requests_pkey;
ALTER TABLE opendsr_requests ADD PRIMARY KEY (controller, subject_request_id);

-- +goose Down
ALTER TABLE requests DROP COLUMN requested_by;
ALTER TABLE opendsr_requests DROP CONSTRAINT opendsr_requests_pkey;
ALTER TABLE opendsr_requests ADD PRIMARY KEY (subject_request_id);
DROP INDEX api_tokens_controller_name;
ALTER TABLE api_tokens DROP COLUMN last_used_at;
ALTER TABLE api_tokens DROP COLUMN expires_at;
ALTER TABLE api_tokens DROP CONSTRAINT api_tokens_role_check;
ALTER TABLE api_tokens ADD CONSTRAINT api_tokens_role_check CHECK (role IN ('requester', 'approver', 'auditor', 'admin'));
