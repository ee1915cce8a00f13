package workflows_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/workflows"
)

func consentRequest(id string, t domain.RequestType, double bool) workflows.RequestInput {
	in := input(id)
	in.Type = t
	in.Consent = &domain.ConsentChange{Purpose: "newsletter", Channel: "web form", WordingVersion: "newsletter-v3", DoubleOptIn: double}
	return in
}

func TestDoubleOptInConfirmedPropagates(t *testing.T) {
	e, st, sent, sys := envWithSystems(t)
	c := update(e, 2*time.Hour, workflows.UpdateConfirmConsent, workflows.Confirmation{Channel: "e-mail link"})
	e.ExecuteWorkflow(workflows.Request, consentRequest("OPT-1", domain.OptIn, true))
	res := result(t, e)
	if c.rejected != nil || c.err != nil || res.Consent != "granted" || res.Status != domain.StatusCompleted {
		t.Fatalf("confirm %+v, result %+v", c, res)
	}
	if !sys.crm.consent["newsletter"] || sys.billing.consent != nil {
		t.Fatalf("propagation: crm %v billing %v", sys.crm.consent, sys.billing.consent)
	}
	if got := strings.Join(sent.kinds(), " "); !strings.Contains(got, "subject:consent-confirmation") {
		t.Fatalf("notices: %s", got)
	}
	r, _ := st.GetRequest(context.Background(), "OPT-1")
	hist, _ := st.ConsentHistory(context.Background(), r.SubjectID)
	var states []string
	for _, h := range hist {
		states = append(states, h.State+"/"+h.Channel+"/"+h.WordingVersion)
	}
	if strings.Join(states, " ") != "pending/web form/newsletter-v3 granted/e-mail link/newsletter-v3" {
		t.Fatalf("ledger: %v", states)
	}
}

func TestDoubleOptInExpires(t *testing.T) {
	e, st, sent, sys := envWithSystems(t)
	late := update(e, 8*day, workflows.UpdateConfirmConsent, workflows.Confirmation{Channel: "e-mail link"})
	e.ExecuteWorkflow(workflows.Request, consentRequest("OPT-2", domain.OptIn, true))
	res := result(t, e)
	if res.Consent != "expired" || sys.crm.consent != nil {
		t.Fatalf("result %+v, crm consent %v", res, sys.crm.consent)
	}
	if late.done && late.rejected == nil {
		t.Fatalf("a confirmation after expiry was accepted: %+v", late)
	}
	if !strings.Contains(sent.last("answer"), "not confirmed in time") {
		t.Fatalf("answer: %q", sent.last("answer"))
	}
	r, _ := st.GetRequest(context.Background(), "OPT-2")
	cur, err := st.CurrentConsent(context.Background(), r.SubjectID, "newsletter")
	if err != nil || cur.State != "expired" {
		t.Fatalf("current consent: %+v, %v", cur, err)
	}
}

func TestWithdrawalIsAsEasyAsGiving(t *testing.T) {
	e, st, _, sys := envWithSystems(t)
	sys.crm.consent = map[string]bool{"newsletter": true}
	e.ExecuteWorkflow(workflows.Request, consentRequest("WD-1", domain.Withdrawal, false))
	res := result(t, e)
	if res.Consent != "withdrawn" || sys.crm.consent["newsletter"] {
		t.Fatalf("result %+v, crm consent %v", res, sys.crm.consent)
	}
	r, _ := st.GetRequest(context.Background(), "WD-1")
	cur, err := st.CurrentConsent(context.Background(), r.SubjectID, "newsletter")
	if err != nil || cur.State != "withdrawn" || cur.Channel != "web form" {
		t.Fatalf("current consent: %+v, %v", cur, err)
	}
}

func TestConsentInputIsChecked(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(*workflows.RequestInput)
		want   string
	}{
		{"opt-in without consent", func(in *workflows.RequestInput) { in.Consent = nil }, "consent: an opt-in or withdrawal names the purpose"},
		{"bad purpose", func(in *workflows.RequestInput) { in.Consent.Purpose = "News Letter" }, "consent.purpose"},
		{"no channel", func(in *workflows.RequestInput) { in.Consent.Channel = "" }, "consent.channel"},
		{"no wording", func(in *workflows.RequestInput) { in.Consent.WordingVersion = "" }, "consent.wording_version"},
		{"double opt-in withdrawal", func(in *workflows.RequestInput) { in.Type = domain.Withdrawal }, "consent.double_opt_in"},
		{"consent on access", func(in *workflows.RequestInput) { in.Type = domain.Access }, "only opt-in and withdrawal"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := consentRequest("C-1", domain.OptIn, true)
			tt.mutate(&in)
			if err := in.Validate(); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
		})
	}
}
