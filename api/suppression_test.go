//go:build !race

// An end-to-end test on the real Temporal server: outside the race run,
// as api_test.go explains.

package api_test

import (
	"context"
	"strings"
	"testing"

	"github.com/dsrengine/dsr/store"
)

// TestSuppressionCheck: a pipeline's token asks about an erased e-mail
// (however it is written) and about another, and hears only yes or no; it
// can do nothing else, and no other token but an admin's may ask. Every
// check is audited by token and answer, never with the identity.
func TestSuppressionCheck(t *testing.T) {
	ctx := context.Background()
	st, e, token := startAPI(t, nil)
	if err := st.Suppress(ctx, "email", e.Keys.Hash("email", "kim@example.com"), "erased", "REQ-9"); err != nil {
		t.Fatal(err)
	}
	crm := token("crm-sync", store.RoleSuppression, "")
	crm.expect("GET", "/api/v1/suppression?email=Kim@Example.com", nil, 200, `"suppressed": true`)
	out := crm.expect("GET", "/api/v1/suppression?email=lee@example.com", nil, 200, `"suppressed": false`)
	if strings.Contains(out, "REQ-9") || strings.Contains(out, "erased") {
		t.Fatalf("the answer says more than yes or no: %s", out)
	}
	crm.expect("GET", "/api/v1/suppression", nil, 400, "give exactly one of email=, phone= or customer_id=")
	crm.expect("GET", "/api/v1/suppression?email=a@example.com&phone=%2B442079460018", nil, 400, "give exactly one")
	crm.expect("GET", "/api/v1/suppression?email=not-an-address", nil, 400, "email")
	// Nothing else is the pipeline's.
	crm.expect("GET", "/api/v1/requests", nil, 403, "")
	crm.expect("POST", "/api/v1/requests", map[string]any{"type": "access", "regulation": "gdpr"}, 403, "")
	crm.expect("GET", "/api/v1/inbox", nil, 403, "")
	// Nor is the list anyone else's but an admin's.
	token("compliance", store.RoleRequester, "").expect("GET", "/api/v1/suppression?email=kim@example.com", nil, 403, "")
	token("auditor", store.RoleAuditor, "").expect("GET", "/api/v1/suppression?email=kim@example.com", nil, 403, "")
	token("admin", store.RoleAdmin, "").expect("GET", "/api/v1/suppression?email=kim@example.com", nil, 200, `"suppressed": true`)

	log, err := st.AuditLog(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	var checks []string
	for _, a := range log {
		if a.Action == "suppression.checked" {
			checks = append(checks, a.Actor+" "+a.DetailRaw)
		}
		if strings.Contains(a.DetailRaw, "kim") || strings.Contains(a.DetailRaw, "lee@") || strings.Contains(a.DetailRaw, e.Keys.Hash("email", "kim@example.com")) {
			t.Fatalf("the audit log holds the identity: %s", a.DetailRaw)
		}
	}
	want := []string{`api:crm-sync {"kind":"email","suppressed":true}`, `api:crm-sync {"kind":"email","suppressed":false}`, `api:admin {"kind":"email","suppressed":true}`}
	if strings.Join(checks, "\n") != strings.Join(want, "\n") {
		t.Fatalf("audited checks:\n%s\nwant:\n%s", strings.Join(checks, "\n"), strings.Join(want, "\n"))
	}
}
