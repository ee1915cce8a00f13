package api_test

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/dsrengine/dsr/api"
	"github.com/dsrengine/dsr/store"
)

// TestConcurrentCallsAreCountedOnce hammers the gateway's shared state
// from many goroutines at once, as a busy privacy center and many API
// clients do: the public form's rate limit lets exactly five through per
// address and minute, and unknown tokens are refused every time. It needs
// no Temporal server, so CI runs it with the race detector.
func TestConcurrentCallsAreCountedOnce(t *testing.T) {
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "dsr.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	h := (&api.Server{Store: st, Log: slog.New(slog.NewTextHandler(io.Discard, nil))}).Handler()

	var mu sync.Mutex
	codes := map[string]map[int]int{}
	var wg sync.WaitGroup
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			// No declaration: a request past the limit is refused as
			// invalid before anything would be started.
			addr := []string{"192.0.2.10:5000", "[2001:db8::1]:5000"}[i%2]
			r := httptest.NewRequest(http.MethodPost, "/api/v1/public/requests", strings.NewReader(`{"type":"access","regulation":"gdpr","email":"a@b.co"}`))
			r.RemoteAddr = addr
			r.Header.Set("Content-Type", "application/json")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			mu.Lock()
			defer mu.Unlock()
			if codes[addr] == nil {
				codes[addr] = map[int]int{}
			}
			codes[addr][w.Code]++
		}()
		wg.Add(1)
		go func() {
			defer wg.Done()
			r := httptest.NewRequest(http.MethodGet, "/api/v1/requests", nil)
			r.Header.Set("Authorization", "Bearer dsr_forged")
			w := httptest.NewRecorder()
			h.ServeHTTP(w, r)
			if w.Code != http.StatusUnauthorized {
				t.Errorf("forged token: %d %s", w.Code, w.Body)
			}
		}()
	}
	wg.Wait()
	for addr, got := range codes {
		if got[http.StatusBadRequest] != 5 || got[http.StatusTooManyRequests] != 15 || len(got) != 2 {
			t.Errorf("%s: answers %v, want 5 × 400 and 15 × 429", addr, got)
		}
	}
}

// TestPublicFormTakesOnlyJSON: a cross-site page can post text/plain or a
// form without asking the browser first; the public form refuses both.
func TestPublicFormTakesOnlyJSON(t *testing.T) {
	h := (&api.Server{Log: slog.New(slog.NewTextHandler(io.Discard, nil))}).Handler()
	for _, ct := range []string{"text/plain", "application/x-www-form-urlencoded", "multipart/form-data; boundary=x", ""} {
		r := httptest.NewRequest(http.MethodPost, "/api/v1/public/requests", strings.NewReader(`{"type":"access","regulation":"gdpr","email":"a@b.co","declaration":true}`))
		if ct != "" {
			r.Header.Set("Content-Type", ct)
		}
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != http.StatusUnsupportedMediaType {
			t.Errorf("%q: %d %s", ct, w.Code, w.Body)
		}
	}
}

// TestPublicFormChallenge: with a challenge hook (a CAPTCHA check), a
// submission it refuses never counts.
func TestPublicFormChallenge(t *testing.T) {
	h := (&api.Server{Log: slog.New(slog.NewTextHandler(io.Discard, nil)), Challenge: func(r *http.Request) error {
		if r.Header.Get("X-Captcha") != "solved" {
			return errors.New("solve the challenge first")
		}
		return nil
	}}).Handler()
	for header, want := range map[string]int{"": http.StatusForbidden, "solved": http.StatusBadRequest} {
		r := httptest.NewRequest(http.MethodPost, "/api/v1/public/requests", strings.NewReader(`{"type":"access","regulation":"gdpr","email":"a@b.co"}`))
		r.Header.Set("Content-Type", "application/json")
		r.Header.Set("X-Captcha", header)
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		if w.Code != want {
			t.Errorf("challenge %q: %d %s, want %d", header, w.Code, w.Body, want)
		}
	}
}
