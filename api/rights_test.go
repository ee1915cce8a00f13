//go:build !race

package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"

	"github.com/dsrengine/dsr/activities"
	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/internal/testengine"
	"github.com/dsrengine/dsr/records"
	"github.com/dsrengine/dsr/store"
)

// formsSent counts the forms sent, so that each browser (a loopback
// source address of its own) stays within the form's limit of five a
// minute per address.
var formsSent int

// postForm sends the privacy center's form, with the Global Privacy
// Control header when gpc is not empty.
func postForm(t *testing.T, base string, body map[string]any, gpc string) (int, map[string]any, string) {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest("POST", base+"/api/v1/public/requests", bytes.NewReader(b))
	req.Header.Set("Content-Type", "application/json")
	if gpc != "" {
		req.Header.Set("Sec-GPC", gpc)
	}
	formsSent++
	src := &net.TCPAddr{IP: net.IPv4(127, 0, 0, byte(10+formsSent/5))}
	browser := &http.Client{Transport: &http.Transport{DialContext: (&net.Dialer{LocalAddr: src}).DialContext}}
	defer browser.CloseIdleConnections()
	resp, err := browser.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	json.Unmarshal(raw, &out)
	return resp.StatusCode, out, string(raw)
}

// TestRightsThroughTheAPI: the privacy center's form with Sec-GPC: 1
// starts an opt-out besides the request, which reaches the system that
// shares data without any verification; an opt-out asked on the form
// needs no code; the API takes a rectification and names a bad value's
// field without repeating it.
func TestRightsThroughTheAPI(t *testing.T) {
	ctx := context.Background()
	ads := &testengine.Table{Rows: 1, Consent: map[string]bool{"ad-audiences": true}}
	st, e, token := startAPI(t, []records.Department{{Name: "Marketing", Approvers: []string{"m@acme.example"}}},
		activities.System{SystemRef: activities.SystemRef{Name: "ads", Department: "Marketing", Purposes: []string{"ad-audiences"}, SoldOrShared: true,
			PurposeKinds: map[string][]string{"ad-audiences": {"sharing"}}}, Connector: ads})

	// An access request from a browser that sends GPC.
	code, receipt, raw := postForm(t, e.Gateway, map[string]any{"type": "access", "regulation": "ccpa", "email": "vic@example.com", "declaration": true}, "1")
	optOut, _ := receipt["opt_out"].(string)
	if code != 201 || optOut == "" || optOut == receipt["id"] {
		t.Fatalf("the form with GPC: %d %s", code, raw)
	}
	v := e.WaitFor(t, optOut, domain.StatusCompleted)
	if v.Type != domain.OptOut || ads.Consent["ad-audiences"] {
		t.Fatalf("the GPC opt-out: %+v, ads consent %v", v.RequestState, ads.Consent)
	}
	r, _ := st.GetRequest(ctx, optOut)
	if c, err := st.CurrentConsent(ctx, r.SubjectID, "ad-audiences"); err != nil || c.State != "withdrawn" || c.Channel != "Global Privacy Control" {
		t.Fatalf("the ledger: %+v, %v", c, err)
	}
	// The access request itself still waits for the subject's code.
	if v := e.WaitFor(t, receipt["id"].(string), domain.StatusVerifying); v.Type != domain.Access {
		t.Fatalf("the access request: %+v", v.RequestState)
	}

	// Without the signal, or with it off, nothing else starts.
	for _, gpc := range []string{"", "0"} {
		code, receipt, raw := postForm(t, e.Gateway, map[string]any{"type": "access", "regulation": "ccpa", "email": "wes@example.com", "declaration": true}, gpc)
		if code != 201 || receipt["opt_out"] != nil {
			t.Fatalf("Sec-GPC %q: %d %s", gpc, code, raw)
		}
	}

	// An opt-out asked on the form: no code, no verification.
	ads.Consent["ad-audiences"] = true
	code, receipt, raw = postForm(t, e.Gateway, map[string]any{"type": "opt-out", "regulation": "ccpa", "email": "xia@example.com", "declaration": true}, "")
	if code != 201 || receipt["no_verification"] != true || receipt["code_sent"] == true || receipt["opt_out"] != nil {
		t.Fatalf("the form's opt-out: %d %s", code, raw)
	}
	e.WaitFor(t, receipt["id"].(string), domain.StatusCompleted)
	if ads.Consent["ad-audiences"] {
		t.Fatal("the form's opt-out did not reach the system")
	}
	code, _, raw = postForm(t, e.Gateway, map[string]any{"type": "opt-out", "regulation": "gdpr", "email": "xia@example.com", "declaration": true}, "")
	if code != 400 || !strings.Contains(raw, "is a right under the CCPA") {
		t.Fatalf("an opt-out under the GDPR: %d %s", code, raw)
	}

	// Only an opt-out and a limit skip verification: a correction or an
	// objection from the form waits for the subject's code, whatever the
	// browser says.
	for _, form := range []map[string]any{
		{"type": "rectification", "regulation": "gdpr", "email": "zed@example.com", "declaration": true, "corrections": []map[string]string{{"field": "name", "value": "Zed"}}},
		{"type": "objection", "regulation": "gdpr", "email": "zed@example.com", "declaration": true, "direct_marketing": true},
		{"type": "opt-out", "regulation": "ccpa", "email": "zed@example.com", "declaration": true, "identity_verified": true},
	} {
		code, receipt, raw := postForm(t, e.Gateway, form, "")
		if form["identity_verified"] != nil {
			if code != 400 || !strings.Contains(raw, "identity_verified") {
				t.Fatalf("the form claimed a verification: %d %s", code, raw)
			}
			continue
		}
		if code != 201 || receipt["no_verification"] == true {
			t.Fatalf("%s from the form: %d %s", form["type"], code, raw)
		}
		if v := e.WaitFor(t, receipt["id"].(string), domain.StatusVerifying); v.IdentityVerified {
			t.Fatalf("%s from the form was verified without a code: %+v", form["type"], v.RequestState)
		}
	}

	// A rectification through the API, with its corrections.
	requester := token("compliance-bot", store.RoleRequester, "")
	fix := map[string]any{"id": "FIX-API", "type": "rectification", "regulation": "gdpr", "identity_verified": true,
		"identities": []map[string]string{{"kind": "email", "value": "yan@example.com"}}, "corrections": []map[string]string{{"field": "name", "value": "Yan\u202eX"}}}
	out := requester.expect("POST", "/api/v1/requests", fix, 400, "corrections[0].value: holds a control or invisible formatting character")
	if strings.Contains(out, "Yan") {
		t.Fatalf("the error repeats the value: %s", out)
	}
	fix["corrections"] = []map[string]string{{"field": "name", "value": "Yan Smith", "evidence": "passport"}}
	requester.expect("POST", "/api/v1/requests", fix, 201, `"type": "rectification"`)
	requester.expect("POST", "/api/v1/requests", map[string]any{"type": "restriction", "regulation": "gdpr", "identity_verified": true,
		"identities": []map[string]string{{"kind": "email", "value": "yan@example.com"}}, "scope": map[string]any{"purposes": []string{"ad-audiences"}}},
		400, "scope.grounds: a restriction says why")
}
