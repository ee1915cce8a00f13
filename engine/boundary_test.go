package engine_test

import (
	"context"
	"strings"
	"testing"
	"time"

	enumspb "go.temporal.io/api/enums/v1"
	"go.temporal.io/sdk/client"

	"github.com/dsrengine/dsr/claims"
	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/internal/testengine"
	"github.com/dsrengine/dsr/requests"
	"github.com/dsrengine/dsr/workflows"
)

// Whoever reaches the Temporal namespace, as auditors do with the Web UI
// and the CLI, changes nothing: without the key a change cannot even be
// delivered, and with the key but without a signed claim it is refused.
// Claims made with the key but misused (replayed from another request,
// their role changed) are refused too. The request's history then holds
// no accepted change.
func TestBareTemporalClientChangesNothing(t *testing.T) {
	st := openPostgres(t)
	e := testengine.StartEngine(t, st)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	in := input("RAW-1", "jane.doe@example.com")
	in.IdentityVerified = false
	if _, err := requests.Start(ctx, e.Client, in); err != nil {
		t.Fatal(err)
	}
	e.WaitFor(t, "RAW-1", domain.StatusVerifying)

	// keyed holds the key but does not sign: as a client built from the
	// codec alone, or the Web UI encoding through the codec endpoint.
	keyed := e.Server.NewClientWithOptions(client.Options{DataConverter: e.Keys.DataConverter(), FailureConverter: e.Keys.FailureConverter()})
	changes := []struct {
		name string
		arg  any
	}{
		{workflows.UpdateVerifyIdentity, workflows.Verification{Actor: "cli:alice", Method: "matched account login"}},
		{workflows.UpdateDecide, workflows.Decision{Department: "Finance", Decision: "approve", Approver: "controller@acme.example", Via: "slack"}},
		{workflows.UpdateCompleteTask, workflows.TaskCompletion{System: "paper", Outcome: "done", Note: "n", Approver: "controller@acme.example", Via: "cli"}},
		{workflows.UpdateCancel, workflows.Closure{Actor: "cli:alice", Reason: "r"}},
		{workflows.UpdateDeny, workflows.Closure{Actor: "cli:alice", Reason: "r"}},
		{workflows.UpdateConfirmConsent, workflows.Confirmation{Channel: "e-mail link"}},
		{workflows.UpdateExtend, workflows.ExtensionRequest{Actor: "cli:alice", By: domain.Period{Months: 1}, Reason: "r"}},
	}
	for _, via := range []struct {
		name    string
		c       client.Client
		refusal string
	}{
		// The refusal's reason is encrypted too: the bare client cannot read it.
		{"no key", e.RawClient, "Encoded failure"},
		{"key, no claim", keyed, "carries no signed claim"},
	} {
		for _, ch := range changes {
			h, err := via.c.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: "dsr-RAW-1", UpdateName: ch.name, Args: []any{ch.arg},
				WaitForStage: client.WorkflowUpdateStageCompleted})
			if err == nil {
				err = h.Get(ctx, nil)
			}
			if err == nil || !strings.Contains(err.Error(), via.refusal) {
				t.Errorf("%s: %s: err = %v, want %q", via.name, ch.name, err, via.refusal)
			}
		}
	}
	// Claims made with the engine's key, then misused: one made for another
	// request (RAW-2) and sent to RAW-1, and one whose actor was changed
	// after signing. Both are refused before the validator.
	other := input("RAW-2", "kim@example.com")
	other.IdentityVerified = false
	if _, err := requests.Start(ctx, e.Client, other); err != nil {
		t.Fatal(err)
	}
	alice := claims.Actor{Name: "cli:alice", Role: claims.RoleRequester, Channel: "test"}
	forX, err := claims.Sign(e.Keys, alice, workflows.UpdateCancel, "dsr-RAW-2", "replayed", time.Now(), workflows.Closure{Reason: "r"})
	if err != nil {
		t.Fatal(err)
	}
	forged, err := claims.Sign(e.Keys, alice, workflows.UpdateCancel, "dsr-RAW-1", "forged", time.Now(), workflows.Closure{Reason: "r"})
	if err != nil {
		t.Fatal(err)
	}
	forged.(workflows.Closure).Claim.Role = claims.RoleAdmin
	for _, attack := range []struct {
		id, refusal string
		arg         any
	}{
		{"replayed", "made for another request", forX},
		{"forged", "not signed by this engine", forged},
	} {
		h, err := keyed.UpdateWorkflow(ctx, client.UpdateWorkflowOptions{WorkflowID: "dsr-RAW-1", UpdateID: attack.id, UpdateName: workflows.UpdateCancel,
			Args: []any{attack.arg}, WaitForStage: client.WorkflowUpdateStageCompleted})
		if err == nil {
			err = h.Get(ctx, nil)
		}
		if err == nil || !strings.Contains(err.Error(), attack.refusal) {
			t.Errorf("%s claim: %v, want %q", attack.id, err, attack.refusal)
		}
	}
	// A claim-carrying client whose context names nobody sends nothing.
	if err := requests.Cancel(ctx, e.Client, "RAW-1", workflows.Closure{Reason: "r"}); err == nil || !strings.Contains(err.Error(), claims.ErrNoActor.Error()) {
		t.Errorf("cancel without an actor: %v", err)
	}

	v, err := requests.Show(ctx, e.Client, "RAW-1")
	if err != nil {
		t.Fatal(err)
	}
	if v.Status != domain.StatusVerifying || v.IdentityVerified || len(v.Extensions) != 0 {
		t.Fatalf("the request changed: %+v", v.RequestState)
	}
	it := e.RawClient.GetWorkflowHistory(ctx, "dsr-RAW-1", "", false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		ev, err := it.Next()
		if err != nil {
			t.Fatal(err)
		}
		acc := ev.GetWorkflowExecutionUpdateAcceptedEventAttributes()
		if acc != nil && acc.GetAcceptedRequest().GetInput().GetName() != workflows.UpdateAdmission {
			t.Fatalf("history holds an accepted change: %v", ev)
		}
	}
	// Compliance, through a signing client, still can.
	if err := requests.Cancel(testengine.Compliance(ctx, "cli:alice"), e.Client, "RAW-1", workflows.Closure{Reason: "end of test"}); err != nil {
		t.Fatal(err)
	}
}
