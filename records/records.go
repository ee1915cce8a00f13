// Package records holds what the engine keeps about requests: the rows
// of its store (requests, sign-offs, audit entries, consent, artifacts,
// inbox notices) as plain values, and the errors the store answers with.
// They live apart from package store so that the workflows and activities,
// which carry them, link no database driver.
package records

import (
	"errors"
	"time"

	"github.com/dsrengine/dsr/domain"
)

// Department owns systems that hold personal data and signs off on requests.
type Department struct {
	Name      string   `db:"name" json:"name"`
	Channel   string   `db:"channel" json:"channel"`
	Approvers []string `db:"-" json:"approvers"`
}

// SignOff is one department's decision on one request.
type SignOff struct {
	RequestID  string    `db:"request_id" json:"request_id"`
	Department string    `db:"department" json:"department"`
	Decision   string    `db:"decision" json:"decision"` // approve or object
	LegalBasis string    `db:"legal_basis" json:"legal_basis,omitempty"`
	Actor      string    `db:"actor" json:"actor"`
	DecidedAt  time.Time `db:"decided_at" json:"decided_at"`
}

// ErrAlreadyDecided is returned for a second, different decision.
var ErrAlreadyDecided = errors.New("department has already decided")

// Sealer encrypts identities for storage and computes their lookup hashes;
// *keyring.Keyring is one.
type Sealer interface {
	Seal(plaintext, ad []byte) ([]byte, error)
	Open(ciphertext, ad []byte) ([]byte, error)
	Hash(kind, value string) string
	// Wrap and Unwrap protect subjects' data keys; WrapKeyID names the
	// wrapping key.
	Wrap(subjectID string, dataKey []byte) ([]byte, error)
	Unwrap(subjectID string, wrapped []byte) ([]byte, error)
	WrapKeyID() string
}

// Request is a data-subject request as the store keeps it.
type Request struct {
	ID            string             `db:"id" json:"id"`
	SubjectID     string             `db:"subject_id" json:"subject_id"`
	Type          domain.RequestType `db:"type" json:"type"`
	Regulation    domain.Regulation  `db:"regulation" json:"regulation"`
	Status        domain.Status      `db:"status" json:"status"`
	ReceivedAt    time.Time          `db:"received_at" json:"received_at"`
	DueAt         time.Time          `db:"due_at" json:"due_at"`
	ExtendedDueAt *time.Time         `db:"extended_due_at" json:"-"`
	CompletedAt   *time.Time         `db:"completed_at" json:"-"`
	WorkflowID    string             `db:"workflow_id" json:"workflow_id"`
	// RequestedBy is who sent the request (an OpenDSR controller's
	// requests are told apart from compliance's by it).
	RequestedBy string    `db:"requested_by" json:"requested_by"`
	CreatedAt   time.Time `db:"created_at" json:"created_at"`
	UpdatedAt   time.Time `db:"updated_at" json:"updated_at"`
}

// ErrConflict is returned when a write contradicts what is already stored,
// for example the same request id with another type.
var ErrConflict = errors.New("conflicts with stored data")

// AuditEntry is one thing that happened, with who did it.
type AuditEntry struct {
	Seq       int64     `db:"seq" json:"seq"`
	RequestID string    `db:"request_id" json:"request_id,omitempty"`
	At        time.Time `db:"at" json:"at"`
	Actor     string    `db:"actor" json:"actor"`
	Action    string    `db:"action" json:"action"`
	DetailRaw string    `db:"detail" json:"detail"`
	PrevHash  string    `db:"prev_hash" json:"prev_hash"`
	Hash      string    `db:"hash" json:"hash"`

	// Detail is marshalled into DetailRaw on append; it must hold no personal data.
	Detail map[string]any `db:"-" json:"-"`
}

// AuditHead is the newest entry of the audit chain: what an anchor outside
// the store remembers, so that deleting the newest entries shows.
type AuditHead struct {
	Seq  int64  `json:"seq"`
	Hash string `json:"hash"`
}

// InboxEntry is one notice as the console's inbox shows it.
type InboxEntry struct {
	ID        int64     `db:"id" json:"id"`
	RequestID string    `db:"request_id" json:"request_id"`
	Recipient string    `db:"recipient" json:"recipient"`
	Kind      string    `db:"kind" json:"kind"`
	Text      string    `db:"text" json:"text"`
	SentKey   string    `db:"sent_key" json:"-"`
	SentAt    time.Time `db:"sent_at" json:"sent_at"`
}

// ConsentEvent is one change of a subject's consent to one purpose, with
// the evidence a regulator asks for: when, through which channel, and which
// version of the wording the subject saw.
type ConsentEvent struct {
	Seq            int64     `db:"seq" json:"seq"`
	SubjectID      string    `db:"subject_id" json:"subject_id"`
	Purpose        string    `db:"purpose" json:"purpose"`
	State          string    `db:"state" json:"state"` // pending, granted, withdrawn, expired
	Channel        string    `db:"channel" json:"channel"`
	WordingVersion string    `db:"wording_version" json:"wording_version"`
	RequestID      string    `db:"request_id" json:"request_id,omitempty"`
	At             time.Time `db:"at" json:"at"`
	// AfterErasure marks a consent given by a person the engine erased
	// before (one of their identities is on the suppression list).
	AfterErasure bool `db:"after_erasure" json:"after_erasure,omitempty"`
}

// Artifact is an exported file of an access request, kept by reference.
type Artifact struct {
	ID        string     `db:"id" json:"id"`
	RequestID string     `db:"request_id" json:"request_id"`
	System    string     `db:"system" json:"system"`
	Format    string     `db:"format" json:"format"`
	Location  string     `db:"location" json:"location"`
	SHA256    string     `db:"sha256" json:"sha256"`
	SizeBytes int64      `db:"size_bytes" json:"size_bytes"`
	CreatedAt time.Time  `db:"created_at" json:"created_at"`
	ExpiresAt *time.Time `db:"expires_at" json:"-"`
}

// ErrNotFound is returned when a looked-up row does not exist.
var ErrNotFound = errors.New("not found")

// ErrKeyDestroyed is a subject whose data key was destroyed when their
// erasure completed: what was kept under it is unreadable for good.
var ErrKeyDestroyed = errors.New("the subject's data key was destroyed after their erasure: this data can no longer be read")
