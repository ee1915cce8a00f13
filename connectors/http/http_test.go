package http_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	nethttp "net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/dsrengine/dsr/connectors"
	dsrhttp "github.com/dsrengine/dsr/connectors/http"
	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/internal/mailwave"
)

func email(t *testing.T, v string) []domain.Identity {
	t.Helper()
	id, err := domain.NewIdentity(domain.Email, v)
	if err != nil {
		t.Fatal(err)
	}
	return []domain.Identity{id}
}

// mailwaveObjects is how a data map describes Mailwave: contacts found by
// a fuzzy search narrowed by match, paged by cursor, erased by an
// asynchronous job; events paged by Link header, deleted one by one.
func mailwaveObjects() []dsrhttp.Object {
	erasure := &dsrhttp.Call{Method: "POST", Path: "/v3/erasures", Body: map[string]any{"email": "{email}"},
		Job: &dsrhttp.Job{ID: "job.id", Path: "/v3/jobs/{job.id}", Status: "state", Done: []string{"completed"}, Failed: []string{"failed"},
			Interval: dsrhttp.Duration(10 * time.Millisecond)}}
	return []dsrhttp.Object{{
		Name: "contacts",
		Lookup: dsrhttp.Call{Path: "/v3/contacts?email={email}", Items: "contacts", Match: "email",
			Pagination: &dsrhttp.Pagination{Cursor: "meta.next_cursor", CursorParam: "cursor"}},
		Export:       &dsrhttp.Call{Path: "/v3/contacts/{record.id}"},
		Erase:        "delete",
		EraseRequest: erasure,
		Consent: map[string]dsrhttp.Call{"newsletter": {Method: "PUT", Path: "/v3/contacts/{record.id}/subscriptions/{purpose}",
			Body: map[string]any{"subscribed": "{granted}"}}},
	}, {
		Name:         "events",
		Lookup:       dsrhttp.Call{Path: "/v3/events?email={email}", Pagination: &dsrhttp.Pagination{LinkHeader: true}},
		Erase:        "delete",
		EraseRequest: &dsrhttp.Call{Method: "DELETE", Path: "/v3/events/{record.id}"},
	}}
}

func seeded(t *testing.T) (*mailwave.Server, *dsrhttp.Connector) {
	t.Helper()
	contacts := []mailwave.Contact{
		{ID: "c1", Email: "jane@example.com", FirstName: "Jane", Lists: map[string]bool{"newsletter": false}},
		{ID: "c2", Email: "Jane@Example.com", FirstName: "Jane (old import)"},
		{ID: "c3", Email: "ada@example.com", FirstName: "Ada", Lists: map[string]bool{"newsletter": true}},
		{ID: "c4", Email: "bob@example.com", FirstName: "Bob"},
	}
	var events []mailwave.Event
	for i := range 5 {
		events = append(events, mailwave.Event{ID: fmt.Sprintf("e%d", i), Email: "jane@example.com", Type: "open", Campaign: "spring"})
	}
	events = append(events, mailwave.Event{ID: "e-ada", Email: "ada@example.com", Type: "click"})
	srv, err := mailwave.New("secret-token", "", contacts, events)
	if err != nil {
		t.Fatal(err)
	}
	ts := httptest.NewServer(srv)
	t.Cleanup(ts.Close)
	c, err := dsrhttp.Open("mailwave", ts.URL, dsrhttp.Auth{Type: "bearer", Token: "secret-token"}, mailwaveObjects())
	if err != nil {
		t.Fatal(err)
	}
	return srv, c
}

func counts(res connectors.Result) string {
	var parts []string
	for _, r := range res.Records {
		parts = append(parts, fmt.Sprintf("%s %s %d", r.Location, r.Action, r.Count))
	}
	return strings.Join(parts, "; ")
}

func TestMailwaveDiscoverExportConsentErase(t *testing.T) {
	srv, c := seeded(t)
	ctx := context.Background()
	jane := email(t, "jane@example.com")

	res, err := c.Discover(ctx, jane)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := counts(res), "contacts found 2; events found 5"; got != want {
		t.Fatalf("discover = %s, want %s", got, want)
	}
	// "a@example.com" is inside "ada@example.com": the API's fuzzy search
	// returns Ada, and match drops her.
	if res, err := c.Discover(ctx, email(t, "a@example.com")); err != nil || counts(res) != "contacts found 0; events found 0" {
		t.Fatalf("discover a@example.com = %s, %v", counts(res), err)
	}

	var out bytes.Buffer
	res, err = c.Export(ctx, jane, &out)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := counts(res), "contacts exported 2; events exported 5"; got != want {
		t.Fatalf("export = %s, want %s", got, want)
	}
	var exported map[string][]map[string]any
	if err := json.Unmarshal(out.Bytes(), &exported); err != nil {
		t.Fatal(err)
	}
	if exported["contacts"][0]["first_name"] != "Jane" || len(exported["events"]) != 5 || strings.Contains(out.String(), "Ada") {
		t.Fatalf("export holds the wrong records: %s", out.String())
	}

	res, err = c.ApplyConsent(ctx, jane, "newsletter", true)
	if err != nil || counts(res) != "contacts consent granted 2" {
		t.Fatalf("consent = %s, %v", counts(res), err)
	}
	for _, ct := range srv.Contacts() {
		if want := ct.ID != "c4"; ct.Lists["newsletter"] != want {
			t.Errorf("%s newsletter = %v, want %v", ct.ID, ct.Lists["newsletter"], want)
		}
	}
	if _, err := c.ApplyConsent(ctx, jane, "profiling", true); !errors.Is(err, connectors.ErrBadConfig) {
		t.Fatalf("consent to a purpose without a call: %v, want ErrBadConfig", err)
	}

	res, err = c.Erase(ctx, jane, connectors.EraseOptions{DryRun: true})
	if err != nil || counts(res) != "contacts would be deleted 2; events would be deleted 5" {
		t.Fatalf("dry run = %s, %v", counts(res), err)
	}
	if len(srv.Contacts()) != 4 || len(srv.Events()) != 6 {
		t.Fatal("a dry run changed the system")
	}
	res, err = c.Erase(ctx, jane, connectors.EraseOptions{})
	if err != nil || counts(res) != "contacts deleted 2; events deleted 5" {
		t.Fatalf("erase = %s, %v", counts(res), err)
	}
	if got := srv.Contacts(); len(got) != 2 || got[0].ID != "c3" || got[1].ID != "c4" {
		t.Fatalf("contacts left: %+v", got)
	}
	if got := srv.Events(); len(got) != 1 || got[0].ID != "e-ada" {
		t.Fatalf("events left: %+v", got)
	}
	if srv.Calls["POST /v3/erasures"] != 1 || srv.Calls["GET /v3/jobs/"+firstJob(srv)] < 2 {
		t.Fatalf("one erasure job, polled to completion expected: %v", srv.Calls)
	}
	for _, k := range srv.Keys {
		if len(k) != 32 {
			t.Fatalf("a changing call without an Idempotency-Key: %q", srv.Keys)
		}
	}

	// A second erasure finds nothing and calls nothing that changes data.
	posts := srv.Calls["POST /v3/erasures"]
	res, err = c.Erase(ctx, jane, connectors.EraseOptions{})
	if err != nil || counts(res) != "contacts deleted 0; events deleted 0" || srv.Calls["POST /v3/erasures"] != posts {
		t.Fatalf("second erase = %s, %v, calls %v", counts(res), err, srv.Calls)
	}
}

func firstJob(srv *mailwave.Server) string {
	for call := range srv.Calls {
		if id, ok := strings.CutPrefix(call, "GET /v3/jobs/"); ok {
			return id
		}
	}
	return ""
}

func TestRateLimitIsWaitedOrHandedBack(t *testing.T) {
	srv, c := seeded(t)
	srv.RateLimitEvery, srv.RetryAfter = 3, 1
	res, err := c.Discover(context.Background(), email(t, "jane@example.com"))
	if err != nil || counts(res) != "contacts found 2; events found 5" {
		t.Fatalf("discover through 429s = %s, %v", counts(res), err)
	}
	// A Retry-After longer than the connector waits goes back to the
	// activity's retry, with the delay.
	srv.RetryAfter = 120
	_, err = c.Discover(context.Background(), email(t, "jane@example.com"))
	var later *connectors.RetryLaterError
	if !errors.As(err, &later) || later.After != 120*time.Second {
		t.Fatalf("long Retry-After: %v, want a RetryLaterError of 2m", err)
	}
	if strings.Contains(err.Error(), "jane") {
		t.Fatalf("error names the subject: %v", err)
	}
}

func TestStatusesMapToErrors(t *testing.T) {
	status := 200
	ts := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		w.WriteHeader(status)
		if status == 200 {
			fmt.Fprint(w, `not json`)
		}
	}))
	defer ts.Close()
	c, err := dsrhttp.Open("x", ts.URL, dsrhttp.Auth{Type: "none"}, []dsrhttp.Object{{Name: "people", Lookup: dsrhttp.Call{Path: "/people?email={email}"}, Erase: "keep", LegalHold: "x"}})
	if err != nil {
		t.Fatal(err)
	}
	jane := email(t, "jane@example.com")
	for _, tc := range []struct {
		status int
		want   error
		retry  bool
	}{
		{401, connectors.ErrPermissionDenied, false},
		{403, connectors.ErrPermissionDenied, false},
		{422, connectors.ErrBadConfig, false},
		{500, nil, true},
		{502, nil, true},
		{200, nil, true}, // not JSON
	} {
		status = tc.status
		_, err := c.Discover(context.Background(), jane)
		if err == nil || (tc.want != nil && !errors.Is(err, tc.want)) || (tc.retry && (errors.Is(err, connectors.ErrBadConfig) || errors.Is(err, connectors.ErrPermissionDenied))) {
			t.Errorf("status %d: %v", tc.status, err)
		}
		if err != nil && strings.Contains(err.Error(), "jane") {
			t.Errorf("status %d: the error names the subject: %v", tc.status, err)
		}
	}
	status = 404
	if res, err := c.Discover(context.Background(), jane); err != nil || counts(res) != "people held 0" {
		t.Fatalf("404 on lookup = %s, %v; want no records", counts(res), err)
	}
}

// TestHostileIdentities sends values full of URL and query syntax and
// checks that the API receives each as one literal value.
func TestHostileIdentities(t *testing.T) {
	var got []string
	ts := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		switch {
		case strings.HasPrefix(r.URL.EscapedPath(), "/customers/"):
			got = append(got, "path:"+r.URL.EscapedPath()+" query:"+r.URL.RawQuery)
		default:
			got = append(got, "email:"+r.URL.Query().Get("email")+" keys:"+fmt.Sprint(len(r.URL.Query())))
		}
		fmt.Fprint(w, `[]`)
	}))
	defer ts.Close()
	c, err := dsrhttp.Open("x", ts.URL, dsrhttp.Auth{Type: "none"}, []dsrhttp.Object{
		{Name: "by-email", Lookup: dsrhttp.Call{Path: "/people?email={email}&limit=5"}, Erase: "keep", LegalHold: "x"},
		{Name: "by-id", Lookup: dsrhttp.Call{Path: "/customers/{customer_id}/profile"}, Erase: "keep", LegalHold: "x"},
	})
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"o'brien@example.com", "50%_off@example.com", "a&limit=1000@example.com", "x?y=1#frag@example.com", "a+b@example.com", "jаne@example.com"} {
		got = nil
		if _, err := c.Discover(context.Background(), email(t, v)); err != nil {
			t.Fatal(err)
		}
		if want := "email:" + v + " keys:2"; len(got) != 1 || got[0] != want {
			t.Errorf("%q arrived as %q, want %q", v, got, want)
		}
	}
	for v, want := range map[string]string{
		"..":            "path:/customers/%2E%2E/profile query:",
		"a/../../admin": "path:/customers/a%2F..%2F..%2Fadmin/profile query:",
		"7?admin=1":     "path:/customers/7%3Fadmin=1/profile query:",
	} {
		id, err := domain.NewIdentity(domain.CustomerID, v)
		if err != nil {
			t.Fatal(err)
		}
		got = nil
		if _, err := c.Discover(context.Background(), []domain.Identity{id}); err != nil {
			t.Fatal(err)
		}
		if len(got) != 1 || got[0] != want {
			t.Errorf("customer id %q arrived as %q, want %q", v, got, want)
		}
	}
}

func TestPaginationAndRedirectsStayOnTheHost(t *testing.T) {
	elsewhere := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		t.Errorf("credentials sent to another host: %s", r.Header.Get("Authorization"))
		fmt.Fprint(w, `{"items":[]}`)
	}))
	defer elsewhere.Close()
	mux := nethttp.NewServeMux()
	mux.HandleFunc("/away", func(w nethttp.ResponseWriter, r *nethttp.Request) {
		fmt.Fprintf(w, `{"items":[{"id":1}],"next":%q}`, elsewhere.URL+"/steal")
	})
	mux.HandleFunc("/loop", func(w nethttp.ResponseWriter, r *nethttp.Request) {
		fmt.Fprint(w, `{"items":[{"id":1}],"next":"/loop?email=jane%40example.com"}`)
	})
	mux.HandleFunc("/redirect", func(w nethttp.ResponseWriter, r *nethttp.Request) {
		nethttp.Redirect(w, r, elsewhere.URL+"/steal", nethttp.StatusFound)
	})
	ts := httptest.NewServer(mux)
	defer ts.Close()
	for path, want := range map[string]string{"/away": "leaves", "/loop": "already read", "/redirect": "leaves"} {
		c, err := dsrhttp.Open("x", ts.URL, dsrhttp.Auth{Type: "bearer", Token: "t"}, []dsrhttp.Object{{Name: "o",
			Lookup: dsrhttp.Call{Path: path + "?email={email}", Items: "items", Pagination: &dsrhttp.Pagination{Next: "next"}}, Erase: "keep", LegalHold: "x"}})
		if err != nil {
			t.Fatal(err)
		}
		_, err = c.Discover(context.Background(), email(t, "jane@example.com"))
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want an error saying %q", path, err, want)
		}
	}
}

func TestAuthSchemes(t *testing.T) {
	for _, tc := range []struct {
		auth  dsrhttp.Auth
		check func(r *nethttp.Request) bool
	}{
		{dsrhttp.Auth{Type: "bearer", Token: "tok"}, func(r *nethttp.Request) bool { return r.Header.Get("Authorization") == "Bearer tok" }},
		{dsrhttp.Auth{Type: "basic", Username: "u", Password: "p"}, func(r *nethttp.Request) bool { u, p, ok := r.BasicAuth(); return ok && u == "u" && p == "p" }},
		{dsrhttp.Auth{Type: "api_key", Key: "k", Header: "X-Api-Key"}, func(r *nethttp.Request) bool { return r.Header.Get("X-Api-Key") == "k" }},
		{dsrhttp.Auth{Type: "api_key", Key: "k&x", Query: "api_key"}, func(r *nethttp.Request) bool {
			return r.URL.Query().Get("api_key") == "k&x" && r.URL.Query().Get("email") == "jane@example.com"
		}},
	} {
		ts := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
			if !tc.check(r) {
				w.WriteHeader(401)
				return
			}
			fmt.Fprint(w, `[{"id":1}]`)
		}))
		c, err := dsrhttp.Open("x", ts.URL, tc.auth, []dsrhttp.Object{{Name: "o", Lookup: dsrhttp.Call{Path: "/o?email={email}"}, Erase: "keep", LegalHold: "x"}})
		if err != nil {
			t.Fatal(err)
		}
		res, err := c.Discover(context.Background(), email(t, "jane@example.com"))
		if err != nil || res.Total() != 1 {
			t.Errorf("%s: %v", tc.auth.Type, err)
		}
		ts.Close()
	}
}

func TestFailedJobAndPagePagination(t *testing.T) {
	mux := nethttp.NewServeMux()
	mux.HandleFunc("GET /tickets", func(w nethttp.ResponseWriter, r *nethttp.Request) {
		switch r.URL.Query().Get("page") {
		case "1":
			fmt.Fprint(w, `{"data":[{"id":"t1"},{"id":"t2"}]}`)
		case "2":
			fmt.Fprint(w, `{"data":[{"id":"t3"}]}`)
		default:
			fmt.Fprint(w, `{"data":[]}`)
		}
	})
	mux.HandleFunc("POST /purge", func(w nethttp.ResponseWriter, r *nethttp.Request) {
		fmt.Fprint(w, `{"task":{"id":"j1"}}`)
	})
	mux.HandleFunc("GET /tasks/j1", func(w nethttp.ResponseWriter, r *nethttp.Request) { fmt.Fprint(w, `{"status":"error"}`) })
	ts := httptest.NewServer(mux)
	defer ts.Close()
	c, err := dsrhttp.Open("x", ts.URL, dsrhttp.Auth{Type: "none"}, []dsrhttp.Object{{Name: "tickets",
		Lookup: dsrhttp.Call{Path: "/tickets?requester={email}", Items: "data", Pagination: &dsrhttp.Pagination{PageParam: "page", FirstPage: 1}},
		Erase:  "delete", EraseRequest: &dsrhttp.Call{Method: "POST", Path: "/purge", Body: map[string]any{"ids": []any{"{record.id}"}},
			Job: &dsrhttp.Job{ID: "task.id", Path: "/tasks/{job.id}", Status: "status", Done: []string{"done"}, Failed: []string{"error"}}}}})
	if err != nil {
		t.Fatal(err)
	}
	jane := email(t, "jane@example.com")
	if res, err := c.Discover(context.Background(), jane); err != nil || counts(res) != "tickets found 3" {
		t.Fatalf("page pagination = %s, %v", counts(res), err)
	}
	_, err = c.Erase(context.Background(), jane, connectors.EraseOptions{})
	if err == nil || !strings.Contains(err.Error(), `job ended "error"`) || errors.Is(err, connectors.ErrBadConfig) {
		t.Fatalf("failed job: %v, want a retryable error", err)
	}
}

func TestOpenRefusesBadSettings(t *testing.T) {
	for name, tc := range map[string]struct {
		base string
		auth dsrhttp.Auth
		obj  dsrhttp.Object
	}{
		"relative base":      {"/api", dsrhttp.Auth{Type: "none"}, dsrhttp.Object{Lookup: dsrhttp.Call{Path: "/x?e={email}"}}},
		"ftp base":           {"ftp://h", dsrhttp.Auth{Type: "none"}, dsrhttp.Object{Lookup: dsrhttp.Call{Path: "/x?e={email}"}}},
		"unknown auth":       {"https://h", dsrhttp.Auth{Type: "oauth"}, dsrhttp.Object{Lookup: dsrhttp.Call{Path: "/x?e={email}"}}},
		"lookup no identity": {"https://h", dsrhttp.Auth{Type: "none"}, dsrhttp.Object{Lookup: dsrhttp.Call{Path: "/x"}}},
		"two kinds":          {"https://h", dsrhttp.Auth{Type: "none"}, dsrhttp.Object{Lookup: dsrhttp.Call{Path: "/x?e={email}&p={phone}"}}},
		"record in lookup":   {"https://h", dsrhttp.Auth{Type: "none"}, dsrhttp.Object{Lookup: dsrhttp.Call{Path: "/x/{record.id}?e={email}"}}},
	} {
		if _, err := dsrhttp.Open("x", tc.base, tc.auth, []dsrhttp.Object{tc.obj}); !errors.Is(err, connectors.ErrBadConfig) {
			t.Errorf("%s: %v, want ErrBadConfig", name, err)
		}
	}
}
