package workflows_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/dsrengine/dsr/activities"
	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/workflows"
)

func optOut(id string, t domain.RequestType) workflows.RequestInput {
	in := input(id)
	in.Type, in.Regulation = t, domain.CCPA
	in.DueAt = domain.DueFor(t, domain.CCPA, in.ReceivedAt)
	in.Scope = &domain.Scope{Channel: "web form"}
	return in
}

// A limit of sensitive data withdraws the sensitive purposes, where they
// are used, and nothing else.
func TestLimitReachesOnlySensitivePurposes(t *testing.T) {
	health := &tableConnector{rows: 1, consent: map[string]bool{"health-offers": true, "support": true}}
	e, st, _, sys := envWithSystems(t, activities.System{SystemRef: activities.SystemRef{Name: "health", Department: "Analytics",
		Purposes: []string{"health-offers", "support"}, PurposeKinds: map[string][]string{"health-offers": {"sensitive"}}}, Connector: health})
	e.ExecuteWorkflow(workflows.Request, optOut("LIM-1", domain.LimitSensitive))
	res := result(t, e)
	if res.Status != domain.StatusCompleted || len(res.SignOffs) != 0 {
		t.Fatalf("result: %+v", res)
	}
	if health.consent["health-offers"] || !health.consent["support"] || sys.crm.consent != nil {
		t.Fatalf("health %v, crm %v", health.consent, sys.crm.consent)
	}
	r, _ := st.GetRequest(context.Background(), "LIM-1")
	if c, err := st.CurrentConsent(context.Background(), r.SubjectID, "health-offers"); err != nil || c.State != "withdrawn" || c.WordingVersion != "limit_sensitive" {
		t.Fatalf("ledger: %+v, %v", c, err)
	}
}

// With no purpose of the kinds in the map, the opt-out still goes into
// the ledger, under the kinds themselves.
func TestOptOutWithNothingSoldIsRecorded(t *testing.T) {
	e, st, sent, _ := envWithSystems(t)
	e.ExecuteWorkflow(workflows.Request, optOut("OUT-0", domain.OptOut))
	res := result(t, e)
	if res.Status != domain.StatusCompleted || !strings.Contains(sent.last("answer"), "You are opted out of the sale and sharing") {
		t.Fatalf("result %+v, answer %q", res, sent.last("answer"))
	}
	r, _ := st.GetRequest(context.Background(), "OUT-0")
	for _, kind := range []string{"sale", "sharing"} {
		if c, err := st.CurrentConsent(context.Background(), r.SubjectID, kind); err != nil || c.State != "withdrawn" {
			t.Fatalf("ledger %s: %+v, %v", kind, c, err)
		}
	}
}

// An opt-out stuck in a failing system is due 15 business days after
// receipt (Presidents' Day skipped), escalates from then, and may not be
// extended.
func TestOptOutDeadlineInBusinessDays(t *testing.T) {
	broken := &tableConnector{rows: 1, failing: context.DeadlineExceeded}
	e, _, _, _ := envWithSystems(t, activities.System{SystemRef: activities.SystemRef{Name: "ads", Department: "Analytics", SoldOrShared: true,
		Purposes: []string{"ads"}, PurposeKinds: map[string][]string{"ads": {"sharing"}}}, Connector: broken})
	extend := update(e, 2*day, workflows.UpdateExtend, workflows.ExtensionRequest{Actor: "cli:alice", By: domain.Period{Days: 10}, Reason: "ads system down"})
	cancel := update(e, 24*day, workflows.UpdateCancel, workflows.Closure{Actor: "cli:alice", Reason: "test over"})
	in := optOut("OUT-LATE", domain.OptOut)
	e.ExecuteWorkflow(workflows.Request, in)
	res := result(t, e)
	if !cancel.done || cancel.err != nil {
		t.Fatalf("cancel: %+v", cancel)
	}
	if extend.rejected == nil || !strings.Contains(extend.rejected.Error(), "does not allow extending the deadline of opt_out (15 business days)") {
		t.Fatalf("extension: %+v", extend)
	}
	// Received Saturday 31 January 2026; 16 February is Washington's Birthday.
	if got := res.DueAt.Format("2006-01-02 15:04"); got != "2026-02-23 23:59" {
		t.Fatalf("due %s", got)
	}
	alerts := alertsOf(res)
	first := slices.IndexFunc(alerts, func(a string) bool { return strings.HasPrefix(a, "escalation@") })
	if first < 0 || alerts[first] != "escalation@02-23 23:59" {
		t.Fatalf("alerts: %v", alerts)
	}
}
