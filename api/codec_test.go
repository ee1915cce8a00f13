package api_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/dsrengine/dsr/api"
	"github.com/dsrengine/dsr/gateway"
	"github.com/dsrengine/dsr/internal/testenv"
	"github.com/dsrengine/dsr/keyring"
	"github.com/dsrengine/dsr/store"
)

// TestCodecEndpoint is what the Web UI and the CLI call to show an auditor
// decrypted payloads: only auditors and admins get them, each call is
// audited with who asked and whose request it was, and the Web UI's login
// cookie works across its origin as the UI sends it.
func TestCodecEndpoint(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "dsr.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	keys, err := keyring.New(testenv.TestKey)
	if err != nil {
		t.Fatal(err)
	}
	ui := "http://127.0.0.1:8233"
	srv := httptest.NewServer(gateway.Handler(gateway.Options{
		Codec: (&api.Server{Store: st}).Codec(keys.DisplayCodec()), CodecOrigins: []string{ui}}))
	defer srv.Close()
	token := func(name, role string) string {
		_, secret, err := st.CreateToken(ctx, store.NewToken{Name: name, Role: role})
		if err != nil {
			t.Fatal(err)
		}
		return secret
	}
	auditor, admin, requester := token("auditor-ann", store.RoleAuditor), token("admin-al", store.RoleAdmin), token("bot", store.RoleRequester)

	// Payloads as the worker writes them for request REQ-7's workflow.
	p, _ := converter.GetDefaultDataConverter().ToPayload(map[string]string{"email": "jane@example.com"})
	enc, err := keys.Codec().WithSerializationContext(converter.WorkflowSerializationContext{WorkflowID: "dsr-REQ-7"}).Encode([]*commonpb.Payload{p})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := protojson.Marshal(&commonpb.Payloads{Payloads: enc})
	call := func(path string, body []byte, set func(*http.Request)) (*http.Response, string) {
		t.Helper()
		req, _ := http.NewRequest("POST", srv.URL+path, bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Origin", ui)
		if set != nil {
			set(req)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	bearer := func(secret string) func(*http.Request) {
		return func(r *http.Request) { r.Header.Set("Authorization", "Bearer "+secret) }
	}
	old, expired, err := st.CreateToken(ctx, store.NewToken{Name: "old", Role: store.RoleAuditor, TTL: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(old.ExpiresAt))
	for _, tt := range []struct {
		name, path string
		set        func(*http.Request)
		code       int
		want       string
	}{
		{"no token", "/codec/decode", nil, 401, "log in at /codec/login"},
		{"forged token", "/codec/decode", bearer("dsr_forged"), 401, "unknown or revoked"},
		{"expired token", "/codec/decode", bearer(expired), 401, "expired"},
		{"requester", "/codec/decode", bearer(requester), 403, "a requester token may not decode"},
		{"auditor encodes", "/codec/encode", bearer(auditor), 403, "an auditor token may not encode"},
		{"auditor decodes", "/codec/decode", bearer(auditor), 200, "binary/null"},
	} {
		resp, got := call(tt.path, body, tt.set)
		if tt.code == 200 {
			// The decoded payload is the plain JSON, base64 in the reply.
			var out commonpb.Payloads
			if err := protojson.Unmarshal([]byte(got), &out); err != nil {
				if err := json.Unmarshal([]byte(got), &out); err != nil {
					t.Fatalf("%s: %v\n%s", tt.name, err, got)
				}
			}
			var m map[string]string
			if err := converter.GetDefaultDataConverter().FromPayload(out.Payloads[0], &m); err != nil || m["email"] != "jane@example.com" {
				t.Fatalf("%s: decoded %v, %v", tt.name, m, err)
			}
			if resp.Header.Get("Access-Control-Allow-Origin") != ui || resp.Header.Get("Access-Control-Allow-Credentials") != "true" {
				t.Fatalf("%s: CORS headers %v", tt.name, resp.Header)
			}
			continue
		}
		if resp.StatusCode != tt.code || !strings.Contains(got, tt.want) || strings.Contains(got, "jane") {
			t.Errorf("%s: %d %s, want %d with %q", tt.name, resp.StatusCode, got, tt.code, tt.want)
		}
	}
	if resp, got := call("/codec/encode", body, bearer(admin)); resp.StatusCode != 200 {
		t.Fatalf("admin encodes: %d %s", resp.StatusCode, got)
	}

	// The Web UI: log in once, then the cookie goes with every decode.
	form := func(secret string) (*http.Response, string) {
		resp, err := http.PostForm(srv.URL+"/codec/login", url.Values{"token": {secret}})
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp, string(b)
	}
	if resp, got := form(requester); resp.StatusCode != 401 || !strings.Contains(got, "only an auditor") || len(resp.Cookies()) != 0 {
		t.Fatalf("login with a requester token: %d %s", resp.StatusCode, got)
	}
	resp, got := form(auditor)
	if resp.StatusCode != 200 || len(resp.Cookies()) != 1 || !strings.Contains(got, "auditor-ann") {
		t.Fatalf("login: %d %v %s", resp.StatusCode, resp.Cookies(), got)
	}
	cookie := resp.Cookies()[0]
	if !cookie.HttpOnly || cookie.SameSite != http.SameSiteStrictMode || cookie.Path != "/codec/" {
		t.Fatalf("cookie %+v", cookie)
	}
	if resp, got := call("/codec/decode", body, func(r *http.Request) { r.AddCookie(cookie) }); resp.StatusCode != 200 || !strings.Contains(got, "payloads") {
		t.Fatalf("decode with the login cookie: %d %s", resp.StatusCode, got)
	}

	// A payload relabelled as another request's does not decrypt.
	enc[0].Metadata[keyring.MetadataWorkflow] = []byte("dsr-REQ-8")
	relabelled, _ := protojson.Marshal(&commonpb.Payloads{Payloads: enc})
	if resp, got := call("/codec/decode", relabelled, bearer(auditor)); resp.StatusCode == 200 || strings.Contains(got, "jane") {
		t.Fatalf("relabelled payload: %d %s", resp.StatusCode, got)
	}

	// Every decode is on record, with the reader and the request.
	log, err := st.AuditLog(ctx, "REQ-7")
	if err != nil {
		t.Fatal(err)
	}
	var reads []string
	for _, e := range log {
		reads = append(reads, e.Actor+" "+e.Action)
	}
	if got := strings.Join(reads, ", "); got != "api:auditor-ann codec decode, api:admin-al codec encode, api:auditor-ann codec decode" {
		t.Fatalf("audit of REQ-7: %s", got)
	}
	// The refused and relabelled calls: the relabelled one is on record
	// under the label it claimed, since it was audited before decoding.
	if log, _ := st.AuditLog(ctx, "REQ-8"); len(log) != 1 || log[0].Actor != "api:auditor-ann" {
		t.Fatalf("audit of the relabelled call: %+v", log)
	}
}
