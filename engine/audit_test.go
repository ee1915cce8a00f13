package engine_test

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/jmoiron/sqlx"

	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/internal/testengine"
	"github.com/dsrengine/dsr/internal/testenv"
	"github.com/dsrengine/dsr/records"
	"github.com/dsrengine/dsr/requests"
	"github.com/dsrengine/dsr/store"
	"github.com/dsrengine/dsr/workflows"
)

// TestAuditChainIsKeyedAndAnchored: someone who can write the store's
// tables but lacks the master key edits an entry and recomputes its plain
// SHA-256, then deletes the newest entry. The keyed chain shows the edit;
// the anchor in Temporal shows the deletion, which a chain alone cannot.
func TestAuditChainIsKeyedAndAnchored(t *testing.T) {
	dsn := testenv.PostgresSchema(t)
	st, err := store.Open(context.Background(), dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	ctx := context.Background()
	e := testengine.StartEngine(t, st)
	for i := range 3 {
		if err := st.AppendAudit(ctx, records.AuditEntry{Actor: "cli:alice", Action: fmt.Sprintf("test.%d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	if check, err := requests.VerifyAudit(ctx, e.Client, "cli:auditor"); err != nil || len(check.Problems) != 0 {
		t.Fatalf("a fresh chain: %+v, %v", check, err)
	}
	db := sqlx.MustOpen("postgres", dsn)
	defer db.Close()
	var hash string
	if err := db.Get(&hash, `SELECT hash FROM audit_log ORDER BY seq DESC LIMIT 1`); err != nil || !strings.HasPrefix(hash, "hmac:") {
		t.Fatalf("the newest entry's hash %q, %v: not keyed", hash, err)
	}

	// The engine anchors the head in Temporal as it goes; wait for it.
	var head records.AuditHead
	testenv.Eventually(t, testenv.Wait, func() (bool, string) {
		var anchor records.AuditHead
		err := e.Client.GetWorkflow(ctx, workflows.AuditAnchorID, "").Get(ctx, &anchor)
		head, _ = st.Head(ctx)
		return err == nil && anchor == head, fmt.Sprintf("anchor %+v, head %+v, %v", anchor, head, err)
	})
	// The newest entry goes; the chain that is left is intact by itself.
	if _, err := db.Exec(`DELETE FROM audit_log WHERE seq = $1`, head.Seq); err != nil {
		t.Fatal(err)
	}
	check, err := requests.VerifyAudit(ctx, e.Client, "cli:auditor")
	if err != nil || !strings.Contains(strings.Join(check.Problems, "; "), fmt.Sprintf("the newest entries were deleted: the anchor in Temporal remembers entry %d", head.Seq)) {
		t.Fatalf("after deleting the newest entry: %+v, %v", check, err)
	}
}

// TestTerminatedRequestIsReconciled: an operator terminates a request's
// workflow in Temporal. The workflow cannot record that, so the engine
// does: the store says needs_attention, with Temporal as the actor, and
// show says the workflow was terminated.
func TestTerminatedRequestIsReconciled(t *testing.T) {
	st := openPostgres(t)
	ctx := context.Background()
	e := testengine.StartEngine(t, st)
	in := input("TERM-1", "tom@example.com")
	in.IdentityVerified = false // it waits for verification
	if _, err := requests.Start(ctx, e.Client, in); err != nil {
		t.Fatal(err)
	}
	e.WaitFor(t, "TERM-1", domain.StatusVerifying)
	if err := e.RawClient.TerminateWorkflow(ctx, "dsr-TERM-1", "", "operator cleanup"); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, testenv.Wait, func() (bool, string) {
		r, err := st.GetRequest(ctx, "TERM-1")
		return err == nil && r.Status == domain.StatusNeedsAttention, fmt.Sprintf("stored %+v, %v", r, err)
	})
	entries, err := st.AuditLog(ctx, "TERM-1")
	if err != nil || entries[len(entries)-1].Actor != "temporal:terminated" {
		t.Fatalf("audit: %+v, %v", entries, err)
	}
	v, err := requests.Show(ctx, e.Client, "TERM-1")
	if err != nil || v.Status != domain.StatusNeedsAttention || !strings.Contains(strings.ToLower(v.Workflow), "terminated") {
		t.Fatalf("show: %s %s, %v", v.Status, v.Workflow, err)
	}
}
