package gateway

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

func TestHealth(t *testing.T) {
	ok := Checker{Name: "store", Check: func(context.Context) error { return nil }}
	down := Checker{Name: "temporal", Check: func(context.Context) error { return errors.New("connection refused") }}
	tests := []struct {
		checks []Checker
		code   int
		body   string
	}{
		{[]Checker{ok}, 200, `"store":"ok"`},
		{[]Checker{ok, down}, 503, `"temporal":"down: connection refused"`},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		Handler(Options{Checks: tt.checks}).ServeHTTP(rec, httptest.NewRequest("GET", "/healthz", nil))
		if rec.Code != tt.code || !strings.Contains(rec.Body.String(), tt.body) {
			t.Errorf("health = %d %s, want %d with %s", rec.Code, rec.Body, tt.code, tt.body)
		}
	}
}

// Without a codec the gateway serves none: nothing decrypts by default.
func TestNoCodecUnlessEnabled(t *testing.T) {
	rec := httptest.NewRecorder()
	Handler(Options{}).ServeHTTP(rec, httptest.NewRequest("POST", "/codec/decode", strings.NewReader(`{"payloads":[]}`)))
	if rec.Code != http.StatusNotFound {
		t.Fatalf("codec served without being enabled: %d", rec.Code)
	}
}
