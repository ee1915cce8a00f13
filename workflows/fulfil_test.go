package workflows_test

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/dsrengine/dsr/activities"
	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/internal/testenv"
	"github.com/dsrengine/dsr/keyring"
	"github.com/dsrengine/dsr/workflows"
)

func TestErasureSkipsExemptionsVerifiesAndSuppresses(t *testing.T) {
	e, st, _, sys := envWithSystems(t)
	update(e, day, workflows.UpdateDecide, approve("Sales", "sales.lead@acme.example"))
	update(e, day, workflows.UpdateDecide, object("Finance", "cfo@acme.example", "tax law keeps invoices for 10 years"))
	e.ExecuteWorkflow(workflows.Request, erasure("REQ-ER"))
	res := result(t, e)
	if sys.crm.erasures != 1 || sys.billing.erasures != 0 || sys.analytics.erasures != 0 {
		t.Fatalf("erasures: crm %d billing %d analytics %d", sys.crm.erasures, sys.billing.erasures, sys.analytics.erasures)
	}
	if sys.crm.rows != 0 || sys.billing.rows != 2 {
		t.Fatalf("rows left: crm %d billing %d", sys.crm.rows, sys.billing.rows)
	}
	for _, p := range res.Systems {
		switch p.System {
		case "crm":
			if !p.Verified || p.Done != "deleted 3 in main" {
				t.Fatalf("crm progress: %+v", p)
			}
		case "billing":
			if p.Verified || !p.Exempt {
				t.Fatalf("billing progress: %+v", p)
			}
		}
	}
	k, _ := keyring.New(keysFor())
	if ok, err := st.Suppressed(context.Background(), "email", k.Hash("email", "jane@example.com")); !ok || err != nil {
		t.Fatalf("subject not suppressed: %v %v", ok, err)
	}
}

func TestErasureThatLeavesDataNeedsAttention(t *testing.T) {
	e, _, sent, sys := envWithSystems(t)
	sys.crm.stuck = true
	update(e, day, workflows.UpdateDecide, approve("Sales", "sales.lead@acme.example"))
	update(e, day, workflows.UpdateDecide, approve("Finance", "cfo@acme.example"))
	e.RegisterDelayedCallback(sys.crm.fix, 2*day)
	update(e, 3*day, workflows.UpdateRetry, workflows.Retry{Actor: "ops:bob"})
	e.ExecuteWorkflow(workflows.Request, erasure("REQ-STUCK"))
	res := result(t, e)
	if res.Status != domain.StatusCompleted || sys.crm.rows != 0 || sys.crm.erasures != 2 || sys.billing.erasures != 1 {
		t.Fatalf("status %s, crm rows %d erasures %d, billing erasures %d", res.Status, sys.crm.rows, sys.crm.erasures, sys.billing.erasures)
	}
	var notes []string
	for _, c := range res.Timeline {
		if c.Status == domain.StatusNeedsAttention {
			notes = append(notes, c.Note)
		}
	}
	if len(notes) != 1 || !strings.Contains(notes[0], "crm: verification found 3 records left after erasure") {
		t.Fatalf("needs-attention notes: %v", notes)
	}
	if got := strings.Join(sent.kinds(), " "); !strings.Contains(got, "Sales:needs-attention") {
		t.Fatalf("notices: %s", got)
	}
}

func TestAccessPackageOpensTheLid(t *testing.T) {
	e, st, _, _ := envWithSystems(t)
	update(e, day, workflows.UpdateDecide, approve("Sales", "sales.lead@acme.example"))
	e.ExecuteWorkflow(workflows.Request, input("REQ-PKG"))
	res := result(t, e)
	files := testenv.Unzip(t, res.Package, st, testKeys)
	if files["systems/crm.json"] != `{"rows":3}` || files["systems/billing.json"] != `{"rows":2}` {
		t.Fatalf("package files: %v", files)
	}
	if _, ok := files["systems/analytics.json"]; ok {
		t.Fatal("a system holding nothing was exported")
	}
	var manifest struct {
		Systems []struct {
			System     string   `json:"system"`
			Records    int64    `json:"records"`
			Purposes   []string `json:"purposes"`
			LegalBasis string   `json:"legal_basis"`
			Recipients []string `json:"recipients"`
			Sold       bool     `json:"sold_or_shared"`
			Retention  string   `json:"retention"`
			File       string   `json:"file"`
		} `json:"systems"`
	}
	if err := json.Unmarshal([]byte(files["manifest.json"]), &manifest); err != nil {
		t.Fatal(err)
	}
	if len(manifest.Systems) != 2 || manifest.Systems[1].System != "crm" || manifest.Systems[1].LegalBasis != "contract (GDPR Art. 6(1)(b))" ||
		len(manifest.Systems[1].Recipients) != 1 || !manifest.Systems[1].Sold || manifest.Systems[1].Retention != "6 years after the last order" {
		t.Fatalf("manifest: %+v", manifest)
	}
	arts, err := st.Artifacts(context.Background(), "REQ-PKG")
	if err != nil || len(arts) != 3 {
		t.Fatalf("artifacts: %+v, %v", arts, err)
	}
}

// exportsOf reads a system's export count from within the test
// environment's callbacks.
func exportsOf(c *tableConnector) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.exports
}

// TestAccessExportsAtDiscoveryWhereNothingWaits: billing needs no sign-off
// for access, so it is exported in its discovery step, before Sales has
// decided on crm; crm is exported once Sales approves; each system once,
// analytics (holding nothing) never. With a system that can name further
// identities, nothing is exported before they are confirmed.
func TestAccessExportsAtDiscoveryWhereNothingWaits(t *testing.T) {
	t.Run("no links", func(t *testing.T) {
		e, st, _, sys := envWithSystems(t)
		var before [2]int
		e.RegisterDelayedCallback(func() { before = [2]int{exportsOf(sys.billing), exportsOf(sys.crm)} }, day/2)
		update(e, day, workflows.UpdateDecide, approve("Sales", "sales.lead@acme.example"))
		e.ExecuteWorkflow(workflows.Request, input("REQ-GATHER"))
		res := result(t, e)
		if before != [2]int{1, 0} {
			t.Fatalf("before the sign-off: billing exported %d times, crm %d; want 1 and 0", before[0], before[1])
		}
		if exportsOf(sys.billing) != 1 || exportsOf(sys.crm) != 1 || exportsOf(sys.analytics) != 0 {
			t.Fatalf("exports: billing %d crm %d analytics %d", exportsOf(sys.billing), exportsOf(sys.crm), exportsOf(sys.analytics))
		}
		files := testenv.Unzip(t, res.Package, st, testKeys)
		if files["systems/crm.json"] != `{"rows":3}` || files["systems/billing.json"] != `{"rows":2}` {
			t.Fatalf("package files: %v", files)
		}
		for _, p := range res.Systems {
			if want := map[string]string{"crm": "exported 3 records", "billing": "exported 2 records", "analytics": ""}[p.System]; p.Done != want {
				t.Fatalf("%s: done %q, want %q", p.System, p.Done, want)
			}
		}
	})
	t.Run("retried", func(t *testing.T) {
		// billing's step fails until fixed; the operator's retry discovers
		// and exports it again, once.
		e, st, _, sys := envWithSystems(t)
		sys.billing.failing = errors.New("connection refused")
		e.RegisterDelayedCallback(sys.billing.fix, 2*day)
		update(e, 3*day, workflows.UpdateRetry, workflows.Retry{Actor: "ops:bob"})
		update(e, 4*day, workflows.UpdateDecide, approve("Sales", "sales.lead@acme.example"))
		e.ExecuteWorkflow(workflows.Request, input("REQ-GATHER-RETRY"))
		res := result(t, e)
		if res.Status != domain.StatusCompleted || exportsOf(sys.billing) != 1 || exportsOf(sys.crm) != 1 {
			t.Fatalf("status %s; exports: billing %d crm %d", res.Status, exportsOf(sys.billing), exportsOf(sys.crm))
		}
		if files := testenv.Unzip(t, res.Package, st, testKeys); files["systems/billing.json"] != `{"rows":2}` {
			t.Fatalf("package files: %v", files)
		}
		attention := false
		for _, c := range res.Timeline {
			attention = attention || c.Status == domain.StatusNeedsAttention && strings.Contains(c.Note, "billing")
		}
		if !attention {
			t.Fatalf("billing's failure never needed attention: %+v", res.Timeline)
		}
	})
	t.Run("links", func(t *testing.T) {
		shop := &linker{tableConnector: tableConnector{rows: 1}, next: func([]domain.Identity) ([]domain.Identity, error) { return nil, nil }}
		e, _, _, sys := envWithSystems(t, activities.System{SystemRef: activities.SystemRef{Name: "shop", Department: "Sales"}, Connector: shop})
		var before int
		e.RegisterDelayedCallback(func() { before = exportsOf(sys.billing) }, day/2)
		update(e, day, workflows.UpdateDecide, approve("Sales", "sales.lead@acme.example"))
		e.ExecuteWorkflow(workflows.Request, input("REQ-LINKS"))
		result(t, e)
		if before != 0 || exportsOf(sys.billing) != 1 {
			t.Fatalf("billing exported %d times before the sign-off, %d in all; want 0 and 1", before, exportsOf(sys.billing))
		}
	})
}
