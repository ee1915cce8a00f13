package workflows_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

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
	files := testenv.Unzip(t, res.Package)
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
