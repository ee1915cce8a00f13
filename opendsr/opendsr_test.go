package opendsr_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/dsrengine/dsr/activities"
	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/internal/testengine"
	"github.com/dsrengine/dsr/internal/testenv"
	"github.com/dsrengine/dsr/opendsr"
	"github.com/dsrengine/dsr/records"
	"github.com/dsrengine/dsr/store"
)

type callback struct {
	body      []byte
	signature string
	domain    string
}

// TestControllerRoundTrip plays an OpenDSR controller: discovery, create,
// status and cancel, on OpenDSR's and OpenGDPR's paths, with every answer
// and every status callback checked against the processor's certificate.
func TestControllerRoundTrip(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	signer, err := opendsr.LoadOrCreateSigner(filepath.Join(dir, "key.pem"), filepath.Join(dir, "cert.pem"), "dsr.test")
	if err != nil {
		t.Fatal(err)
	}
	if again, err := opendsr.LoadOrCreateSigner(filepath.Join(dir, "key.pem"), filepath.Join(dir, "cert.pem"), "dsr.test"); err != nil || !bytes.Equal(again.CertPEM, signer.CertPEM) {
		t.Fatalf("the key was not kept: %v", err)
	}
	st, err := store.Open(ctx, filepath.Join(dir, "dsr.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.SyncDepartments(ctx, []records.Department{{Name: "Finance", Approvers: []string{"cfo@acme.example"}}})
	e := testengine.StartEngineWith(t, st, testengine.Options{OpenDSR: signer, Systems: []activities.System{
		{SystemRef: activities.SystemRef{Name: "billing", Department: "Finance"}, Connector: &testengine.Table{Rows: 1}}}})
	_, token, err := st.CreateToken(ctx, store.NewToken{Name: "acme-controller", Role: store.RoleController})
	if err != nil {
		t.Fatal(err)
	}

	var mu sync.Mutex
	var got []callback
	controller := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		got = append(got, callback{b, r.Header.Get("X-OpenDSR-Signature"), r.Header.Get("X-OpenDSR-Processor-Domain")})
		mu.Unlock()
		w.WriteHeader(http.StatusAccepted)
	}))
	defer controller.Close()

	call := func(method, path, tok string, body any) (*http.Response, []byte) {
		t.Helper()
		var r io.Reader
		if body != nil {
			b, _ := json.Marshal(body)
			r = bytes.NewReader(b)
		}
		return do(t, e, method, path, tok, r)
	}
	resp, body := call("GET", "/opendsr/discovery", "", nil)
	var disc struct {
		Certificate string   `json:"processor_certificate"`
		Types       []string `json:"supported_subject_request_types"`
	}
	json.Unmarshal(body, &disc)
	_, cert := call("GET", strings.TrimPrefix(disc.Certificate, e.Gateway), "", nil)
	if resp.StatusCode != 200 || !bytes.Equal(cert, signer.CertPEM) || opendsr.Verify(cert, body, resp.Header.Get("X-OpenDSR-Signature")) != nil {
		t.Fatalf("discovery: %d %s", resp.StatusCode, body)
	}
	if resp, body := call("GET", "/discovery", "", nil); opendsr.Verify(cert, body, resp.Header.Get("X-OpenGDPR-Signature")) != nil {
		t.Fatal("OpenGDPR discovery is not signed with X-OpenGDPR-Signature")
	}

	newRequest := func(kind string) map[string]any {
		return map[string]any{"subject_request_id": uuid.NewString(), "subject_request_type": kind, "regulation": "gdpr",
			"submitted_time": time.Now().Add(-time.Hour).UTC().Format(time.RFC3339), "api_version": "2.0",
			"subject_identities":   []map[string]string{{"identity_type": "email", "identity_value": "ivy@example.com", "identity_format": "raw"}},
			"status_callback_urls": []string{controller.URL + "/dsr-callbacks"}}
	}
	access := newRequest("access")
	if resp, _ := call("POST", "/opendsr/requests", "", access); resp.StatusCode != 401 {
		t.Fatalf("create without a token: %d", resp.StatusCode)
	}
	for field, bad := range map[string]any{"subject_request_id": "42", "subject_request_type": "rectification", "status_callback_urls": []string{"http://controller.example/cb"},
		"subject_identities": []map[string]string{{"identity_type": "android_advertising_id", "identity_value": "x"}}} {
		b := newRequest("access")
		b[field] = bad
		if resp, body := call("POST", "/opendsr/requests", token, b); resp.StatusCode != 400 || !strings.Contains(string(body), strings.TrimSuffix(field, "s")) {
			t.Errorf("bad %s: %d %s", field, resp.StatusCode, body)
		}
	}
	resp, body = call("POST", "/opendsr/requests", token, access)
	var created struct {
		ID      string `json:"subject_request_id"`
		Encoded string `json:"encoded_request"`
		Due     string `json:"expected_completion_time"`
	}
	json.Unmarshal(body, &created)
	encoded, _ := base64.StdEncoding.DecodeString(created.Encoded)
	if resp.StatusCode != 201 || created.ID != access["subject_request_id"] || !strings.Contains(string(encoded), "ivy@example.com") || created.Due == "" ||
		opendsr.Verify(cert, body, resp.Header.Get("X-OpenDSR-Signature")) != nil {
		t.Fatalf("create: %d %s", resp.StatusCode, body)
	}
	// Access needs no sign-off here: it completes, and the controller is told.
	e.WaitFor(t, opendsr.RequestID("acme-controller", created.ID), domain.StatusCompleted)
	resp, body = call("GET", "/opendsr/requests/"+created.ID, token, nil)
	if !strings.Contains(string(body), `"request_status":"completed"`) || opendsr.Verify(cert, body, resp.Header.Get("X-OpenDSR-Signature")) != nil {
		t.Fatalf("status: %s", body)
	}
	// The answer is there for the controller to fetch, with its own token.
	var done opendsr.Status
	json.Unmarshal(body, &done)
	if done.ResultsURL == nil || !strings.HasSuffix(*done.ResultsURL, "/opendsr/v2/requests/"+created.ID+"/results") {
		t.Fatalf("results_url: %s", body)
	}
	resp, pkg := call("GET", strings.TrimPrefix(*done.ResultsURL, e.Gateway), token, nil)
	if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "application/zip" || !bytes.HasPrefix(pkg, []byte("PK")) {
		t.Fatalf("results: %d %s", resp.StatusCode, resp.Header)
	}

	// An erasure on OpenGDPR's paths waits for Finance; the controller cancels it.
	erasure := newRequest("erasure")
	if resp, body := call("POST", "/opengdpr_requests", token, erasure); resp.StatusCode != 201 || resp.Header.Get("X-OpenGDPR-Signature") == "" {
		t.Fatalf("OpenGDPR create: %d %s", resp.StatusCode, body)
	}
	id := erasure["subject_request_id"].(string)
	e.WaitFor(t, opendsr.RequestID("acme-controller", id), domain.StatusAwaitingSignOff)

	// Another controller reaches none of it: not the request by its id, not
	// the API, and its own request for the same person (even under the
	// same id) is its own, with its own times.
	if _, _, err := st.CreateToken(ctx, store.NewToken{Name: "acme-controller", Role: store.RoleController}); !errors.Is(err, records.ErrConflict) {
		t.Fatalf("a second live controller named acme-controller: %v", err)
	}
	_, other, err := st.CreateToken(ctx, store.NewToken{Name: "other-controller", Role: store.RoleController})
	if err != nil {
		t.Fatal(err)
	}
	for _, m := range []string{"GET", "DELETE"} {
		if resp, body := call(m, "/opendsr/requests/"+id, other, nil); resp.StatusCode != 404 || strings.Contains(string(body), "acme-controller") {
			t.Fatalf("%s of another controller's request: %d %s", m, resp.StatusCode, body)
		}
	}
	if resp, body := call("GET", "/opendsr/v2/requests/"+created.ID+"/results", other, nil); resp.StatusCode != 404 || bytes.HasPrefix(body, []byte("PK")) {
		t.Fatalf("another controller's results: %d", resp.StatusCode)
	}
	for _, path := range []string{"/api/v1/requests", "/api/v1/requests/" + opendsr.RequestID("acme-controller", id), "/api/v1/me"} {
		if resp, body := call("GET", path, token, nil); resp.StatusCode != 403 {
			t.Fatalf("a controller token on %s: %d %s", path, resp.StatusCode, body)
		}
	}
	if resp, body := call("POST", "/api/v1/requests/"+opendsr.RequestID("acme-controller", id)+"/cancel", token, map[string]string{"reason": "r"}); resp.StatusCode != 403 {
		t.Fatalf("a controller token cancelling through the API: %d %s", resp.StatusCode, body)
	}
	same := newRequest("erasure")
	same["subject_request_id"] = id
	same["submitted_time"] = time.Now().UTC().Format(time.RFC3339)
	resp, body = call("POST", "/opendsr/requests", other, same)
	var mine struct {
		Controller string `json:"controller_id"`
		Received   string `json:"received_time"`
		Due        string `json:"expected_completion_time"`
	}
	json.Unmarshal(body, &mine)
	if resp.StatusCode != 201 || mine.Controller != "other-controller" || mine.Received == "" || mine.Due == "" {
		t.Fatalf("the other controller's request for the same person: %d %s", resp.StatusCode, body)
	}
	ov := e.WaitFor(t, opendsr.RequestID("other-controller", id), domain.StatusAwaitingSignOff)
	if ov.Timeline[0].Actor != "opendsr:other-controller" {
		t.Fatalf("the other controller's request: %+v", ov.RequestState)
	}
	if v := e.WaitFor(t, opendsr.RequestID("acme-controller", id), domain.StatusAwaitingSignOff); v.Status != domain.StatusAwaitingSignOff {
		t.Fatalf("the first controller's request changed: %+v", v.RequestState)
	}
	if resp, body := call("DELETE", "/opendsr/requests/"+id, other, nil); resp.StatusCode != 202 {
		t.Fatalf("the other controller cancels its own: %d %s", resp.StatusCode, body)
	}
	e.WaitFor(t, opendsr.RequestID("other-controller", id), domain.StatusCancelled)

	if resp, body := call("DELETE", "/opengdpr_requests/"+id, token, nil); resp.StatusCode != 202 {
		t.Fatalf("cancel: %d %s", resp.StatusCode, body)
	}
	if resp, body := call("GET", "/opendsr/requests/"+uuid.NewString(), token, nil); resp.StatusCode != 404 {
		t.Fatalf("unknown request: %d %s", resp.StatusCode, body)
	}

	// Callbacks: signed, one per status change, ending completed and cancelled.
	want := map[string]string{created.ID: "completed", id: "cancelled"}
	testenv.Eventually(t, testenv.Wait, func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		final := map[string]string{}
		for _, c := range got {
			if err := opendsr.Verify(cert, c.body, c.signature); err != nil || c.domain != "127.0.0.1" {
				t.Fatalf("callback not signed by the processor (%v, domain %q): %s", err, c.domain, c.body)
			}
			var s opendsr.Status
			json.Unmarshal(c.body, &s)
			final[s.SubjectRequestID] = s.RequestStatus
		}
		return final[created.ID] == want[created.ID] && final[id] == want[id], fmt.Sprintf("final callbacks %v, want %v", final, want)
	})
	if opendsr.Verify(cert, []byte(`{"request_status":"completed","forged":true}`), got[0].signature) == nil {
		t.Fatal("a forged callback body verified")
	}
}

// TestSpecToTheLetter: the spec's own example body, sent to the versioned
// path with a processor extension the engine does not know, comes back in
// encoded_request byte for byte, with this processor's receipt time; the
// invalid bodies the spec implies are 400 in its error format; a refused
// token is answered in that format too; nothing is cached.
func TestSpecToTheLetter(t *testing.T) {
	ctx := context.Background()
	// Finance holds the subject's data, so the erasure waits for its
	// sign-off until the controller cancels it.
	e, token := startProcessor(t, "spec-controller",
		activities.System{SystemRef: activities.SystemRef{Name: "billing", Department: "Finance"}, Connector: &testengine.Table{Rows: 1}})
	send := func(method, path, tok, body string) (*http.Response, string) {
		t.Helper()
		resp, b := do(t, e, method, path, tok, strings.NewReader(body))
		return resp, string(b)
	}
	id := uuid.NewString()
	example := `{
  "subject_request_id": "` + id + `",
  "subject_request_type": "erasure",
  "submitted_time": "2018-10-02T15:00:00Z",
  "subject_identities": [
    {"identity_type": "email", "identity_value": "johndoe@example.com", "identity_format": "raw"}
  ],
  "api_version": "2.0",
  "regulation": "gdpr",
  "extensions": {"example-processor.com": {"property_id": "123456"}}
}`
	start := time.Now().UTC().Add(-time.Second)
	resp, body := send("POST", "/opendsr/v2/requests", token, example)
	var created struct {
		ControllerID string `json:"controller_id"`
		Received     string `json:"received_time"`
		Encoded      string `json:"encoded_request"`
	}
	json.Unmarshal([]byte(body), &created)
	received, _ := time.Parse(time.RFC3339, created.Received)
	encoded, _ := base64.StdEncoding.DecodeString(created.Encoded)
	if resp.StatusCode != 201 || created.ControllerID != "spec-controller" || string(encoded) != example || received.Before(start.Truncate(time.Second)) {
		t.Fatalf("the spec's example: %d %s (received %s)", resp.StatusCode, body, created.Received)
	}
	if resp.Header.Get("Cache-Control") != "no-store" || resp.Header.Get("Pragma") != "no-cache" {
		t.Fatalf("cache headers: %v", resp.Header)
	}

	type specError struct {
		Error struct {
			Code    int    `json:"code"`
			Message string `json:"message"`
			Errors  []struct {
				Domain, Reason, Message string
			} `json:"errors"`
		} `json:"error"`
	}
	for name, tt := range map[string]struct {
		path, tok, body string
		code            int
		want            string
	}{
		"trailing data":      {"/opendsr/v2/requests", token, example + ` {"x": 1}`, 400, "data after the JSON object"},
		"no identity_format": {"/opendsr/v2/requests", token, strings.Replace(strings.Replace(example, `, "identity_format": "raw"`, "", 1), id, uuid.NewString(), 1), 400, "identity_format raw (required)"},
		"phone_number":       {"/opendsr/v2/requests", token, strings.Replace(strings.Replace(example, `"identity_type": "email", "identity_value": "johndoe@example.com"`, `"identity_type": "phone_number", "identity_value": "+14155550100"`, 1), id, uuid.NewString(), 1), 400, "identity_type must be email or controller_customer_id"},
		"the same id, again": {"/opendsr/v2/requests", token, strings.Replace(example, `"erasure"`, `"access"`, 1), 400, "is already used by another request"},
		"no token":           {"/opendsr/v2/requests", "", example, 401, "an API token is required"},
		"another's request":  {"/opendsr/v2/requests/" + uuid.NewString(), token, "", 404, ""},
	} {
		method := "POST"
		if tt.body == "" {
			method = "GET"
		}
		resp, body := send(method, tt.path, tt.tok, tt.body)
		var se specError
		json.Unmarshal([]byte(body), &se)
		if resp.StatusCode != tt.code || se.Error.Code != tt.code || len(se.Error.Errors) != 1 || se.Error.Errors[0].Domain == "" ||
			!strings.Contains(se.Error.Message, tt.want) || strings.Contains(body, "johndoe") || resp.Header.Get("Cache-Control") != "no-store" {
			t.Errorf("%s: %d %s", name, resp.StatusCode, body)
		}
	}

	resp, body = send("GET", "/opendsr/v2/discovery", "", "")
	if resp.StatusCode != 200 || strings.Contains(body, "phone_number") || !strings.Contains(body, `"identity_type":"email"`) {
		t.Fatalf("discovery: %d %s", resp.StatusCode, body)
	}
	e.WaitFor(t, opendsr.RequestID("spec-controller", id), domain.StatusAwaitingSignOff)
	resp, body = send("DELETE", "/opendsr/v2/requests/"+id, token, "")
	if resp.StatusCode != 202 || !strings.Contains(body, `"controller_id":"spec-controller"`) {
		t.Fatalf("cancel: %d %s", resp.StatusCode, body)
	}

	// A request whose workflow an operator terminates in Temporal is never
	// left "in progress": it will not be fulfilled, so it is cancelled.
	other := uuid.NewString()
	// Another subject: the same one's open request would make it a duplicate.
	if resp, body := send("POST", "/opendsr/v2/requests", token, strings.Replace(strings.Replace(example, id, other, 1), "johndoe@", "janedoe@", 1)); resp.StatusCode != 201 {
		t.Fatalf("second request: %d %s", resp.StatusCode, body)
	}
	wid := opendsr.RequestID("spec-controller", other)
	e.WaitFor(t, wid, domain.StatusAwaitingSignOff)
	if err := e.RawClient.TerminateWorkflow(ctx, domain.WorkflowID(wid), "", "operator cleanup"); err != nil {
		t.Fatal(err)
	}
	if resp, body := send("GET", "/opendsr/v2/requests/"+other, token, ""); resp.StatusCode != 200 || !strings.Contains(body, `"request_status":"cancelled"`) {
		t.Fatalf("terminated: %d %s", resp.StatusCode, body)
	}
}

// TestCallbacksOnePerChangePerURL: a controller names a good callback URL
// and one that never answers. The good one hears every state once and in
// order, short ones included (pending), while the black hole is retried on
// its own; nothing is sent twice to the URL that took it.
func TestCallbacksOnePerChangePerURL(t *testing.T) {
	ctx := context.Background()
	e, token := startProcessor(t, "cb-controller")
	st := e.Store
	var mu sync.Mutex
	var heard []string
	good := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var s opendsr.Status
		json.NewDecoder(r.Body).Decode(&s)
		mu.Lock()
		heard = append(heard, s.RequestStatus)
		mu.Unlock()
	}))
	defer good.Close()
	release := make(chan struct{})
	hole := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	defer hole.Close()
	defer close(release)

	id := uuid.NewString()
	body, _ := json.Marshal(map[string]any{"subject_request_id": id, "subject_request_type": "access", "regulation": "gdpr",
		"submitted_time": time.Now().UTC().Format(time.RFC3339), "api_version": "2.0",
		"subject_identities":   []map[string]string{{"identity_type": "email", "identity_value": "cy@example.com", "identity_format": "raw"}},
		"status_callback_urls": []string{hole.URL + "/cb", good.URL + "/cb"}})
	if resp, b := do(t, e, "POST", "/opendsr/v2/requests", token, bytes.NewReader(body)); resp.StatusCode != 201 {
		t.Fatalf("create: %d %s", resp.StatusCode, b)
	}
	rid := opendsr.RequestID("cb-controller", id)
	e.WaitFor(t, rid, domain.StatusCompleted)
	testenv.Eventually(t, testenv.Wait, func() (bool, string) {
		mu.Lock()
		defer mu.Unlock()
		return len(heard) >= 3, fmt.Sprintf("the good URL heard %v", heard)
	})
	mu.Lock()
	if strings.Join(heard, " ") != "pending in_progress completed" {
		t.Fatalf("the good URL heard %v", heard)
	}
	mu.Unlock()
	// The outbox says the same: each of the good URL's callbacks sent in
	// one attempt; the black hole's first still waits, the others behind it.
	log, err := st.CallbackLog(ctx, rid)
	if err != nil {
		t.Fatal(err)
	}
	var goodAttempts []int
	for _, c := range log {
		if strings.HasPrefix(c.URL, good.URL) {
			goodAttempts = append(goodAttempts, c.Attempts)
		}
	}
	if fmt.Sprint(goodAttempts) != "[1 1 1]" || len(log) != 6 {
		t.Fatalf("outbox: %+v", log)
	}
}

// startProcessor runs the engine as an OpenDSR processor, with a Finance
// department for the systems given, and returns a token for controller.
func startProcessor(t *testing.T, controller string, systems ...activities.System) (*testengine.Engine, string) {
	t.Helper()
	ctx := context.Background()
	dir := t.TempDir()
	signer, err := opendsr.LoadOrCreateSigner(filepath.Join(dir, "key.pem"), filepath.Join(dir, "cert.pem"), "dsr.test")
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(ctx, filepath.Join(dir, "dsr.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	if err := st.SyncDepartments(ctx, []records.Department{{Name: "Finance", Approvers: []string{"cfo@acme.example"}}}); err != nil {
		t.Fatal(err)
	}
	e := testengine.StartEngineWith(t, st, testengine.Options{OpenDSR: signer, Systems: systems})
	_, token, err := st.CreateToken(ctx, store.NewToken{Name: controller, Role: store.RoleController})
	if err != nil {
		t.Fatal(err)
	}
	return e, token
}

// do sends one call to the engine's gateway, with a token when given, and
// returns the answer and its body.
func do(t *testing.T, e *testengine.Engine, method, path, token string, body io.Reader) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, e.Gateway+path, body)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}
