package http_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/dsrengine/dsr/connectors"
	dsrhttp "github.com/dsrengine/dsr/connectors/http"
)

// TestCorrectAndRestrictThroughCalls: a correction and a restriction are
// the map's calls, once per record of the subject, with the new value and
// the flag in the body; Bob's record is never called.
func TestCorrectAndRestrictThroughCalls(t *testing.T) {
	var mu sync.Mutex
	var calls []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if r.Method == "GET" {
			w.Header().Set("Content-Type", "application/json")
			if r.URL.Query().Get("email") == "jane@example.com" {
				io.WriteString(w, `[{"id": "c1", "email": "jane@example.com"}, {"id": "c9", "email": "jane@example.com.evil"}]`)
			} else {
				io.WriteString(w, `[{"id": "c2", "email": "bob@example.com"}]`)
			}
			return
		}
		b, _ := io.ReadAll(r.Body)
		calls = append(calls, r.Method+" "+r.URL.Path+" "+string(b))
		w.WriteHeader(http.StatusNoContent)
	}))
	defer srv.Close()
	objects := []dsrhttp.Object{{
		Name:   "contacts",
		Lookup: dsrhttp.Call{Path: "/contacts?email={email}", Match: "email"},
		Erase:  "delete", EraseRequest: &dsrhttp.Call{Method: "DELETE", Path: "/contacts/{record.id}"},
		Correct: map[string]dsrhttp.Call{"name": {Method: "PATCH", Path: "/contacts/{record.id}", Body: map[string]any{"name": "{value}", "changed": "{field}"}},
			"email": {Method: "PATCH", Path: "/contacts/{record.id}", Body: map[string]any{"email": "{value}"}}},
		Restriction: map[string]dsrhttp.Call{"all": {Method: "PUT", Path: "/contacts/{record.id}/restriction", Body: map[string]any{"restricted": "{restricted}"}}},
	}}
	c, err := dsrhttp.Open("crm", srv.URL, dsrhttp.Auth{Type: "none"}, objects)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	jane := email(t, "jane@example.com")
	if got := c.Correctable(); len(got) != 2 || got[0] != "email" || got[1] != "name" {
		t.Fatalf("correctable: %v", got)
	}
	if dry, err := c.Correct(ctx, jane, "name", "Jane Smith", connectors.EraseOptions{DryRun: true}); err != nil || counts(dry) != "contacts differs 1" || len(calls) != 0 {
		t.Fatalf("dry run: %s, %v, calls %v", counts(dry), err, calls)
	}
	hostile := `Jane "); DROP`
	if res, err := c.Correct(ctx, jane, "name", hostile, connectors.EraseOptions{}); err != nil || counts(res) != "contacts corrected 1" {
		t.Fatalf("correct: %s, %v", counts(res), err)
	}
	if res, err := c.Restrict(ctx, jane, []string{"newsletter"}, true); err != nil || counts(res) != "contacts restricted 1" {
		t.Fatalf("restrict: %s, %v", counts(res), err)
	}
	if res, err := c.Restrict(ctx, jane, []string{"all"}, false); err != nil || counts(res) != "contacts restriction lifted 1" {
		t.Fatalf("lift: %s, %v", counts(res), err)
	}
	if len(calls) != 3 {
		t.Fatalf("calls: %v", calls)
	}
	var body map[string]any
	json.Unmarshal([]byte(calls[0][len("PATCH /contacts/c1 "):]), &body)
	if calls[0][:len("PATCH /contacts/c1 ")] != "PATCH /contacts/c1 " || body["name"] != hostile {
		t.Fatalf("the correction's call: %q", calls[0])
	}
	if calls[1] != `PUT /contacts/c1/restriction {"restricted":true}` || calls[2] != `PUT /contacts/c1/restriction {"restricted":false}` {
		t.Fatalf("the restriction's calls: %v", calls[1:])
	}
	if _, err := c.Correct(ctx, jane, "phone", "+1", connectors.EraseOptions{}); !errors.Is(err, connectors.ErrBadConfig) {
		t.Fatalf("a field no object declares: %v", err)
	}
}
