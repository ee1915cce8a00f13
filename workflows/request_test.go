package workflows_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/sdk/interceptor"
	tlog "go.temporal.io/sdk/log"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/testsuite"
	"go.temporal.io/sdk/worker"

	"github.com/dsrengine/dsr/activities"
	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/keyring"
	"github.com/dsrengine/dsr/records"
	"github.com/dsrengine/dsr/store"
	"github.com/dsrengine/dsr/workflows"
)

// env runs the workflow with the real activities on a real SQLite store.
func env(t *testing.T) (*testsuite.TestWorkflowEnvironment, *store.Store, *keyring.Keyring) {
	e, st, k, _ := envWithNotices(t)
	return e, st, k
}

// notices records what the engine would have sent.
type notices struct {
	mu   sync.Mutex
	list []activities.Notice
}

func (n *notices) Notify(_ context.Context, x activities.Notice) error {
	n.mu.Lock()
	defer n.mu.Unlock()
	n.list = append(n.list, x)
	return nil
}

// last is the text of the last notice of a kind.
func (n *notices) last(kind string) string {
	n.mu.Lock()
	defer n.mu.Unlock()
	for i := len(n.list) - 1; i >= 0; i-- {
		if n.list[i].Kind == kind {
			return n.list[i].Text
		}
	}
	return ""
}

// kinds lists "to:kind" of every notice, in order.
func (n *notices) kinds() []string {
	n.mu.Lock()
	defer n.mu.Unlock()
	var out []string
	for _, x := range n.list {
		out = append(out, x.To+":"+x.Kind)
	}
	return out
}

func envWithNotices(t *testing.T) (*testsuite.TestWorkflowEnvironment, *store.Store, *keyring.Keyring, *notices) {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "dsr.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	keys, err := keyring.New(keysFor())
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(keys)
	sent := &notices{}
	e.RegisterActivity(&activities.Activities{Store: st, Keys: keys, Notifier: sent, ExportDir: t.TempDir()})
	return e, st, keys, sent
}

// newEnv is a test environment for the request workflow, its worker
// checking claims with keys; the caller registers the activities.
func newEnv(keys *keyring.Keyring) *testsuite.TestWorkflowEnvironment {
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	var s testsuite.WorkflowTestSuite
	s.SetLogger(tlog.NewStructuredLogger(log))
	e := s.NewTestWorkflowEnvironment()
	e.SetWorkerOptions(worker.Options{Interceptors: []interceptor.WorkerInterceptor{workflows.Claims(keys)}})
	e.RegisterWorkflow(workflows.Request)
	e.SetStartTime(time.Date(2026, 1, 31, 9, 30, 0, 0, time.UTC))
	return e
}

// keysFor is the master key of the workflow tests.
func keysFor() []byte { return bytes.Repeat([]byte{9}, keyring.MasterKeySize) }

func input(id string) workflows.RequestInput {
	received := time.Date(2026, 1, 31, 9, 30, 0, 0, time.UTC)
	email, _ := domain.NewIdentity(domain.Email, "jane@example.com")
	return workflows.RequestInput{RequestID: id, Type: domain.Access, Regulation: domain.GDPR,
		Identities: []domain.Identity{email}, ReceivedAt: received, DueAt: domain.DueAt(domain.GDPR, received), RequestedBy: "cli:alice",
		IdentityVerified: true}
}

func TestRequestCompletes(t *testing.T) {
	e, st, keys := env(t)
	e.ExecuteWorkflow(workflows.Request, input("REQ-1"))
	if !e.IsWorkflowCompleted() || e.GetWorkflowError() != nil {
		t.Fatalf("workflow: completed=%v err=%v", e.IsWorkflowCompleted(), e.GetWorkflowError())
	}
	var res workflows.RequestState
	if err := e.GetWorkflowResult(&res); err != nil {
		t.Fatal(err)
	}
	var path []string
	for _, c := range res.Timeline {
		path = append(path, string(c.Status))
	}
	if res.Status != domain.StatusCompleted || res.Timeline[0].Actor != "cli:alice" ||
		strings.Join(path, " ") != "received discovery fulfilling answering completed" || res.Package == "" {
		t.Fatalf("result = %+v", res)
	}
	ctx := context.Background()
	r, err := st.GetRequest(ctx, "REQ-1")
	if err != nil || r.Status != domain.StatusCompleted || r.CompletedAt == nil || r.DueAt.Format(time.DateOnly) != "2026-02-28" {
		t.Fatalf("stored = %+v, %v", r, err)
	}
	ids, err := st.SubjectIdentities(ctx, keys, r.SubjectID)
	if err != nil || len(ids) != 1 || ids[0].Value != "jane@example.com" {
		t.Fatalf("identities = %v, %v", ids, err)
	}
	log, _ := st.AuditLog(ctx, "REQ-1")
	var actions []string
	for _, a := range log {
		actions = append(actions, a.Actor+" "+a.Action)
	}
	want := "cli:alice request.received|engine notice.sent|engine request.status|engine request.status|engine request.status|engine notice.sent|engine request.status"
	if strings.Join(actions, "|") != want {
		t.Fatalf("audit = %v\nwant %s", actions, want)
	}
}

func TestRequestRefusesBadInput(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*workflows.RequestInput)
		want   string
	}{
		{"personal data in id", func(in *workflows.RequestInput) { in.RequestID = "jane@example.com" }, "request id"},
		{"no identity", func(in *workflows.RequestInput) { in.Identities = nil }, "identity: at least one"},
		{"invalid identity", func(in *workflows.RequestInput) { in.Identities[0].Value = "not an email" }, "email"},
		{"unnormalized identity", func(in *workflows.RequestInput) { in.Identities[0].Value = "Jane@Example.com" }, "email: is not normalized"},
		{"wrong due date", func(in *workflows.RequestInput) { in.DueAt = in.DueAt.AddDate(0, 0, 30) }, "due_at"},
		{"unknown type", func(in *workflows.RequestInput) { in.Type = "delete" }, "type"},
		{"alias type", func(in *workflows.RequestInput) { in.Type = "opt-in" }, "type"},
		{"no actor", func(in *workflows.RequestInput) { in.RequestedBy = "" }, "requested_by"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, _, _ := env(t)
			in := input("REQ-BAD")
			tt.mutate(&in)
			e.ExecuteWorkflow(workflows.Request, in)
			err := e.GetWorkflowError()
			var app *temporal.ApplicationError
			if !errors.As(err, &app) || app.Type() != "InvalidInput" || !app.NonRetryable() || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want non-retryable InvalidInput naming %q", err, tt.want)
			}
		})
	}
}

func TestRequestIDConflictFailsWithoutRetrying(t *testing.T) {
	e, st, keys := env(t)
	other := input("REQ-2")
	email, _ := domain.NewIdentity(domain.Email, "other@example.com")
	if _, err := st.RecordRequest(context.Background(), keys, records.Request{ID: "REQ-2", Type: domain.Erasure, Regulation: domain.GDPR,
		ReceivedAt: other.ReceivedAt, DueAt: other.DueAt, WorkflowID: "elsewhere"}, []domain.Identity{email}, "cli:bob"); err != nil {
		t.Fatal(err)
	}
	e.ExecuteWorkflow(workflows.Request, other)
	if err := e.GetWorkflowError(); !hasApplicationError(err, "Conflict") {
		t.Fatalf("err = %v, want Conflict", err)
	}
}

// hasApplicationError looks through the whole chain: the workflow wraps the
// activity's error with context, which the SDK turns into an outer one.
func hasApplicationError(err error, typ string) bool {
	for ; err != nil; err = errors.Unwrap(err) {
		var app *temporal.ApplicationError
		if errors.As(err, &app) && app.Type() == typ && app.NonRetryable() {
			return true
		}
		if app == nil {
			return false
		}
		err = app
	}
	return false
}
