package store_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/internal/testenv"
	"github.com/dsrengine/dsr/keyring"
	"github.com/dsrengine/dsr/records"
	"github.com/dsrengine/dsr/store"
)

// backends runs every store test on SQLite and on the real PostgreSQL.
func backends(t *testing.T, test func(t *testing.T, s *store.Store)) {
	t.Run("sqlite", func(t *testing.T) {
		t.Parallel()
		s := open(t, filepath.Join(t.TempDir(), "dsr.db"))
		test(t, s)
	})
	t.Run("postgres", func(t *testing.T) {
		t.Parallel()
		s := open(t, testenv.PostgresSchema(t))
		test(t, s)
	})
}

func open(t *testing.T, dsn string) *store.Store {
	t.Helper()
	s, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func keys(t *testing.T) *keyring.Keyring {
	k, err := keyring.New(bytes.Repeat([]byte{7}, keyring.MasterKeySize))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func identity(t *testing.T, kind domain.IdentityKind, v string) domain.Identity {
	id, err := domain.NewIdentity(kind, v)
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func newRequest(id string, typ domain.RequestType) records.Request {
	received := time.Date(2026, 1, 31, 10, 0, 0, 0, time.UTC)
	return records.Request{ID: id, Type: typ, Regulation: domain.GDPR, ReceivedAt: received,
		DueAt: domain.DueAt(domain.GDPR, received), WorkflowID: domain.WorkflowID(id)}
}

func TestRequests(t *testing.T) {
	backends(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		k := keys(t)
		email := identity(t, domain.Email, "Jane@Example.com")
		r, err := s.RecordRequest(ctx, k, newRequest("REQ-1", domain.Access), []domain.Identity{email}, "cli:test")
		if err != nil {
			t.Fatal(err)
		}
		if r.Status != domain.StatusReceived || r.SubjectID == "" {
			t.Fatalf("recorded %+v", r)
		}
		// Idempotent: the same request again returns the stored one.
		again, err := s.RecordRequest(ctx, k, newRequest("REQ-1", domain.Access), []domain.Identity{email}, "cli:test")
		if err != nil || again.SubjectID != r.SubjectID || !again.CreatedAt.Equal(r.CreatedAt) {
			t.Fatalf("second record = %+v, %v", again, err)
		}
		// Same id, other content: refused.
		if _, err := s.RecordRequest(ctx, k, newRequest("REQ-1", domain.Erasure), []domain.Identity{email}, "cli:test"); !errors.Is(err, records.ErrConflict) {
			t.Fatalf("conflicting record err = %v", err)
		}
		// A second request by the same person, found by e-mail, gains a phone.
		phone := identity(t, domain.Phone, "+44 20 7946 0958")
		r2, err := s.RecordRequest(ctx, k, newRequest("REQ-2", domain.Erasure), []domain.Identity{email, phone}, "cli:test")
		if err != nil || r2.SubjectID != r.SubjectID {
			t.Fatalf("same subject expected: %+v, %v", r2, err)
		}
		// REQ-1 (access) is open; another access request by the same person,
		// known by phone only now, is its duplicate; the erasure REQ-2 is not.
		r3, err := s.RecordRequest(ctx, k, newRequest("REQ-3", domain.Access), []domain.Identity{phone}, "cli:test")
		if err != nil || r3.SubjectID != r.SubjectID {
			t.Fatalf("REQ-3 = %+v, %v", r3, err)
		}
		for id, want := range map[string]string{"REQ-3": "REQ-1", "REQ-1": "", "REQ-2": ""} {
			if got, err := s.OpenDuplicate(ctx, id); err != nil || got != want {
				t.Errorf("OpenDuplicate(%s) = %q, %v; want %q", id, got, err, want)
			}
		}
		// An unverified request by "the same person" joins no one and
		// duplicates nothing; verified, it joins the subject, with its new
		// address, and a retry of the join changes nothing.
		other := identity(t, domain.Email, "jane.other@example.com")
		p, err := s.RecordProvisional(ctx, newRequest("REQ-4", domain.Access), "privacy-center")
		if err != nil || p.SubjectID == r.SubjectID {
			t.Fatalf("provisional = %+v, %v", p, err)
		}
		if dup, _ := s.OpenDuplicate(ctx, "REQ-4"); dup != "" {
			t.Fatalf("an unverified request duplicates %s", dup)
		}
		for range 2 {
			if err := s.AttachSubject(ctx, k, "REQ-4", []domain.Identity{email, other}); err != nil {
				t.Fatal(err)
			}
		}
		if got, _ := s.GetRequest(ctx, "REQ-4"); got.SubjectID != r.SubjectID {
			t.Fatalf("attached to %s, want %s", got.SubjectID, r.SubjectID)
		}
		if dup, _ := s.OpenDuplicate(ctx, "REQ-4"); dup != "REQ-1" {
			t.Fatalf("verified, REQ-4 duplicates %q", dup)
		}
		ids, err := s.SubjectIdentities(ctx, k, r.SubjectID)
		if err != nil || len(ids) != 3 || !slices.Contains(ids, email) || !slices.Contains(ids, phone) || !slices.Contains(ids, other) {
			t.Fatalf("identities = %v, %v", ids, err)
		}
		got, err := s.GetRequest(ctx, "REQ-1")
		if err != nil {
			t.Fatal(err)
		}
		if got.DueAt.Format("2006-01-02") != "2026-02-28" || !got.ReceivedAt.Equal(time.Date(2026, 1, 31, 10, 0, 0, 0, time.UTC)) {
			t.Fatalf("dates round trip: received %s due %s", got.ReceivedAt, got.DueAt)
		}
		if _, err := s.GetRequest(ctx, "nope"); !errors.Is(err, records.ErrNotFound) {
			t.Fatalf("missing request err = %v", err)
		}

		done := time.Date(2026, 2, 3, 9, 0, 0, 0, time.UTC)
		if err := s.SetStatus(ctx, "REQ-1", domain.StatusCompleted, "engine", done); err != nil {
			t.Fatal(err)
		}
		if err := s.SetStatus(ctx, "REQ-1", domain.StatusCompleted, "engine", done); err != nil {
			t.Fatalf("repeating a status must be a no-op: %v", err)
		}
		if got, err := s.OpenDuplicate(ctx, "REQ-3"); err != nil || got != "" {
			t.Fatalf("a completed request is no duplicate target, got %q, %v", got, err)
		}
		if err := s.SetStatus(ctx, "REQ-1", domain.StatusDiscovery, "engine", done); !errors.Is(err, records.ErrConflict) {
			t.Fatalf("reopening a completed request err = %v", err)
		}
		got, _ = s.GetRequest(ctx, "REQ-1")
		if got.Status != domain.StatusCompleted || got.CompletedAt == nil || !got.CompletedAt.Equal(done) {
			t.Fatalf("completed = %+v", got)
		}
		ext := time.Date(2026, 4, 30, 23, 59, 59, 0, time.UTC)
		if err := s.SetExtendedDue(ctx, "REQ-2", ext, "compliance:alice", "complex request"); err != nil {
			t.Fatal(err)
		}
		got, err = s.GetRequest(ctx, "REQ-2")
		if err != nil || got.ExtendedDueAt == nil || !got.ExtendedDueAt.Equal(ext) {
			t.Fatalf("extended due = %v, %v", got.ExtendedDueAt, err)
		}
		log, err := s.AuditLog(ctx, "REQ-1")
		if err != nil || len(log) != 2 || log[0].Action != "request.received" || log[1].Action != "request.status" {
			t.Fatalf("audit of REQ-1 = %+v, %v", log, err)
		}
		for _, e := range log {
			if strings.Contains(e.DetailRaw, "jane") {
				t.Fatalf("audit detail holds personal data: %s", e.DetailRaw)
			}
		}
	})
}

func TestDepartmentsAndSignOffs(t *testing.T) {
	backends(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		deps := []records.Department{
			{Name: "Finance", Channel: "#finance", Approvers: []string{"U01", "U02"}},
			{Name: "Sales", Channel: "#sales", Approvers: []string{"U03"}},
		}
		if err := s.SyncDepartments(ctx, deps); err != nil {
			t.Fatal(err)
		}
		if err := s.SyncDepartments(ctx, deps[:1]); err != nil {
			t.Fatal(err)
		}
		got, err := s.Departments(ctx)
		if err != nil || len(got) != 2 || len(got[0].Approvers) != 2 || len(got[1].Approvers) != 0 {
			t.Fatalf("departments = %+v, %v", got, err)
		}
		if _, err := s.RecordRequest(ctx, keys(t), newRequest("REQ-9", domain.Erasure), []domain.Identity{identity(t, domain.CustomerID, "C-1")}, "cli:test"); err != nil {
			t.Fatal(err)
		}
		at := time.Date(2026, 2, 1, 8, 0, 0, 0, time.UTC)
		obj := records.SignOff{RequestID: "REQ-9", Department: "Finance", Decision: "object", LegalBasis: "tax law keeps invoices 10 years", Actor: "slack:U01", DecidedAt: at}
		if err := s.RecordSignOff(ctx, obj); err != nil {
			t.Fatal(err)
		}
		if err := s.RecordSignOff(ctx, obj); err != nil {
			t.Fatalf("identical decision again must be a no-op: %v", err)
		}
		other := obj
		other.Decision, other.LegalBasis = "approve", ""
		if err := s.RecordSignOff(ctx, other); !errors.Is(err, records.ErrAlreadyDecided) {
			t.Fatalf("second decision err = %v", err)
		}
		if err := s.RecordSignOff(ctx, records.SignOff{RequestID: "REQ-9", Department: "Sales", Decision: "object", Actor: "x", DecidedAt: at}); err == nil || !strings.Contains(err.Error(), "legal basis") {
			t.Fatalf("objection without basis err = %v", err)
		}
		list, err := s.SignOffs(ctx, "REQ-9")
		if err != nil || len(list) != 1 || list[0].Actor != "slack:U01" || !list[0].DecidedAt.Equal(at) {
			t.Fatalf("sign-offs = %+v, %v", list, err)
		}
	})
}

func TestConsentArtifactsSuppression(t *testing.T) {
	backends(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		k := keys(t)
		r, err := s.RecordRequest(ctx, k, newRequest("REQ-C", domain.OptIn), []domain.Identity{identity(t, domain.Email, "a@b.co")}, "cli:test")
		if err != nil {
			t.Fatal(err)
		}
		base := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
		for i, st := range []string{"pending", "granted", "withdrawn"} {
			if err := s.AppendConsent(ctx, records.ConsentEvent{SubjectID: r.SubjectID, Purpose: "newsletter", State: st, Channel: "web", WordingVersion: "v3", RequestID: r.ID, At: base.Add(time.Duration(i) * time.Hour)}); err != nil {
				t.Fatal(err)
			}
		}
		cur, err := s.CurrentConsent(ctx, r.SubjectID, "newsletter")
		if err != nil || cur.State != "withdrawn" {
			t.Fatalf("current consent = %+v, %v", cur, err)
		}
		if _, err := s.CurrentConsent(ctx, r.SubjectID, "profiling"); !errors.Is(err, records.ErrNotFound) {
			t.Fatalf("no consent err = %v", err)
		}
		if err := s.AppendConsent(ctx, records.ConsentEvent{SubjectID: r.SubjectID, Purpose: "x", State: "granted"}); err == nil {
			t.Fatal("consent without evidence accepted")
		}
		hist, _ := s.ConsentHistory(ctx, r.SubjectID)
		if len(hist) != 3 {
			t.Fatalf("history = %d entries", len(hist))
		}

		a := records.Artifact{ID: "A1", RequestID: r.ID, System: "crm", Format: "json", Location: "file:///exports/A1.json", SHA256: "ab", SizeBytes: 10}
		if err := s.AddArtifact(ctx, a); err != nil {
			t.Fatal(err)
		}
		if err := s.AddArtifact(ctx, a); err != nil {
			t.Fatal(err)
		}
		arts, err := s.Artifacts(ctx, r.ID)
		if err != nil || len(arts) != 1 || arts[0].Location != a.Location {
			t.Fatalf("artifacts = %+v, %v", arts, err)
		}

		h := k.Hash("email", "a@b.co")
		if ok, err := s.Suppressed(ctx, "email", h); ok || err != nil {
			t.Fatalf("suppressed before erasure: %v, %v", ok, err)
		}
		for range 2 {
			if err := s.Suppress(ctx, "email", h, "erased", r.ID); err != nil {
				t.Fatal(err)
			}
		}
		if ok, err := s.Suppressed(ctx, "email", h); !ok || err != nil {
			t.Fatalf("suppressed = %v, %v", ok, err)
		}
	})
}

func TestAuditChain(t *testing.T) {
	backends(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		for i, action := range []string{"a", "b", "c", "d"} {
			if err := s.AppendAudit(ctx, records.AuditEntry{Actor: "tester", Action: action, Detail: map[string]any{"i": i}}); err != nil {
				t.Fatal(err)
			}
		}
		if problems, err := s.VerifyAudit(ctx); err != nil || len(problems) != 0 {
			t.Fatalf("fresh chain: %v, %v", problems, err)
		}
		if err := s.AppendAudit(ctx, records.AuditEntry{Action: "x"}); err == nil {
			t.Fatal("entry without actor accepted")
		}
		db := store.RawDB(s)
		if _, err := db.Exec(db.Rebind(`UPDATE audit_log SET actor = ? WHERE action = ?`), "mallory", "b"); err != nil {
			t.Fatal(err)
		}
		problems, err := s.VerifyAudit(ctx)
		if err != nil || len(problems) != 1 || !strings.Contains(problems[0], "entry 2 (b) was altered") {
			t.Fatalf("altered entry: %v, %v", problems, err)
		}
		if _, err := db.Exec(db.Rebind(`DELETE FROM audit_log WHERE action = ?`), "c"); err != nil {
			t.Fatal(err)
		}
		problems, err = s.VerifyAudit(ctx)
		if err != nil || len(problems) != 3 || !strings.Contains(problems[1], "entries 3 to 3 are missing") || !strings.Contains(problems[2], "entry 4 does not follow") {
			t.Fatalf("removed entry: %v, %v", problems, err)
		}
	})
}

func TestOpenErrors(t *testing.T) {
	for dsn, want := range map[string]string{
		"":                      "empty database URL",
		"mysql://root@x/db":     `unsupported database scheme "mysql"`,
		"postgres://%zz@host/x": "not a valid URL",
	} {
		if _, err := store.Open(context.Background(), dsn); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Open(%q) err = %v, want %q", dsn, err, want)
		}
	}
}

func TestInboxSlackMessagesAndReplays(t *testing.T) {
	backends(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		for range 2 { // a retried delivery files once
			if err := s.AddToInbox(ctx, records.InboxEntry{RequestID: "R1", Recipient: "Finance", Kind: "signoff", Text: "sign off", SentKey: "run/5"}); err != nil {
				t.Fatal(err)
			}
		}
		s.AddToInbox(ctx, records.InboxEntry{RequestID: "R1", Recipient: "Sales", Kind: "signoff", Text: "sign off", SentKey: "run/6"})
		if got, err := s.Inbox(ctx, "Finance", 10); err != nil || len(got) != 1 || got[0].Text != "sign off" {
			t.Fatalf("Finance inbox: %+v, %v", got, err)
		}
		if got, _ := s.Inbox(ctx, "", 10); len(got) != 2 || got[0].Recipient != "Sales" {
			t.Fatalf("whole inbox, newest first: %+v", got)
		}

		for _, m := range []store.SlackMessage{
			{RequestID: "R1", Recipient: "Finance", Kind: "signoff", Subject: "Finance", Channel: "C1", TS: "1.1", SentKey: "run/5"},
			{RequestID: "R1", Recipient: "Finance", Kind: "signoff", Subject: "Finance", Channel: "C1", TS: "1.1", SentKey: "run/5"},
			{RequestID: "R1", Recipient: "Finance", Kind: "task", Subject: "paper", Channel: "C1", TS: "1.2", SentKey: "run/9"},
		} {
			if err := s.SaveSlackMessage(ctx, m); err != nil {
				t.Fatal(err)
			}
		}
		if got, _ := s.SlackMessages(ctx, "R1", "Finance", "signoff"); len(got) != 1 || got[0].TS != "1.1" {
			t.Fatalf("sign-off messages: %+v", got)
		}
		if got, _ := s.SlackMessages(ctx, "R1", "Finance", ""); len(got) != 2 {
			t.Fatalf("all messages: %+v", got)
		}
		if got, _ := s.SlackMessagesSent(ctx, "run/9"); len(got) != 1 || got[0].Subject != "paper" {
			t.Fatalf("by key: %+v", got)
		}

		first, err := s.FirstSighting(ctx, "v0=abc")
		again, _ := s.FirstSighting(ctx, "v0=abc")
		if err != nil || !first || again {
			t.Fatalf("replay check: first %v, again %v, %v", first, again, err)
		}
	})
}

func TestReportRequests(t *testing.T) {
	backends(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		k := keys(t)
		jan := time.Date(2026, 1, 31, 10, 0, 0, 0, time.UTC)
		for i, id := range []string{"M-1", "M-2", "M-3", "M-OLD"} {
			r := newRequest(id, domain.Access)
			if id == "M-OLD" {
				r.ReceivedAt, r.DueAt = jan.AddDate(-1, 0, 0), jan.AddDate(-1, 1, 0)
			}
			if _, err := s.RecordRequest(ctx, k, r, []domain.Identity{identity(t, domain.Email, fmt.Sprintf("m%d@example.com", i))}, "cli:test"); err != nil {
				t.Fatal(err)
			}
		}
		s.SetStatus(ctx, "M-1", domain.StatusCompleted, "engine", jan.AddDate(0, 0, 3))
		if err := s.RecordSignOff(ctx, records.SignOff{RequestID: "M-1", Department: "Finance", Decision: "object", LegalBasis: "tax", Actor: "a", DecidedAt: jan}); err != nil {
			t.Fatal(err)
		}
		s.SetStatus(ctx, "M-2", domain.StatusDenied, "compliance", jan.AddDate(0, 0, 5))
		if err := s.SetExtendedDue(ctx, "M-3", jan.AddDate(0, 3, 0), "c", "complex"); err != nil {
			t.Fatal(err)
		}
		got, err := s.ReportRequests(ctx, time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC), time.Date(2027, 1, 1, 0, 0, 0, 0, time.UTC))
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != 3 || !got[0].Partial || got[1].Partial || got[0].CompletedAt == nil || got[0].CompletedAt.Sub(jan) != 72*time.Hour {
			t.Fatalf("report rows: %+v", got)
		}
		if got[2].CompletedAt != nil || !got[2].DueAt.Equal(jan.AddDate(0, 3, 0)) {
			t.Fatalf("open, extended request: %+v", got[2])
		}
	})
}

// TestKeyedAuditChain: an unkeyed chain is keyed in place when the key
// arrives (and the change is an entry); then an edit whose plain SHA-256 is
// recomputed, as anyone with the database could, is still caught; an
// unkeyed process cannot append to the keyed chain.
func TestKeyedAuditChain(t *testing.T) {
	backends(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		for _, action := range []string{"a", "b"} {
			if err := s.AppendAudit(ctx, records.AuditEntry{Actor: "tester", Action: action}); err != nil {
				t.Fatal(err)
			}
		}
		key := []byte("0123456789abcdef0123456789abcdef")
		if err := s.UseAuditKey(ctx, key); err != nil {
			t.Fatal(err)
		}
		entries, err := s.AuditLog(ctx, "")
		if err != nil || len(entries) != 3 || entries[2].Action != "audit.chain.keyed" || !strings.HasPrefix(entries[0].Hash, "hmac:") {
			t.Fatalf("after keying: %+v, %v", entries, err)
		}
		if problems, err := s.VerifyAudit(ctx); err != nil || len(problems) != 0 {
			t.Fatalf("keyed chain: %v, %v", problems, err)
		}
		// The forger rewrites b's actor and its hash, as a plain SHA-256.
		b := entries[1]
		b.Actor = "mallory"
		db := store.RawDB(s)
		if _, err := db.Exec(db.Rebind(`UPDATE audit_log SET actor = ?, hash = ? WHERE seq = ?`), b.Actor, store.PlainChainHash(b), b.Seq); err != nil {
			t.Fatal(err)
		}
		problems, err := s.VerifyAudit(ctx)
		if err != nil || len(problems) == 0 || !strings.Contains(problems[0], "entry 2 (b) was altered") {
			t.Fatalf("a forged plain hash: %v, %v", problems, err)
		}
		// A process without the key may not add to the keyed chain.
		other, err := store.Reopen(s)
		if err != nil {
			t.Fatal(err)
		}
		if err := other.AppendAudit(ctx, records.AuditEntry{Actor: "tester", Action: "c"}); err == nil || !strings.Contains(err.Error(), "the audit chain is keyed") {
			t.Fatalf("an unkeyed append: %v", err)
		}
	})
}

// TestSuppressionRoleToken: a pipeline's token can be made on both
// stores, and a role no one defined cannot.
func TestSuppressionRoleToken(t *testing.T) {
	backends(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		tok, secret, err := s.CreateToken(ctx, store.NewToken{Name: "crm-sync", Role: store.RoleSuppression})
		if err != nil || tok.Role != store.RoleSuppression {
			t.Fatalf("%+v %v", tok, err)
		}
		if got, err := s.Authenticate(ctx, secret); err != nil || got.Role != store.RoleSuppression {
			t.Fatalf("authenticate: %+v %v", got, err)
		}
		if _, _, err := s.CreateToken(ctx, store.NewToken{Name: "x", Role: "marketing"}); err == nil {
			t.Fatal("a token with an unknown role")
		}
	})
}
