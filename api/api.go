// Package api is the engine's HTTP API: the operations of starter, for
// systems and for the console, behind API tokens with roles. Requesters
// (compliance) start and steer requests; approvers decide for their own
// departments; auditors read, but never exported data; admins do what
// requesters and auditors do. Every call that changes something is
// audited with the token's name. The OpenAPI document is served at
// /api/v1/openapi.json.
package api

import (
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"slices"
	"strings"

	"go.temporal.io/sdk/client"

	"github.com/dsrengine/dsr/claims"
	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/mail"
	"github.com/dsrengine/dsr/records"
	"github.com/dsrengine/dsr/requests"
	"github.com/dsrengine/dsr/store"
)

//go:embed openapi.json
var openAPI []byte

// Server serves the API.
type Server struct {
	Client client.Client
	Store  *store.Store
	Codecs requests.Codecs
	Log    *slog.Logger
	// ExportDir is where packages are written; a package is served only
	// from inside it, whatever a request's state names.
	ExportDir string
	// TrustedProxies are the networks whose X-Forwarded-For the public
	// form believes (a load balancer); nobody else's header counts.
	TrustedProxies []*net.IPNet
	// Challenge, when set, must accept a public submission before it
	// counts: the hook for a CAPTCHA or proof-of-work check (the privacy
	// center's page sends its token in a header the check reads). Its
	// error is shown to the sender.
	Challenge func(r *http.Request) error
	// DevMail, in dev mode only, lists the e-mails the in-process SMTP
	// sink received, for the console's mail view: there is no mailbox to
	// read a verification code in.
	DevMail func() []mail.Received
	// Codes, when set, e-mails the privacy center's verification codes;
	// Keys hashes them for the store.
	Codes CodeSender
	Keys  records.Sealer

	limits limiter // the form's submissions
	tries  limiter // the codes asked for and tried
}

type tokenKey struct{}

// route is one operation: its pattern and who may call it.
type route struct {
	pattern string
	roles   []string
	handle  func(w http.ResponseWriter, r *http.Request, t store.Token)
}

var (
	staff   = []string{store.RoleRequester, store.RoleAuditor, store.RoleAdmin, store.RoleApprover}
	steer   = []string{store.RoleRequester, store.RoleAdmin}
	readers = []string{store.RoleRequester, store.RoleAuditor, store.RoleAdmin}
	decider = []string{store.RoleApprover}
)

func (s *Server) routes() []route {
	return []route{
		{"POST /api/v1/requests", steer, s.start},
		{"GET /api/v1/requests", staff, s.list},
		{"GET /api/v1/requests/{id}", staff, s.show},
		{"POST /api/v1/requests/{id}/verify", steer, s.change},
		{"POST /api/v1/requests/{id}/extend", steer, s.change},
		{"POST /api/v1/requests/{id}/cancel", steer, s.change},
		{"POST /api/v1/requests/{id}/deny", steer, s.change},
		{"POST /api/v1/requests/{id}/retry", steer, s.change},
		{"POST /api/v1/requests/{id}/erase-again", steer, s.change},
		{"POST /api/v1/requests/{id}/confirm", steer, s.change},
		{"POST /api/v1/requests/{id}/identities", steer, s.change},
		{"POST /api/v1/requests/{id}/decisions", decider, s.decide},
		{"POST /api/v1/requests/{id}/tasks/{system}", decider, s.completeTask},
		{"GET /api/v1/requests/{id}/package", steer, s.pkg},
		{"GET /api/v1/requests/{id}/evidence", readers, s.evidence},
		{"GET /api/v1/audit/verify", []string{store.RoleAuditor, store.RoleAdmin}, s.verify},
		{"GET /api/v1/metrics", readers, s.metrics},
		{"GET /api/v1/inbox", staff, s.inbox},
		{"GET /api/v1/dev/mail", steer, s.devMail},
		{"GET /api/v1/suppression", []string{store.RoleSuppression, store.RoleAdmin}, s.suppression},
		{"GET /api/v1/gpc/visitors/{visitor}", []string{store.RoleSuppression, store.RoleAdmin}, s.gpcVisitor},
		{"POST /api/v1/gpc/visitors", []string{store.RoleSuppression, store.RoleAdmin}, s.gpcRelay},
		{"GET /api/v1/me", staff, func(w http.ResponseWriter, r *http.Request, t store.Token) { reply(w, http.StatusOK, t) }},
	}
}

// devMail lists the dev sink's messages, newest first; outside dev mode
// there is no sink and the route answers 404.
func (s *Server) devMail(w http.ResponseWriter, r *http.Request, _ store.Token) {
	if s.DevMail == nil {
		fail(w, http.StatusNotFound, "no mail sink: e-mails go to the SMTP server (dev mode only)")
		return
	}
	msgs := s.DevMail()
	slices.Reverse(msgs)
	if msgs == nil {
		msgs = []mail.Received{}
	}
	reply(w, http.StatusOK, msgs)
}

// Handler serves the API's routes and its OpenAPI document.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/v1/openapi.json", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Write(openAPI)
	})
	for _, rt := range s.routes() {
		mux.Handle(rt.pattern, s.authorize(rt))
	}
	// The privacy center's form: no token, rate limited, unverified.
	mux.HandleFunc("POST /api/v1/public/requests", s.public)
	mux.HandleFunc("POST /api/v1/public/requests/{id}/code", s.resendCode)
	mux.HandleFunc("POST /api/v1/public/requests/{id}/verify", s.verifyCode)
	mux.HandleFunc("POST /api/v1/public/gpc", s.gpcSignal)
	mux.HandleFunc("GET /api/v1/public/requests/{id}/status", s.portalStatus)
	mux.HandleFunc("GET /api/v1/public/requests/{id}/package", s.portalPackage)
	mux.HandleFunc("/api/", func(w http.ResponseWriter, r *http.Request) {
		fail(w, http.StatusNotFound, "no such operation: %s %s (see /api/v1/openapi.json)", r.Method, r.URL.Path)
	})
	return mux
}

// authorize checks the bearer token and the role, and audits every call
// that changes something.
func (s *Server) authorize(rt route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		t, ok := s.authenticate(w, r, rt.roles, rt.pattern)
		if !ok {
			return
		}
		ctx := context.WithValue(r.Context(), tokenKey{}, t)
		// Changes the call makes are signed as the token's holder.
		ctx = claims.As(ctx, claims.Actor{Name: actor(t), Role: t.Role, Channel: "api:" + t.Name})
		rt.handle(w, r.WithContext(ctx), t)
	})
}

// Require guards another handler (OpenDSR's) with the same tokens: the
// token's name goes into the context under key.
func (s *Server) Require(key any, roles ...string) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			t, ok := s.authenticate(w, r, roles, r.Method+" "+r.URL.Path)
			if ok {
				next.ServeHTTP(w, r.WithContext(context.WithValue(r.Context(), key, t.Name)))
			}
		})
	}
}

func (s *Server) authenticate(w http.ResponseWriter, r *http.Request, roles []string, what string) (store.Token, bool) {
	secret, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	if !ok || secret == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="dsr"`)
		fail(w, http.StatusUnauthorized, "an API token is required: Authorization: Bearer <token>")
		return store.Token{}, false
	}
	t, err := s.Store.Authenticate(r.Context(), secret)
	if errors.Is(err, store.ErrUnauthorized) || errors.Is(err, store.ErrExpired) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="dsr", error="invalid_token"`)
		fail(w, http.StatusUnauthorized, "%v", err)
		return t, false
	}
	if err != nil {
		fail(w, http.StatusServiceUnavailable, "cannot check the token now")
		return t, false
	}
	if !slices.Contains(roles, t.Role) {
		fail(w, http.StatusForbidden, "%s %s token may not %s", article(t.Role), t.Role, what)
		return t, false
	}
	if r.Method != http.MethodGet {
		// Audited before it runs, so a call that fails half-way is on record.
		if err := s.Store.AppendAudit(r.Context(), records.AuditEntry{RequestID: r.PathValue("id"), Actor: actor(t),
			Action: "api " + what}); err != nil {
			fail(w, http.StatusServiceUnavailable, "cannot audit the call now, so it is not made")
			return t, false
		}
	}
	return t, true
}

func article(word string) string {
	if strings.ContainsRune("aeiou", rune(word[0])) {
		return "an"
	}
	return "a"
}

// actor is how a token appears in the record.
func actor(t store.Token) string {
	if t.Role == store.RoleApprover {
		return t.Approver
	}
	return "api:" + t.Name
}

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	enc.Encode(v)
}

func fail(w http.ResponseWriter, status int, format string, args ...any) {
	reply(w, status, map[string]string{"error": fmt.Sprintf(format, args...)})
}

// failFor maps the client's errors to statuses.
func failFor(w http.ResponseWriter, err error) {
	var fe *domain.FieldError
	switch {
	case errors.Is(err, requests.ErrNotFound):
		fail(w, http.StatusNotFound, "%v", err)
	case errors.Is(err, requests.ErrIDTaken):
		fail(w, http.StatusConflict, "%v", err)
	case errors.Is(err, requests.ErrRefused):
		fail(w, http.StatusUnprocessableEntity, "%v", err)
	case errors.As(err, &fe):
		fail(w, http.StatusBadRequest, "%v", err)
	default:
		fail(w, http.StatusInternalServerError, "%v", err)
	}
}

// decode reads a JSON body strictly: unknown fields are an error.
func decode(w http.ResponseWriter, r *http.Request, into any) bool {
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	dec.DisallowUnknownFields()
	if err := dec.Decode(into); err != nil {
		fail(w, http.StatusBadRequest, "the body is not the JSON this operation takes: %v", err)
		return false
	}
	return true
}
