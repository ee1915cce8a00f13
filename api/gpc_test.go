//go:build !race

// An end-to-end test on the real Temporal server: outside the race run,
// as api_test.go explains.

package api_test

import (
	"context"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/dsrengine/dsr/store"
)

// TestGPCVisitors: a browser's Global Privacy Control signal is recorded
// against the site's visitor identifier, sent by the browser itself or
// relayed by the site's server under a pipeline's token; the site then
// asks whether a visitor opted out and hears yes or no. A request without
// Sec-GPC: 1, a hostile identifier, or a token of another role records
// or reads nothing, and no identifier reaches the store or the audit log.
func TestGPCVisitors(t *testing.T) {
	ctx := context.Background()
	st, e, token := startAPI(t, nil)
	post := func(path, auth, gpc, body string) (int, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", e.Gateway+path, strings.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		if auth != "" {
			req.Header.Set("Authorization", "Bearer "+auth)
		}
		if gpc != "" {
			req.Header.Set("Sec-GPC", gpc)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	for _, tt := range []struct {
		name, path, auth, gpc, body string
		code                        int
		want                        string
	}{
		{"the browser", "/api/v1/public/gpc", "", "1", `{"visitor": "v1.abcdef12"}`, 201, `"opted_out": true`},
		{"the same again", "/api/v1/public/gpc", "", "1", `{"visitor": "v1.abcdef12"}`, 201, `"opted_out": true`},
		{"no signal", "/api/v1/public/gpc", "", "", `{"visitor": "v1.nosignal"}`, 422, "no Global Privacy Control signal"},
		{"signal off", "/api/v1/public/gpc", "", "0", `{"visitor": "v1.nosignal"}`, 422, "no Global Privacy Control signal"},
		{"hostile identifier", "/api/v1/public/gpc", "", "1", `{"visitor": "x' OR 1=1 --"}`, 400, "visitor: must be the site's visitor identifier"},
	} {
		if code, body := post(tt.path, tt.auth, tt.gpc, tt.body); code != tt.code || !strings.Contains(body, tt.want) {
			t.Errorf("%s: %d %s, want %d %q", tt.name, code, body, tt.code, tt.want)
		}
	}
	site := token("website", store.RoleSuppression, "")
	siteSecret := site.token
	if code, body := post("/api/v1/gpc/visitors", siteSecret, "1", `{"visitor": "v1.relayed99"}`); code != 201 {
		t.Fatalf("relayed: %d %s", code, body)
	}
	compliance := token("compliance", store.RoleRequester, "")
	if code, _ := post("/api/v1/gpc/visitors", compliance.token, "1", `{"visitor": "v1.other999"}`); code != 403 {
		t.Fatalf("a requester's token relays: %d", code)
	}
	site.expect("GET", "/api/v1/gpc/visitors/v1.abcdef12", nil, 200, `"opted_out": true`)
	site.expect("GET", "/api/v1/gpc/visitors/v1.relayed99", nil, 200, `"opted_out": true`)
	site.expect("GET", "/api/v1/gpc/visitors/v1.nosignal", nil, 200, `"opted_out": false`)
	site.expect("GET", "/api/v1/gpc/visitors/v1.other999", nil, 200, `"opted_out": false`)
	compliance.expect("GET", "/api/v1/gpc/visitors/v1.abcdef12", nil, 403, "")

	log, err := st.AuditLog(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	recorded, checked := 0, 0
	for _, a := range log {
		switch a.Action {
		case "gpc.recorded":
			recorded++
		case "gpc.checked":
			checked++
		}
		if strings.Contains(a.DetailRaw, "v1.") {
			t.Fatalf("the audit log holds a visitor identifier: %s", a.DetailRaw)
		}
	}
	if recorded != 2 || checked != 4 {
		t.Fatalf("audited %d recordings (want 2, the first of each visitor) and %d checks (want 4)", recorded, checked)
	}
}
