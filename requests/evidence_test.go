package requests_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dsrengine/dsr/activities"
	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/internal/testengine"
	"github.com/dsrengine/dsr/records"
	"github.com/dsrengine/dsr/requests"
	"github.com/dsrengine/dsr/store"
	"github.com/dsrengine/dsr/workflows"
)

// evidenceLines are a request's evidence timeline as "what | actor |
// detail", the parts an auditor reads.
func evidenceLines(t *testing.T, e *testengine.Engine, id string) []string {
	t.Helper()
	ev, err := requests.GetEvidence(context.Background(), e.Client, requests.Codecs{Data: e.Keys.DataConverter(), Failure: e.Keys.FailureConverter()}, id, "test:auditor")
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, x := range ev.Timeline {
		out = append(out, fmt.Sprintf("%s | %s | %s", x.What, x.Actor, x.Detail))
	}
	return out
}

func newInput(t *testing.T, id string, typ domain.RequestType, verified bool, consent *domain.ConsentChange) workflows.RequestInput {
	t.Helper()
	in, err := requests.NewInput(requests.Form{ID: id, Type: string(typ), Regulation: "gdpr", RequestedBy: "cli:alice", IdentityVerified: verified, Consent: consent,
		Identities: []requests.FormIdentity{{Kind: "email", Value: "ruth@example.com"}}}, requests.Names{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	return in
}

// TestEvidenceOfEveryStep runs an erasure with an extension and a
// sign-off, and an opt-in, on the real engine, and checks every line of
// their evidence: each step the auditor must see, by whom, in order.
func TestEvidenceOfEveryStep(t *testing.T) {
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "dsr.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	if err := st.SyncDepartments(context.Background(), []records.Department{{Name: "Finance", Approvers: []string{"controller@acme.example"}}}); err != nil {
		t.Fatal(err)
	}
	e := testengine.StartEngine(t, st, activities.System{SystemRef: activities.SystemRef{Name: "billing", Department: "Finance", Purposes: []string{"newsletter"},
		PurposeKinds: map[string][]string{"newsletter": {"marketing"}}}, Connector: &testengine.Table{Rows: 2}})
	ctx := context.Background()

	erasure := newInput(t, "EV-ERASE", domain.Erasure, false, nil)
	if _, err := requests.Start(ctx, e.Client, erasure); err != nil {
		t.Fatal(err)
	}
	// Start answers once the request is started; the steps below are
	// taken while it waits for verification, as compliance would.
	e.WaitFor(t, "EV-ERASE", domain.StatusVerifying)
	due, err := requests.Extend(testengine.Compliance(ctx, "cli:alice"), e.Client, "EV-ERASE", workflows.ExtensionRequest{Actor: "cli:alice", By: domain.Period{Months: 1}, Reason: "records in archive storage"})
	if err != nil {
		t.Fatal(err)
	}
	if err := requests.VerifyIdentity(testengine.Compliance(ctx, "cli:alice"), e.Client, "EV-ERASE", workflows.Verification{Actor: "cli:alice", Method: "matched account login"}); err != nil {
		t.Fatal(err)
	}
	e.WaitFor(t, "EV-ERASE", domain.StatusAwaitingSignOff)
	if err := requests.Decide(testengine.Approver(ctx, "controller@acme.example", "cli:cora"), e.Client, "EV-ERASE", workflows.Decision{Department: "Finance", Decision: "approve", Approver: "controller@acme.example", Via: "cli:cora"}); err != nil {
		t.Fatal(err)
	}
	if res := e.Closed(t, "EV-ERASE"); res.Status != domain.StatusCompleted {
		t.Fatalf("erasure ended %s", res.Status)
	}
	checkEvidence(t, evidenceLines(t, e, "EV-ERASE"), []string{
		"received | cli:alice | erasure request under gdpr, received " + erasure.ReceivedAt.Format(time.RFC3339) + ", due " + erasure.DueAt.Format("2006-01-02") + "; 1 identities; identity to be verified",
		"status | cli:alice | received",
		"notice | engine | receipt notice to subject",
		"status | engine | verifying",
		"extension | cli:alice via test | by 1 month: records in archive storage",
		"deadline | cli:alice | new deadline " + due.Format("2006-01-02"),
		"notice | engine | extension notice to subject",
		"identity verified | cli:alice via test | method: matched account login",
		"status | engine | discovery",
		"discovered | engine | billing: found 2 in rows",
		"status | engine | awaiting_signoff",
		"notice | engine | signoff notice to Finance",
		"sign-off | controller@acme.example via cli:cora | Finance: approve",
		"notice | engine | signoff-decided notice to Finance",
		"status | engine | fulfilling",
		"erased | engine | billing: deleted 2 in rows",
		"discovered | engine | billing: found 0 in rows",
		"suppressed | engine | the subject's identities (keyed hashes) added to the suppression list",
		"status | engine | answering",
		"notice | engine | answer notice to subject",
		"status | engine | completed",
		"closed | engine | workflow completed: completed",
	},
		// Sent right after the start, the extension and the verification land
		// before or after the request reaches verifying; the decision, sent
		// once the request awaits sign-off, before or after the notice that
		// asks for it is recorded.
		"status | engine | verifying",
		"extension | cli:alice via test | by 1 month: records in archive storage", "deadline | cli:alice | new deadline "+due.Format("2006-01-02"),
		"notice | engine | extension notice to subject", "identity verified | cli:alice via test | method: matched account login",
		"notice | engine | signoff notice to Finance", "sign-off | controller@acme.example via cli:cora | Finance: approve")

	// The opt-in: billing uses the purpose, and holds nothing on Ruth any more.
	optIn := newInput(t, "EV-OPTIN", domain.OptIn, true, &domain.ConsentChange{Purpose: "newsletter", Channel: "web form", WordingVersion: "newsletter-v3"})
	if _, err := requests.Start(ctx, e.Client, optIn); err != nil {
		t.Fatal(err)
	}
	if res := e.Closed(t, "EV-OPTIN"); res.Status != domain.StatusCompleted {
		t.Fatalf("opt-in ended %s", res.Status)
	}
	checkEvidence(t, evidenceLines(t, e, "EV-OPTIN"), []string{
		"received | cli:alice | opt_in request under gdpr, received " + optIn.ReceivedAt.Format(time.RFC3339) + ", due " + optIn.DueAt.Format("2006-01-02") + "; 1 identities; identity verified before the start",
		"status | cli:alice | received",
		"notice | engine | receipt notice to subject",
		"status | engine | discovery",
		"discovered | engine | billing: found 0 in rows",
		"status | engine | fulfilling",
		"consent recorded | engine | newsletter: granted via web form (wording newsletter-v3)",
		"consent applied | engine | billing: updated 0 in consent",
		"status | engine | answering",
		"notice | engine | answer notice to subject",
		"status | engine | completed",
		"closed | engine | workflow completed: completed",
	})

	// An objection to direct marketing: the ledger, the suppression for
	// marketing and the withdrawal, with no sign-off.
	objection, err := requests.NewInput(requests.Form{ID: "EV-OBJ", Type: "objection", Regulation: "gdpr", RequestedBy: "cli:alice", IdentityVerified: true,
		Scope: &domain.Scope{DirectMarketing: true, Channel: "e-mail"}, Identities: []requests.FormIdentity{{Kind: "email", Value: "ruth@example.com"}}}, requests.Names{}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if _, err := requests.Start(ctx, e.Client, objection); err != nil {
		t.Fatal(err)
	}
	if res := e.Closed(t, "EV-OBJ"); res.Status != domain.StatusCompleted {
		t.Fatalf("objection ended %s", res.Status)
	}
	checkEvidence(t, evidenceLines(t, e, "EV-OBJ"), []string{
		"received | cli:alice | objection request under gdpr, received " + objection.ReceivedAt.Format(time.RFC3339) + ", due " + objection.DueAt.Format("2006-01-02") + "; 1 identities; identity verified before the start",
		"status | cli:alice | received",
		"notice | engine | receipt notice to subject",
		"status | engine | discovery",
		"discovered | engine | billing: found 0 in rows",
		"status | engine | fulfilling",
		"consent recorded | engine | newsletter: withdrawn via e-mail (wording objection)",
		"suppressed | engine | the subject's identities (keyed hashes) added to the suppression list for marketing",
		"purposes withdrawn | engine | billing: updated (newsletter) 0 in consent",
		"status | engine | answering",
		"notice | engine | answer notice to subject",
		"status | engine | completed",
		"closed | engine | workflow completed: completed",
	})
}

// checkEvidence compares every line, and the order of all but the
// unordered ones: a change compliance sends while the workflow is busy
// lands in the history wherever it arrived.
func checkEvidence(t *testing.T, got, want []string, unordered ...string) {
	t.Helper()
	sorted := func(l []string) string { l = slices.Clone(l); slices.Sort(l); return strings.Join(l, "\n") }
	ordered := func(l []string) []string {
		return slices.DeleteFunc(slices.Clone(l), func(x string) bool { return slices.Contains(unordered, x) })
	}
	if sorted(got) != sorted(want) || !slices.Equal(ordered(got), ordered(want)) {
		t.Fatalf("evidence lines:\n%s\n\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
