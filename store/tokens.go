package store

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/dsrengine/dsr/claims"
	"github.com/dsrengine/dsr/records"
)

// Roles an API token can have; the workflows check the same names in each
// change's signed claim.
const (
	RoleRequester  = claims.RoleRequester  // compliance: starts and steers requests
	RoleApprover   = claims.RoleApprover   // decides for its departments
	RoleAuditor    = claims.RoleAuditor    // reads; never exported data
	RoleAdmin      = claims.RoleAdmin      // what requesters and auditors do
	RoleController = claims.RoleController // an OpenDSR controller: its own requests, through OpenDSR only
)

// Roles lists the roles.
var Roles = claims.Roles

// Token is an API token's identity and rights, never the secret.
type Token struct {
	ID          string       `db:"id" json:"id"`
	Name        string       `db:"name" json:"name"`
	Role        string       `db:"role" json:"role"`
	DeptList    string       `db:"departments" json:"-"`
	Approver    string       `db:"approver" json:"approver,omitempty"`
	Hash        string       `db:"token_hash" json:"-"`
	CreatedAt   time.Time    `db:"created_at" json:"created_at"`
	RevokedAt   sql.NullTime `db:"revoked_at" json:"-"`
	Departments []string     `db:"-" json:"departments,omitempty"`
}

// ErrUnauthorized is returned for an unknown or revoked token.
var ErrUnauthorized = errors.New("unknown or revoked API token")

func hashToken(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// CreateToken makes a token and returns its secret, which is not kept:
// only its hash is. Approver tokens name the approver as the data map
// lists them and the departments they decide for.
func (s *Store) CreateToken(ctx context.Context, name, role, approver string, departments []string) (Token, string, error) {
	switch {
	case strings.TrimSpace(name) == "":
		return Token{}, "", errors.New("a token needs a name saying whose it is")
	case !slices.Contains(Roles, role):
		return Token{}, "", fmt.Errorf("role %q: must be one of %s", role, strings.Join(Roles, ", "))
	case role == RoleApprover && (approver == "" || len(departments) == 0):
		return Token{}, "", errors.New("an approver token needs the approver (as the data map lists them) and their departments")
	case role != RoleApprover && (approver != "" || len(departments) > 0):
		return Token{}, "", errors.New("only approver tokens have an approver and departments")
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return Token{}, "", err
	}
	secret := "dsr_" + base64.RawURLEncoding.EncodeToString(b)
	t := Token{ID: uuid.NewString(), Name: name, Role: role, Approver: approver, DeptList: strings.Join(departments, "\n"),
		Hash: hashToken(secret), CreatedAt: now(), Departments: departments}
	_, err := s.db.NamedExecContext(ctx, `INSERT INTO api_tokens (id, name, role, departments, approver, token_hash, created_at)
		VALUES (:id, :name, :role, :departments, :approver, :token_hash, :created_at)`, t)
	if err != nil {
		return Token{}, "", fmt.Errorf("create token: %w", err)
	}
	return t, secret, nil
}

// Authenticate finds the live token with this secret.
func (s *Store) Authenticate(ctx context.Context, secret string) (Token, error) {
	var t Token
	err := s.db.GetContext(ctx, &t, s.db.Rebind(`SELECT * FROM api_tokens WHERE token_hash = ? AND revoked_at IS NULL`), hashToken(secret))
	if errors.Is(err, sql.ErrNoRows) {
		return t, ErrUnauthorized
	}
	if err != nil {
		return t, fmt.Errorf("authenticate: %w", err)
	}
	if t.DeptList != "" {
		t.Departments = strings.Split(t.DeptList, "\n")
	}
	return t, nil
}

// RevokeToken ends a token at once.
func (s *Store) RevokeToken(ctx context.Context, id string) error {
	r, err := s.db.ExecContext(ctx, s.db.Rebind(`UPDATE api_tokens SET revoked_at = ? WHERE id = ? AND revoked_at IS NULL`), now(), id)
	if err != nil {
		return fmt.Errorf("revoke token: %w", err)
	}
	if n, _ := r.RowsAffected(); n == 0 {
		return fmt.Errorf("%w: no live token %s", records.ErrNotFound, id)
	}
	return nil
}
