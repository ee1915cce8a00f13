package workflows_test

import (
	"bytes"
	"strings"
	"testing"
	"time"

	"go.temporal.io/sdk/testsuite"

	"github.com/dsrengine/dsr/claims"
	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/keyring"
	"github.com/dsrengine/dsr/workflows"
)

// Every change carries a signed claim, and the workflow refuses one whose
// claim is missing, forged, replayed, stale, tampered with, or whose actor
// may not make it. Each case is an attack; the request must record none.
func TestClaimsRefused(t *testing.T) {
	stranger, err := keyring.New(bytes.Repeat([]byte{7}, keyring.MasterKeySize))
	if err != nil {
		t.Fatal(err)
	}
	cfo := claims.Actor{Name: "cfo@acme.example", Role: claims.RoleApprover, Channel: "slack:U1"}
	compliance := claims.Actor{Name: "api:compliance", Role: claims.RoleRequester, Channel: "api:compliance"}
	// with signs as a, then changes what was signed.
	with := func(a claims.Actor, change func(e *testsuite.TestWorkflowEnvironment, c *claims.Claim, name, id *string, arg *any)) signer {
		return func(e *testsuite.TestWorkflowEnvironment, name, id string, arg any) any {
			wf, upd, at := testWorkflowID, id, e.Now()
			var c claims.Claim
			change(e, &c, &wf, &upd, &arg) // before signing: what the claim is made for
			signed, err := claims.Sign(testKeys, a, name, wf, upd, at.Add(c.IssuedAt.Sub(time.Time{})), arg)
			if err != nil {
				panic(err)
			}
			return signed
		}
	}
	unsigned := func(e *testsuite.TestWorkflowEnvironment, name, id string, arg any) any { return arg }
	tampered := func(mutate func(*claims.Claim)) signer {
		return func(e *testsuite.TestWorkflowEnvironment, name, id string, arg any) any {
			signed := signAs(testKeys, &cfo)(e, name, id, arg)
			mutate(signed.(interface{ SignedClaim() *claims.Claim }).SignedClaim())
			return signed
		}
	}
	decision := approve("Finance", "cfo@acme.example")
	tests := []struct {
		name    string
		op      string
		arg     any
		sign    signer
		refused string
	}{
		{"no claim, as a bare Temporal client sends it", workflows.UpdateDecide, decision, unsigned, "carries no signed claim"},
		{"signed with another master key", workflows.UpdateDecide, decision, signAs(stranger, &cfo), "not signed by this engine"},
		{"forged actor on a real claim", workflows.UpdateDecide, decision, tampered(func(c *claims.Claim) { c.Name = "controller@acme.example" }), "not signed by this engine"},
		{"forged role on a real claim", workflows.UpdateCancel, workflows.Closure{Reason: "r"}, tampered(func(c *claims.Claim) { c.Role = claims.RoleAdmin }), "not signed by this engine"},
		{"claim for request X replayed on this one", workflows.UpdateDecide, decision,
			with(cfo, func(_ *testsuite.TestWorkflowEnvironment, _ *claims.Claim, wf, _ *string, _ *any) { *wf = "dsr-OTHER" }), "for another request"},
		{"claim replayed under another Update id", workflows.UpdateDecide, decision,
			with(cfo, func(_ *testsuite.TestWorkflowEnvironment, _ *claims.Claim, _, id *string, _ *any) {
				*id = "earlier-update"
			}), "it is a replay"},
		{"claim for approve sent with object", workflows.UpdateDecide, decision,
			func(e *testsuite.TestWorkflowEnvironment, name, id string, arg any) any {
				signed := signAs(testKeys, &cfo)(e, name, id, arg).(workflows.Decision)
				signed.Decision, signed.LegalBasis = "object", "keep it"
				return signed
			}, "not the one the claim was made for"},
		{"claim made for another operation", workflows.UpdateDecide, decision,
			func(e *testsuite.TestWorkflowEnvironment, name, id string, arg any) any {
				return signAs(testKeys, &cfo)(e, workflows.UpdateCompleteTask, id, arg)
			}, "made for \"complete-task\""},
		{"stale claim", workflows.UpdateDecide, decision,
			with(cfo, func(_ *testsuite.TestWorkflowEnvironment, c *claims.Claim, _, _ *string, _ *any) {
				c.IssuedAt = time.Time{}.Add(-time.Hour)
			}), "more than 5m0s from the request's clock"},
		{"approver cancels", workflows.UpdateCancel, workflows.Closure{Reason: "r"}, signAs(testKeys, &cfo), "approver cfo@acme.example may not"},
		{"compliance decides for a department", workflows.UpdateDecide, decision, signAs(testKeys, &compliance), "requester api:compliance may not"},
		{"approver of another department", workflows.UpdateDecide, approve("Sales", "cfo@acme.example"), signAs(testKeys, &cfo), "\"cfo@acme.example\" is not an approver for Sales"},
		{"change names someone else than its signer", workflows.UpdateDecide, approve("Finance", "controller@acme.example"), signAs(testKeys, &cfo),
			"names \"controller@acme.example\", but it was made by \"cfo@acme.example\""},
		{"controller cancels a request it did not send", workflows.UpdateCancel, workflows.Closure{Reason: "r"},
			signAs(testKeys, &claims.Actor{Name: "opendsr:other", Role: claims.RoleController, Channel: "opendsr"}), "was not sent by opendsr:other"},
		{"auditor extends", workflows.UpdateExtend, workflows.ExtensionRequest{By: domain.Period{Months: 1}, Reason: "r"},
			signAs(testKeys, &claims.Actor{Name: "api:audit", Role: claims.RoleAuditor, Channel: "api:audit"}), "auditor api:audit may not"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			e, st, _, _ := envWithSystems(t)
			probe := updateAs(e, day, tt.op, tt.arg, tt.sign)
			update(e, 35*day, workflows.UpdateCancel, workflows.Closure{Actor: "test", Reason: "end of test"})
			e.ExecuteWorkflow(workflows.Request, erasure("REQ-CLAIM"))
			res := result(t, e)
			if probe.rejected == nil || !strings.Contains(probe.rejected.Error(), tt.refused) {
				t.Fatalf("want refusal %q, got %+v", tt.refused, probe)
			}
			if res.Status != "cancelled" || len(res.SignOffs) != 0 {
				t.Fatalf("the refused change left a trace: %s, sign-offs %+v", res.Status, res.SignOffs)
			}
			for _, c := range res.Timeline {
				if c.Actor != "engine" && c.Actor != "test" && c.Actor != "cli:alice" {
					t.Fatalf("timeline names %q: %+v", c.Actor, c)
				}
			}
			if so, _ := st.SignOffs(t.Context(), "REQ-CLAIM"); len(so) != 0 {
				t.Fatalf("stored sign-offs: %+v", so)
			}
		})
	}
}

// A change from the engine's channels records the signed actor and
// channel, not what the change's fields say.
func TestClaimNamesTheActor(t *testing.T) {
	e, st, _, _ := envWithSystems(t)
	cfo := claims.Actor{Name: "cfo@acme.example", Role: claims.RoleApprover, Channel: "slack:U1"}
	sales := claims.Actor{Name: "sales.lead@acme.example", Role: claims.RoleApprover, Channel: "api:sales"}
	a := updateAs(e, day, workflows.UpdateDecide, workflows.Decision{Department: "Finance", Decision: "approve"}, signAs(testKeys, &cfo))
	b := updateAs(e, day, workflows.UpdateDecide, workflows.Decision{Department: "Sales", Decision: "approve"}, signAs(testKeys, &sales))
	e.ExecuteWorkflow(workflows.Request, erasure("REQ-ACTOR"))
	res := result(t, e)
	if a.rejected != nil || b.rejected != nil || res.Status != "completed" {
		t.Fatalf("decisions %+v %+v, status %s", a, b, res.Status)
	}
	so, _ := st.SignOffs(t.Context(), "REQ-ACTOR")
	if len(so) != 2 || so[0].Actor != "cfo@acme.example via slack:U1" || so[1].Actor != "sales.lead@acme.example via api:sales" {
		t.Fatalf("stored sign-offs: %+v", so)
	}
}
