// Package gateway is the engine's HTTP front door: health, the codec for
// the Web UI in dev mode, Slack's interactions, the API, OpenDSR and the
// console, each mounted on its own path.
package gateway

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"slices"
	"time"
)

// Checker is one dependency the health endpoint probes.
type Checker struct {
	Name  string
	Check func(ctx context.Context) error
}

// Options configure the gateway.
type Options struct {
	Checks []Checker
	// Codec, when set, is served at /codec/ so that the Temporal Web UI
	// and CLI can show decrypted payloads; it checks its callers' tokens
	// itself (api.Server.Codec). CodecOrigins are the UI's origins allowed
	// by CORS, with credentials, so the UI sends its login cookie.
	Codec        http.Handler
	CodecOrigins []string
	// SlackInteractions takes Slack's signed interaction payloads; it
	// checks the signature itself.
	SlackInteractions http.Handler
	// API serves /api/ and checks its tokens itself.
	API http.Handler
	// OpenDSR serves the OpenDSR processor endpoints and OpenGDPR's paths.
	OpenDSR http.Handler
	// Console serves the privacy center (/privacy) and the staff console
	// (/console/).
	Console http.Handler
	// Staff guards /healthz/details with the API's tokens.
	Staff func(http.Handler) http.Handler
}

// Handler builds the gateway's routes.
func Handler(o Options) http.Handler {
	mux := http.NewServeMux()
	// Anyone may ask whether the engine is up; only staff learn why not:
	// a dependency's error names internal hosts and ports.
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) {
		health(w, r, o.Checks, false)
	})
	if o.Staff != nil {
		mux.Handle("GET /healthz/details", o.Staff(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			health(w, r, o.Checks, true)
		})))
	}
	if o.API != nil {
		mux.Handle("/api/", o.API)
	}
	if o.Console != nil {
		for _, p := range []string{"/privacy", "/privacy/status", "/console", "/console/"} {
			mux.Handle(p, o.Console)
		}
	}
	if o.OpenDSR != nil {
		for _, p := range []string{"/opendsr/", "/opengdpr_requests", "/opengdpr_requests/", "/discovery"} {
			mux.Handle(p, o.OpenDSR)
		}
	}
	if o.SlackInteractions != nil {
		mux.Handle("POST /slack/interactions", o.SlackInteractions)
	}
	if o.Codec != nil {
		mux.Handle("/codec/", withCORS(o.CodecOrigins, http.StripPrefix("/codec", o.Codec)))
	}
	return mux
}

// health runs the checks; with details it says what each one answered,
// else only which are down.
func health(w http.ResponseWriter, r *http.Request, checks []Checker, details bool) {
	ctx, cancel := context.WithTimeout(r.Context(), 3*time.Second)
	defer cancel()
	status := map[string]string{}
	code := http.StatusOK
	for _, c := range checks {
		if err := c.Check(ctx); err != nil {
			status[c.Name] = "down"
			if details {
				status[c.Name] = "down: " + err.Error()
			}
			code = http.StatusServiceUnavailable
			continue
		}
		status[c.Name] = "ok"
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	json.NewEncoder(w).Encode(map[string]any{"ok": code == http.StatusOK, "checks": status})
}

// Server is the gateway's listener with the limits every public server
// needs: a slow or endless client cannot hold a connection or the
// worker's memory. Handlers bound their own bodies (1 MiB for JSON).
func Server(h http.Handler) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		// Packages and evidence are streamed; a minute is enough for the
		// largest over a slow link, and ends a reader that stopped reading.
		WriteTimeout:   5 * time.Minute,
		IdleTimeout:    2 * time.Minute,
		MaxHeaderBytes: 64 << 10,
	}
}

func withCORS(origins []string, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if origin := r.Header.Get("Origin"); origin != "" && slices.Contains(origins, origin) {
			w.Header().Set("Access-Control-Allow-Origin", origin)
			w.Header().Set("Access-Control-Allow-Credentials", "true")
			w.Header().Set("Access-Control-Allow-Headers", "Content-Type, X-Namespace, Authorization")
			w.Header().Set("Access-Control-Allow-Methods", "POST, OPTIONS")
			w.Header().Set("Vary", "Origin")
		}
		if r.Method == http.MethodOptions {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// Probe asks the process listening on addr for /healthz and fails unless
// it answers 200: the containers' health check, as their images have no
// shell or curl. An unspecified host (0.0.0.0, ::, none) is asked on
// loopback.
func Probe(ctx context.Context, addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("health: %q is not host:port", addr)
	}
	if ip := net.ParseIP(host); host == "" || ip != nil && ip.IsUnspecified() {
		host = "127.0.0.1"
	}
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	url := "http://" + net.JoinHostPort(host, port) + "/healthz"
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return fmt.Errorf("health: %w", err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("health: %s answered %s", url, resp.Status)
	}
	return nil
}
