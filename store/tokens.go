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
	// RoleSuppression checks the suppression list and does nothing else.
	RoleSuppression = claims.RoleSuppression
)

// Roles lists the roles.
var Roles = claims.Roles

// DefaultTokenTTL is how long a token lives unless it is made for
// another period: a forgotten token stops working on its own.
const DefaultTokenTTL = 90 * 24 * time.Hour

// Token is an API token's identity and rights, never the secret.
type Token struct {
	ID          string       `db:"id" json:"id"`
	Name        string       `db:"name" json:"name"`
	Role        string       `db:"role" json:"role"`
	DeptList    string       `db:"departments" json:"-"`
	Approver    string       `db:"approver" json:"approver,omitempty"`
	Hash        string       `db:"token_hash" json:"-"`
	CreatedAt   time.Time    `db:"created_at" json:"created_at"`
	ExpiresAt   time.Time    `db:"expires_at" json:"expires_at"`
	LastUsedAt  sql.NullTime `db:"last_used_at" json:"-"`
	RevokedAt   sql.NullTime `db:"revoked_at" json:"-"`
	Departments []string     `db:"-" json:"departments,omitempty"`
}

// splitDepartments reads the stored list of an approver's departments.
func (t *Token) splitDepartments() {
	if t.DeptList != "" {
		t.Departments = strings.Split(t.DeptList, "\n")
	}
}

// NewToken is what a token is made for.
type NewToken struct {
	Name string
	Role string
	// Approver and Departments: approver tokens only.
	Approver    string
	Departments []string
	// TTL is how long it lives; zero means DefaultTokenTTL.
	TTL time.Duration
}

// Errors Authenticate returns.
var (
	ErrUnauthorized = errors.New("unknown or revoked API token")
	ErrExpired      = errors.New("the API token has expired: ask for a new one")
)

func hashToken(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return hex.EncodeToString(sum[:])
}

// CreateToken makes a token and returns its secret, which is not kept:
// only its hash is. Approver tokens name the approver as the data map
// lists them and the departments they decide for. A controller's name is
// its identity in OpenDSR: no two live controller tokens share one.
func (s *Store) CreateToken(ctx context.Context, n NewToken) (Token, string, error) {
	switch {
	case strings.TrimSpace(n.Name) == "":
		return Token{}, "", errors.New("a token needs a name saying whose it is")
	case !slices.Contains(Roles, n.Role):
		return Token{}, "", fmt.Errorf("role %q: must be one of %s", n.Role, strings.Join(Roles, ", "))
	case n.Role == RoleApprover && (n.Approver == "" || len(n.Departments) == 0):
		return Token{}, "", errors.New("an approver token needs the approver (as the data map lists them) and their departments")
	case n.Role != RoleApprover && (n.Approver != "" || len(n.Departments) > 0):
		return Token{}, "", errors.New("only approver tokens have an approver and departments")
	case n.TTL < 0:
		return Token{}, "", fmt.Errorf("a token's lifetime must be positive, not %s", n.TTL)
	}
	if n.TTL == 0 {
		n.TTL = DefaultTokenTTL
	}
	if n.Role == RoleController {
		var live int
		if err := s.db.GetContext(ctx, &live, s.db.Rebind(`SELECT count(*) FROM api_tokens WHERE role = ? AND name = ? AND revoked_at IS NULL`),
			RoleController, n.Name); err != nil {
			return Token{}, "", fmt.Errorf("create token: %w", err)
		}
		if live > 0 {
			return Token{}, "", fmt.Errorf("%w: a live controller token is already named %q; revoke it first, or choose another name", records.ErrConflict, n.Name)
		}
	}
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return Token{}, "", err
	}
	secret := "dsr_" + base64.RawURLEncoding.EncodeToString(b)
	created := now()
	t := Token{ID: uuid.NewString(), Name: n.Name, Role: n.Role, Approver: n.Approver, DeptList: strings.Join(n.Departments, "\n"),
		Hash: hashToken(secret), CreatedAt: created, ExpiresAt: created.Add(n.TTL), Departments: n.Departments}
	_, err := s.db.NamedExecContext(ctx, `INSERT INTO api_tokens (id, name, role, departments, approver, token_hash, created_at, expires_at)
		VALUES (:id, :name, :role, :departments, :approver, :token_hash, :created_at, :expires_at)`, t)
	if err != nil {
		return Token{}, "", fmt.Errorf("create token: %w", err)
	}
	return t, secret, nil
}

// Authenticate finds the live token with this secret, and notes its use.
func (s *Store) Authenticate(ctx context.Context, secret string) (Token, error) {
	var t Token
	err := s.db.GetContext(ctx, &t, s.db.Rebind(`SELECT * FROM api_tokens WHERE token_hash = ? AND revoked_at IS NULL`), hashToken(secret))
	if errors.Is(err, sql.ErrNoRows) {
		return t, ErrUnauthorized
	}
	if err != nil {
		return t, fmt.Errorf("authenticate: %w", err)
	}
	at := now()
	if !at.Before(t.ExpiresAt) {
		return t, ErrExpired
	}
	t.splitDepartments()
	// Noted at most once a minute, so a busy token does not write on every call.
	if !t.LastUsedAt.Valid || at.Sub(t.LastUsedAt.Time) > time.Minute {
		if _, err := s.db.ExecContext(ctx, s.db.Rebind(`UPDATE api_tokens SET last_used_at = ? WHERE id = ?`), at, t.ID); err != nil {
			return t, fmt.Errorf("authenticate: note the token's use: %w", err)
		}
	}
	return t, nil
}

// Tokens lists every token, live or not, oldest first.
func (s *Store) Tokens(ctx context.Context) ([]Token, error) {
	var out []Token
	if err := s.db.SelectContext(ctx, &out, `SELECT * FROM api_tokens ORDER BY created_at, id`); err != nil {
		return nil, fmt.Errorf("list tokens: %w", err)
	}
	for i := range out {
		out[i].splitDepartments()
	}
	return out, nil
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
