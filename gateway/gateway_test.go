package gateway

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestHealth(t *testing.T) {
	ok := Checker{Name: "store", Check: func(context.Context) error { return nil }}
	down := Checker{Name: "temporal", Check: func(context.Context) error { return errors.New("connection refused") }}
	staff := func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.Header.Get("Authorization") != "Bearer admin" {
				http.Error(w, "who are you", http.StatusUnauthorized)
				return
			}
			next.ServeHTTP(w, r)
		})
	}
	tests := []struct {
		path, auth string
		checks     []Checker
		code       int
		body       string
	}{
		{"/healthz", "", []Checker{ok}, 200, `{"checks":{"store":"ok"},"ok":true}`},
		// The public answer names what is down, not why: the error names hosts.
		{"/healthz", "", []Checker{ok, down}, 503, `{"checks":{"store":"ok","temporal":"down"},"ok":false}`},
		{"/healthz/details", "", []Checker{ok, down}, 401, "who are you"},
		{"/healthz/details", "Bearer admin", []Checker{ok, down}, 503, `"temporal":"down: connection refused"`},
	}
	for _, tt := range tests {
		rec := httptest.NewRecorder()
		req := httptest.NewRequest("GET", tt.path, nil)
		req.Header.Set("Authorization", tt.auth)
		Handler(Options{Checks: tt.checks, Staff: staff}).ServeHTTP(rec, req)
		if rec.Code != tt.code || !strings.Contains(rec.Body.String(), tt.body) {
			t.Errorf("%s = %d %s, want %d with %s", tt.path, rec.Code, rec.Body, tt.code, tt.body)
		}
	}
}

// TestServerLimits: a client that sends its headers slowly, or never
// finishes, is cut off; the limits are set on every gateway.
func TestServerLimits(t *testing.T) {
	srv := Server(http.NotFoundHandler())
	if srv.ReadHeaderTimeout == 0 || srv.ReadTimeout == 0 || srv.WriteTimeout == 0 || srv.IdleTimeout == 0 || srv.MaxHeaderBytes == 0 {
		t.Fatalf("a limit is missing: %+v", srv)
	}
	srv.ReadHeaderTimeout = 100 * time.Millisecond
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	conn, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.Write([]byte("GET /healthz HTTP/1.1\r\nHost: x\r\n")) // and never the blank line
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 512)
	n, err := conn.Read(buf)
	// The server answers 408 or just closes; either way it does not wait.
	if err == nil && !strings.Contains(string(buf[:n]), "408") {
		t.Fatalf("a slow client got: %q", buf[:n])
	}
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("the server held a client that never finished its headers")
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
