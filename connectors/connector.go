// Package connectors reaches the systems that hold personal data: SQL
// databases, SaaS APIs, caches, and systems without an API through a manual
// task. Each connector finds, exports, erases and applies consent for one
// subject and always says what it read or changed: a connector that
// silently does nothing is a compliance failure.
//
// The connectors live in sub-packages (sql, http, redis, manual); the data
// map in package config declares which system uses which.
package connectors

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/dsrengine/dsr/domain"
)

// Connector is one system of the data map. Every method is idempotent: a
// retry after a crash neither fails nor acts twice.
type Connector interface {
	// Discover reports whether and how much the system holds on the subject.
	Discover(ctx context.Context, subject []domain.Identity) (Result, error)
	// Export writes the subject's data to w as JSON and reports what it
	// read. The engine stores the output by reference, never in a workflow.
	Export(ctx context.Context, subject []domain.Identity, w io.Writer) (Result, error)
	// Erase applies the system's erasure strategy; DryRun reports only.
	Erase(ctx context.Context, subject []domain.Identity, opts EraseOptions) (Result, error)
	// ApplyConsent sets the subject's consent to a purpose in the system
	// (a flag, a list membership, an opt-out record).
	ApplyConsent(ctx context.Context, subject []domain.Identity, purpose string, granted bool) (Result, error)
}

// Linker is a connector that can say which other identities the subject's
// records hold in the fields the data map declares authoritative for
// linking: the customer number the CRM assigned to the row found by
// e-mail, say, but never a phone number the user typed, which may be
// someone else's. The engine proposes them to compliance with where they
// were found, and looks for the subject again only with those confirmed.
type Linker interface {
	Linked(ctx context.Context, subject []domain.Identity) ([]Link, error)
}

// Corrector is a connector that can apply a rectification to the fields
// the data map declares correctable. Correct with DryRun counts the
// subject's records whose field differs from value (ActionDiffers);
// without, it writes value there (ActionCorrected), and a record that
// already holds it is not written again.
//
// IdentityOf says which identity kind a field's column holds, if it is an
// identity column: correcting it changes how the subject's records are
// found, so the engine corrects such fields last.
type Corrector interface {
	Correctable() []string
	IdentityOf(field string) (domain.IdentityKind, bool)
	Correct(ctx context.Context, subject []domain.Identity, field, value string, opts EraseOptions) (Result, error)
}

// Restricter is a connector that records a restriction of processing
// (GDPR Art. 18) for purposes, through the flags the data map declares:
// set by a restriction, cleared when it is lifted.
type Restricter interface {
	Restricts() []string
	Restrict(ctx context.Context, subject []domain.Identity, purposes []string, restricted bool) (Result, error)
}

// KeysOf is the sorted union of the maps' keys: the fields a connector's
// tables or objects declare correctable, the purposes they restrict.
func KeysOf[V any](ms ...map[string]V) []string {
	var out []string
	for _, m := range ms {
		for k := range m {
			if !slices.Contains(out, k) {
				out = append(out, k)
			}
		}
	}
	slices.Sort(out)
	return out
}

// RestrictionCovers says whether the flag of purpose flag changes: a
// restriction sets the flags of the purposes named and the flag of every
// purpose (all); a lift clears only the flags it names, and the flag of
// every purpose only when it lifts all, so that it never ends another
// restriction still in force.
func RestrictionCovers(flag string, purposes []string, restricting bool) bool {
	if slices.Contains(purposes, domain.AllPurposes) || slices.Contains(purposes, flag) {
		return true
	}
	return restricting && flag == domain.AllPurposes
}

// Actions of the rights that change records without erasing them.
const (
	ActionDiffers    = "differs"
	ActionCorrected  = "corrected"
	ActionRestricted = "restricted"
	ActionLifted     = "restriction lifted"
)

// Link is an identity found in the subject's records, and where.
type Link struct {
	Identity domain.Identity `json:"identity"`
	// Location is the table and column, key and field, or object and field.
	Location string `json:"location"`
}

// Links collects what a Linker finds: each identity once, where it was
// first found, and none that the subject gave.
type Links struct {
	seen map[domain.Identity]bool
	List []Link
}

// NewLinks starts a collection for a subject.
func NewLinks(subject []domain.Identity) *Links {
	l := &Links{seen: map[domain.Identity]bool{}}
	for _, id := range subject {
		l.seen[id] = true
	}
	return l
}

// Add keeps value as an identity of kind found at location, unless it is
// not a valid identity (an empty phone, a malformed address) or is known.
func (l *Links) Add(kind domain.IdentityKind, value, location string) {
	id, err := domain.NewIdentity(kind, value)
	if err != nil || l.seen[id] {
		return
	}
	l.seen[id] = true
	l.List = append(l.List, Link{Identity: id, Location: location})
}

// Errors a connector wraps so that the engine does not retry what a retry
// cannot fix; anything else (timeouts, refused connections) is retried.
var (
	// ErrRefused: the system refused the operation for good (a constraint,
	// a value of the wrong type, a missing table or column). Retrying
	// cannot help; a person must look.
	ErrRefused = errors.New("refused by the database")
	// ErrPermissionDenied: the system refused the engine's credentials.
	ErrPermissionDenied = errors.New("permission denied")
	// ErrBadConfig: the data map does not match the system (unknown table,
	// missing credentials).
	ErrBadConfig = errors.New("bad configuration")
	// ErrTooLarge: the system sent more than the connector may read in one
	// call. Retrying would read it all again; a person must look.
	ErrTooLarge = errors.New("too much data")
)

// RetryLaterError asks that the next attempt wait at least After: a system
// that answered 429 with a Retry-After longer than a connector waits
// in-process. The activity hands the delay to Temporal's retry, so the
// worker does not hold a slot while the system cools down.
type RetryLaterError struct {
	After time.Duration
	Err   error
}

func (e *RetryLaterError) Error() string {
	return fmt.Sprintf("%v (retry after %s)", e.Err, e.After)
}

func (e *RetryLaterError) Unwrap() error { return e.Err }

// EraseOptions tune an erasure.
type EraseOptions struct {
	// DryRun reports what would change without changing it.
	DryRun bool
}

// Result is the evidence of one call: per table or object, how many records
// were found, exported or changed, and how. It never holds the data itself.
type Result struct {
	System  string   `json:"system"`
	Records []Record `json:"records"`
}

// Record counts one table's (or endpoint's, or key pattern's) rows.
type Record struct {
	Location string   `json:"location"` // e.g. "crm.customers"
	Action   string   `json:"action"`   // found, exported, deleted, nulled, masked, kept
	Count    int64    `json:"count"`
	Fields   []string `json:"fields,omitempty"`
	Reason   string   `json:"reason,omitempty"` // e.g. the legal hold that kept it
	// Undeclared are columns an export holds that the data map does not
	// classify: exported all the same, and flagged for the map's owner.
	Undeclared []string `json:"undeclared,omitempty"`
}

// ActionShared is discovery's record of the subject's rows that other
// people's records still point at (an address two customers share):
// erasure keeps them, so the verification pass does not count them.
const ActionShared = "shared"

// Found is the discovery record of one location. legalHold is set where
// erasure keeps the records: they are reported as held, which the
// verification pass after an erasure does not count against it.
func Found(location string, count int64, legalHold string) Record {
	if legalHold != "" {
		return Record{Location: location, Action: "held", Count: count, Reason: legalHold}
	}
	return Record{Location: location, Action: "found", Count: count}
}

// Erasable counts the records found that erasure must remove: all but
// those held under a legal hold (action "held") and those shared with
// other people's records (ActionShared).
func (r Result) Erasable() int64 {
	var n int64
	for _, rec := range r.Records {
		if rec.Action != "held" && rec.Action != ActionShared {
			n += rec.Count
		}
	}
	return n
}

// OwnChanges lists, by index into Records, each location's record of what
// an erasure changed among the subject's own rows: its first record that
// is not kept, held or shared (connectors list the rows kept or adjusted
// for others after it).
func (r Result) OwnChanges() []int {
	var out []int
	seen := map[string]bool{}
	for i, rec := range r.Records {
		if rec.Action == "kept" || rec.Action == "held" || rec.Action == ActionShared || seen[rec.Location] {
			continue
		}
		seen[rec.Location] = true
		out = append(out, i)
	}
	return out
}

// Changed counts the records an erasure changed among the subject's own
// (OwnChanges). It is what discovery's Erasable should have found.
func (r Result) Changed() int64 {
	var n int64
	for _, i := range r.OwnChanges() {
		n += r.Records[i].Count
	}
	return n
}

// Total is the number of records across locations.
func (r Result) Total() int64 {
	var n int64
	for _, rec := range r.Records {
		n += rec.Count
	}
	return n
}
