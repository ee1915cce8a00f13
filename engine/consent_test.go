package engine_test

import (
	"context"
	"strings"
	"testing"

	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/internal/testengine"
	"github.com/dsrengine/dsr/records"
)

// TestOptInAfterErasure: a person erased before opts in again. It is
// allowed, since a person may come back, but the ledger marks it as a new
// consent after erasure and compliance is told, once; another person's
// opt-in is neither marked nor reported.
func TestOptInAfterErasure(t *testing.T) {
	ctx := context.Background()
	st := openPostgres(t)
	e := testengine.StartEngine(t, st)
	// As an erasure leaves it: Kim's address on the suppression list.
	if err := st.Suppress(ctx, "email", e.Keys.Hash("email", "kim@example.com"), "erased", "KIM-ERA"); err != nil {
		t.Fatal(err)
	}
	optIn := func(id, email string) records.ConsentEvent {
		t.Helper()
		in := input(id, email)
		in.Type = domain.OptIn
		in.Consent = &domain.ConsentChange{Purpose: "newsletter", Channel: "web form", WordingVersion: "v2"}
		if res := e.Run(t, in); res.Status != domain.StatusCompleted {
			t.Fatalf("%s: %s", id, res.Status)
		}
		r, err := st.GetRequest(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		c, err := st.CurrentConsent(ctx, r.SubjectID, "newsletter")
		if err != nil || c.State != "granted" {
			t.Fatalf("%s: ledger %+v, %v", id, c, err)
		}
		return c
	}
	if c := optIn("KIM-BACK", "Kim@Example.com"); !c.AfterErasure {
		t.Fatalf("Kim's new opt-in is not marked as after erasure: %+v", c)
	}
	if c := optIn("LEE-OPT", "lee@example.com"); c.AfterErasure {
		t.Fatalf("Lee was never erased: %+v", c)
	}
	inbox, err := st.Inbox(ctx, "compliance", 100)
	if err != nil {
		t.Fatal(err)
	}
	var flagged []string
	for _, n := range inbox {
		if n.Kind == "consent-after-erasure" {
			flagged = append(flagged, n.RequestID)
			if strings.Contains(n.Text, "kim") {
				t.Errorf("the notice names the person: %s", n.Text)
			}
		}
	}
	if strings.Join(flagged, ",") != "KIM-BACK" {
		t.Fatalf("compliance was told about %v; want KIM-BACK once", flagged)
	}
	log, _ := st.AuditLog(ctx, "KIM-BACK")
	marked := false
	for _, a := range log {
		marked = marked || a.Action == "consent.granted" && strings.Contains(a.DetailRaw, `"after_erasure":true`)
	}
	if !marked {
		t.Fatal("the audit log does not mark the consent as after erasure")
	}
}
