// Package activities holds every side effect of the request workflows: the
// store writes, notices and connector calls. Activities are
// idempotent, so Temporal may retry any of them after a crash.
package activities

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/google/uuid"
	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/dsrengine/dsr/connectors"
	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/metrics"
	"github.com/dsrengine/dsr/records"
)

// Activities carries the dependencies; register a *Activities with the worker.
type Activities struct {
	Store    Store
	Keys     records.Sealer
	Notifier Notifier
	// Systems are the data map's systems with their connectors.
	Systems []System
	// ExportDir is where access exports and packages are written; they are
	// referenced from the store, never carried in workflow histories.
	ExportDir string
	// Reminders is the data map's reminder policy; zero means the default.
	Reminders domain.ReminderPolicy
	// Packages is how long and how often a package may be downloaded;
	// zero means the default.
	Packages domain.PackagePolicy
	// Aftercare is the data map's erasure policy: the resurrection checks
	// and the evidence hold; zero means neither.
	Aftercare domain.Aftercare
	// AuditAnchor reads the audit chain's newest anchor, kept in Temporal
	// outside the store; nil, or Seq 0, when there is none.
	AuditAnchor func(ctx context.Context) (records.AuditHead, error)
}

// Store is what the activities ask of the engine's store (*store.Store).
// It is named here rather than imported, so that the workflows, which
// refer to the activities, link no database driver.
type Store interface {
	RecordRequest(ctx context.Context, keys records.Sealer, r records.Request, ids []domain.Identity, actor string) (records.Request, error)
	RecordProvisional(ctx context.Context, r records.Request, actor string) (records.Request, error)
	AttachSubject(ctx context.Context, keys records.Sealer, requestID string, ids []domain.Identity) error
	SetContact(ctx context.Context, keys records.Sealer, requestID, email string) error
	SubjectIdentities(ctx context.Context, keys records.Sealer, subjectID string) ([]domain.Identity, error)
	Suppressed(ctx context.Context, kind, valueHash string) (bool, error)
	GetRequest(ctx context.Context, id string) (records.Request, error)
	FindSubject(ctx context.Context, keys records.Sealer, ids []domain.Identity) (string, error)
	OpenDuplicate(ctx context.Context, requestID string) (string, error)
	SetStatus(ctx context.Context, id string, status domain.Status, actor string, at time.Time) error
	SetExtendedDue(ctx context.Context, id string, due time.Time, actor, reason string) error
	RecordSignOff(ctx context.Context, so records.SignOff) error
	Departments(ctx context.Context) ([]records.Department, error)
	AppendConsent(ctx context.Context, e records.ConsentEvent) error
	ConsentHistory(ctx context.Context, subjectID string) ([]records.ConsentEvent, error)
	AddArtifact(ctx context.Context, a records.Artifact) error
	OfferDownload(ctx context.Context, requestID string, expiresAt time.Time, maxUses int) error
	RequestKey(ctx context.Context, keys records.Sealer, requestID string) ([]byte, error)
	SubjectRequests(ctx context.Context, subjectID string) ([]string, error)
	MarkPurged(ctx context.Context, requestID, why string, now time.Time) error
	PurgedFor(ctx context.Context, subjectID, why string) (int, error)
	DestroySubjectKey(ctx context.Context, subjectID, requestID string) error
	Suppress(ctx context.Context, kind, valueHash, reason, requestID string) error
	SuppressFor(ctx context.Context, scope, kind, valueHash, reason, requestID string) error
	ErasureBaseline(ctx context.Context, requestID, system string, counts map[string]int64) (map[string]int64, error)
	AppendAudit(ctx context.Context, e records.AuditEntry) error
	AuditLog(ctx context.Context, requestID string) ([]records.AuditEntry, error)
	CheckAuditAgainst(ctx context.Context, anchor records.AuditHead) (int, []string, error)
	ReportRequests(ctx context.Context, from, to time.Time) ([]metrics.Request, error)
	Inbox
}

// Inbox files notices for the console.
type Inbox interface {
	AddToInbox(ctx context.Context, e records.InboxEntry) error
}

// ReminderPolicy gives the data map's reminder policy to a new request, so
// that the policy in force when it started is in its history.
func (a *Activities) ReminderPolicy(ctx context.Context) (domain.ReminderPolicy, error) {
	if a.Reminders.EscalateEvery == 0 {
		return domain.DefaultReminders(), nil
	}
	return a.Reminders, nil
}

// Notifier delivers notices to data subjects and departments: the log and
// the console's inbox always, Slack where it is configured.
type Notifier interface {
	Notify(ctx context.Context, n Notice) error
}

// Notice is a message about one request. It carries no personal data: the
// recipient is named by role, and the deliverer looks up the address.
type Notice struct {
	RequestID string `json:"request_id"`
	To        string `json:"to"` // "subject", "compliance" or a department name
	Kind      string `json:"kind"`
	Text      string `json:"text"`
	// Facts let a rich channel (Slack) lay the notice out; Text says the
	// same in words.
	Facts *NoticeFacts `json:"facts,omitempty"`
	// Key names one delivery across its retries (set by Notify), so a
	// deliverer can tell a retry from a new notice.
	Key string `json:"key,omitempty"`
}

// NoticeFacts are what a notice is about, field by field.
type NoticeFacts struct {
	Type       domain.RequestType `json:"type,omitempty"`
	Regulation domain.Regulation  `json:"regulation,omitempty"`
	DueAt      time.Time          `json:"due_at,omitzero"`
	// Systems are the recipient department's systems and what they hold.
	Systems []SystemCount `json:"systems,omitempty"`
	// A manual task: its system, where the data is and what to do.
	System       string `json:"system,omitempty"`
	Location     string `json:"location,omitempty"`
	Instructions string `json:"instructions,omitempty"`
	// A decision or a task's confirmation: what, by whom, when and why.
	Outcome string    `json:"outcome,omitempty"`
	Actor   string    `json:"actor,omitempty"`
	At      time.Time `json:"at,omitzero"`
	Basis   string    `json:"basis,omitempty"`
}

// SystemCount is how many records a system holds on the subject.
type SystemCount struct {
	System  string `json:"system"`
	Records int64  `json:"records"`
}

// RecordInput is what RecordReceived stores: the request as started and
// the workflow that carries it.
type RecordInput struct {
	domain.Request
	WorkflowID string `json:"workflow_id"`
	// Provisional: the subject is not verified, so the identities join no
	// existing subject until AttachSubject.
	Provisional bool `json:"provisional,omitempty"`
}

// RecordReceived stores the request and its sealed identities. A stored
// request with other content is a non-retryable error: retrying cannot fix it.
func (a *Activities) RecordReceived(ctx context.Context, in RecordInput) error {
	r := records.Request{
		ID: in.RequestID, Type: in.Type, Regulation: in.Regulation,
		ReceivedAt: in.ReceivedAt, DueAt: in.DueAt, WorkflowID: in.WorkflowID,
	}
	var err error
	if in.Provisional {
		_, err = a.Store.RecordProvisional(ctx, r, in.RequestedBy)
	} else {
		_, err = a.Store.RecordRequest(ctx, a.Keys, r, in.Identities, in.RequestedBy)
	}
	if errors.Is(err, records.ErrConflict) {
		return temporal.NewNonRetryableApplicationError(err.Error(), "Conflict", err)
	}
	if err != nil {
		return err
	}
	// The subject's notices go to the address the request was made with,
	// verified or not: the verification code is one of them.
	for _, id := range in.Identities {
		if id.Kind == domain.Email {
			return a.Store.SetContact(ctx, a.Keys, in.RequestID, id.Value)
		}
	}
	return nil
}

// AdmitInput records a new request and says what else to settle at once.
type AdmitInput struct {
	Record RecordInput `json:"record"`
	// At is the receipt's status time, as the workflow's clock says.
	At time.Time `json:"at"`
	// Duplicates asks for the duplicate check (a verified request), Policy
	// for the data map's reminder policy (none in the request).
	Duplicates bool `json:"duplicates,omitempty"`
	Policy     bool `json:"policy,omitempty"`
}

// Admitted is what Admit settled.
type Admitted struct {
	DuplicateOf string                `json:"duplicate_of,omitempty"`
	Policy      domain.ReminderPolicy `json:"policy,omitzero"`
}

// Admit records a new request, its received status, and, as asked, its
// duplicate check and the reminder policy: the four writes and reads every
// request starts with, in one step. Each part is idempotent, so a retry
// after a crash repeats none of them.
func (a *Activities) Admit(ctx context.Context, in AdmitInput) (Admitted, error) {
	var out Admitted
	if err := a.RecordReceived(ctx, in.Record); err != nil {
		return out, err
	}
	if err := a.SetStatus(ctx, StatusInput{RequestID: in.Record.RequestID, Status: domain.StatusReceived, Actor: in.Record.RequestedBy, At: in.At}); err != nil {
		return out, err
	}
	if in.Duplicates {
		dup, err := a.FindOpenDuplicate(ctx, in.Record.RequestID)
		if err != nil {
			return out, err
		}
		out.DuplicateOf = dup
	}
	if in.Policy {
		p, err := a.ReminderPolicy(ctx)
		if err != nil {
			return out, err
		}
		out.Policy = p
	}
	return out, nil
}

// FindOpenDuplicate returns the id of an older open request of the same
// type for the same subject, or "".
func (a *Activities) FindOpenDuplicate(ctx context.Context, requestID string) (string, error) {
	return a.Store.OpenDuplicate(ctx, requestID)
}

// StatusInput moves a request to a status.
type StatusInput struct {
	RequestID string        `json:"request_id"`
	Status    domain.Status `json:"status"`
	Actor     string        `json:"actor"`
	At        time.Time     `json:"at"`
}

// SetStatus records a status change in the store and its audit log.
func (a *Activities) SetStatus(ctx context.Context, in StatusInput) error {
	err := a.Store.SetStatus(ctx, in.RequestID, in.Status, in.Actor, in.At)
	if errors.Is(err, records.ErrConflict) || errors.Is(err, records.ErrNotFound) {
		return temporal.NewNonRetryableApplicationError(err.Error(), "InvalidStatus", err)
	}
	return err
}

// RecordStatus is SetStatus for a local activity: it returns what it
// recorded, since a local activity's input is not kept in the history but
// its result is, and the evidence reads who set which status when from it.
func (a *Activities) RecordStatus(ctx context.Context, in StatusInput) (StatusInput, error) {
	return in, a.SetStatus(ctx, in)
}

// Notify sends a notice and audits that it was sent. A channel that is
// rate limited says how long to wait, and the next attempt waits that long.
func (a *Activities) Notify(ctx context.Context, n Notice) error {
	if n.Key == "" && activity.IsActivity(ctx) {
		info := activity.GetInfo(ctx)
		n.Key = info.WorkflowExecution.RunID + "/" + info.ActivityID
	}
	if err := a.Notifier.Notify(ctx, n); err != nil {
		err = fmt.Errorf("notify %s about %s: %w", n.To, n.RequestID, err)
		var later *connectors.RetryLaterError
		if errors.As(err, &later) {
			return temporal.NewApplicationErrorWithOptions(err.Error(), "RateLimited", temporal.ApplicationErrorOptions{NextRetryDelay: later.After, Cause: err})
		}
		// A channel that refused for good (a mail server's 5xx, an invalid
		// address): the timeline says so now, not after every retry.
		var refused interface{ Permanent() bool }
		if errors.As(err, &refused) && refused.Permanent() {
			return temporal.NewNonRetryableApplicationError(err.Error(), "Refused", err)
		}
		return err
	}
	return a.Store.AppendAudit(ctx, records.AuditEntry{RequestID: n.RequestID, Actor: "engine", Action: "notice.sent",
		Detail: map[string]any{"to": n.To, "kind": n.Kind}})
}

// Notifiers delivers each notice to all of them; every one is idempotent
// per delivery key, so a retry after one of them failed is safe.
type Notifiers []Notifier

func (ns Notifiers) Notify(ctx context.Context, n Notice) error {
	var errs []error
	for _, x := range ns {
		if err := x.Notify(ctx, n); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// InboxNotifier files every notice for the console's inbox.
type InboxNotifier struct{ Store Inbox }

func (i InboxNotifier) Notify(ctx context.Context, n Notice) error {
	key := n.Key
	if key == "" { // not from an activity: nothing to deduplicate
		key = uuid.NewString()
	}
	return i.Store.AddToInbox(ctx, records.InboxEntry{RequestID: n.RequestID, Recipient: n.To, Kind: n.Kind, Text: n.Text, SentKey: key})
}

// LogNotifier writes notices to the log, for dev mode and until a real
// channel is configured. Notices hold no personal data, so this is safe.
type LogNotifier struct{ Log *slog.Logger }

func (l LogNotifier) Notify(_ context.Context, n Notice) error {
	l.Log.Info("notice", "request", n.RequestID, "to", n.To, "kind", n.Kind, "text", n.Text)
	return nil
}

// ExtensionInput records a new deadline.
type ExtensionInput struct {
	RequestID string    `json:"request_id"`
	DueAt     time.Time `json:"due_at"`
	Actor     string    `json:"actor"`
	Reason    string    `json:"reason"`
}

// RecordExtension stores the extended deadline and audits who and why.
func (a *Activities) RecordExtension(ctx context.Context, in ExtensionInput) error {
	err := a.Store.SetExtendedDue(ctx, in.RequestID, in.DueAt, in.Actor, in.Reason)
	if errors.Is(err, records.ErrNotFound) {
		return temporal.NewNonRetryableApplicationError(err.Error(), "InvalidStatus", err)
	}
	return err
}

// RecordSignOff stores a department's decision; the same decision again is
// a no-op, so a retry is safe.
func (a *Activities) RecordSignOff(ctx context.Context, so records.SignOff) error {
	err := a.Store.RecordSignOff(ctx, so)
	if errors.Is(err, records.ErrAlreadyDecided) {
		return temporal.NewNonRetryableApplicationError(err.Error(), "Conflict", err)
	}
	return err
}

// TaskRecord is a department's confirmation of a manual task.
type TaskRecord struct {
	RequestID  string    `json:"request_id"`
	System     string    `json:"system"`
	Department string    `json:"department"`
	Work       string    `json:"work"`
	Outcome    string    `json:"outcome"`
	Records    int64     `json:"records"`
	Note       string    `json:"note"`
	LegalBasis string    `json:"legal_basis,omitempty"`
	Actor      string    `json:"actor"`
	At         time.Time `json:"at"`
}

// RecordTask audits a manual task's confirmation, once: a retry finds the
// entry already there. The note may name the subject, so the audit log,
// which holds no personal data, keeps its SHA-256; the note itself is in
// the request's encrypted history.
func (a *Activities) RecordTask(ctx context.Context, t TaskRecord) error {
	log, err := a.Store.AuditLog(ctx, t.RequestID)
	if err != nil {
		return err
	}
	for _, e := range log {
		var d struct{ System string }
		if e.Action == "task.completed" && json.Unmarshal([]byte(e.DetailRaw), &d) == nil && d.System == t.System {
			return nil
		}
	}
	sum := sha256.Sum256([]byte(t.Note))
	return a.Store.AppendAudit(ctx, records.AuditEntry{RequestID: t.RequestID, Actor: t.Actor, Action: "task.completed", At: t.At,
		Detail: map[string]any{"system": t.System, "department": t.Department, "work": t.Work, "outcome": t.Outcome,
			"records": t.Records, "note_sha256": hex.EncodeToString(sum[:]), "legal_basis": t.LegalBasis}})
}

// RecordRead records that someone read a subject's personal data, such as
// a manual task's identities.
func (a *Activities) RecordRead(ctx context.Context, e records.AuditEntry) error {
	return a.Store.AppendAudit(ctx, e)
}

// AttachInput names a verified request and its subject's identities.
type AttachInput struct {
	RequestID  string            `json:"request_id"`
	Identities []domain.Identity `json:"identities"`
}

// AttachSubject joins a request recorded provisionally to its subject,
// once the subject is verified.
func (a *Activities) AttachSubject(ctx context.Context, in AttachInput) error {
	return a.Store.AttachSubject(ctx, a.Keys, in.RequestID, in.Identities)
}
