package opendsr

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"time"

	"go.temporal.io/sdk/client"

	"github.com/dsrengine/dsr/claims"
	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/requests"
	"github.com/dsrengine/dsr/store"
	"github.com/dsrengine/dsr/workflows"
)

// Server serves the processor endpoints.
type Server struct {
	Client client.Client
	Store  *store.Store
	Signer *Signer
	// Domain is this processor's domain, sent in X-OpenDSR-Processor-Domain.
	Domain string
	// BaseURL is where controllers reach the gateway, for the certificate's URL.
	BaseURL string
	Log     *slog.Logger
	// HTTP sends the callbacks (default: callbackClient, which refuses
	// private, loopback and link-local addresses).
	HTTP *http.Client
	// AllowLoopback lets callbacks reach loopback addresses: dev mode and
	// tests, whose controllers run on the same machine.
	AllowLoopback bool
	// GiveUpAfter is how long a callback is retried (default 24 h).
	GiveUpAfter time.Duration
	// Package streams an access or portability request's package to the
	// actor (api.Server.ServePackage); without it there is no results_url.
	Package func(w http.ResponseWriter, r *http.Request, requestID, actor string)

	once     sync.Once
	slots    chan struct{} // deliveries running at once
	inflight sync.Map      // callback ids on their way
}

// Request is an OpenDSR request as a controller sends it.
type Request struct {
	SubjectRequestID   string     `json:"subject_request_id"`
	SubjectRequestType string     `json:"subject_request_type"`
	SubmittedTime      string     `json:"submitted_time"`
	Regulation         string     `json:"regulation"`
	SubjectIdentities  []Identity `json:"subject_identities"`
	APIVersion         string     `json:"api_version"`
	StatusCallbackURLs []string   `json:"status_callback_urls"`
	Extensions         any        `json:"extensions,omitempty"`
}

// Identity is one of the subject's identities.
type Identity struct {
	Type   string `json:"identity_type"`
	Value  string `json:"identity_value"`
	Format string `json:"identity_format"`
}

// Status is what the status endpoint and the callbacks say.
type Status struct {
	ControllerID           string  `json:"controller_id"`
	ExpectedCompletionTime string  `json:"expected_completion_time"`
	SubjectRequestID       string  `json:"subject_request_id"`
	RequestStatus          string  `json:"request_status"`
	APIVersion             string  `json:"api_version"`
	ResultsURL             *string `json:"results_url"`
	StatusCallbackURL      string  `json:"status_callback_url,omitempty"`
}

var (
	// identityKinds are the spec's identity types (section 5.1) that the
	// engine knows; phone_number is none of them.
	identityKinds = map[string]domain.IdentityKind{"email": domain.Email, "controller_customer_id": domain.CustomerID}
	requestTypes  = map[string]domain.RequestType{"access": domain.Access, "portability": domain.Portability, "erasure": domain.Erasure}
	uuidV4        = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
)

// Handler serves OpenDSR under /opendsr/v2/ (the spec's versioned paths),
// under /opendsr/ as before, and OpenGDPR's older paths; auth wraps the
// endpoints that need an API token, and its refusals are answered in the
// spec's error format too.
func (s *Server) Handler(auth func(http.Handler) http.Handler) http.Handler {
	mux := http.NewServeMux()
	for _, base := range []string{"/opendsr", "/opendsr/v2", ""} {
		if base == "" {
			mux.HandleFunc("GET /discovery", s.discovery) // OpenGDPR
		} else {
			mux.HandleFunc("GET "+base+"/discovery", s.discovery)
		}
	}
	cert := func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-pem-file")
		w.Write(s.Signer.CertPEM)
	}
	mux.HandleFunc("GET /opendsr/cert.pem", cert)
	mux.HandleFunc("GET /opendsr/v2/cert.pem", cert)
	for _, base := range []string{"/opendsr/requests", "/opendsr/v2/requests", "/opengdpr_requests"} {
		mux.Handle("POST "+base, s.guard(auth, s.create))
		mux.Handle("GET "+base+"/{id}", s.guard(auth, s.status))
		mux.Handle("DELETE "+base+"/{id}", s.guard(auth, s.cancel))
		mux.Handle("GET "+base+"/{id}/results", s.guard(auth, s.results))
	}
	return noStore(mux)
}

// noStore marks every answer as not to be cached (spec 7.7): they name
// requests about people.
func noStore(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		w.Header().Set("Pragma", "no-cache")
		next.ServeHTTP(w, r)
	})
}

// guard runs auth before the handler; when auth refuses (401, 403), its
// answer is given again in the spec's signed error format.
func (s *Server) guard(auth func(http.Handler) http.Handler, h http.HandlerFunc) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reached := false
		refusal := &captured{header: http.Header{}}
		auth(http.HandlerFunc(func(_ http.ResponseWriter, r2 *http.Request) {
			reached = true
			h(w, r2)
		})).ServeHTTP(refusal, r)
		if reached {
			return
		}
		var body struct {
			Error string `json:"error"`
		}
		json.Unmarshal(refusal.body.Bytes(), &body)
		if v := refusal.header.Get("WWW-Authenticate"); v != "" {
			w.Header().Set("WWW-Authenticate", v)
		}
		s.fail(w, r, refusal.status, "%s", body.Error)
	})
}

// captured holds an answer that is not sent as it is.
type captured struct {
	header http.Header
	status int
	body   bytes.Buffer
}

func (c *captured) Header() http.Header { return c.header }
func (c *captured) WriteHeader(status int) {
	if c.status == 0 {
		c.status = status
	}
}
func (c *captured) Write(b []byte) (int, error) {
	if c.status == 0 {
		c.status = http.StatusOK
	}
	return c.body.Write(b)
}

func (s *Server) discovery(w http.ResponseWriter, r *http.Request) {
	var ids []map[string]string
	for _, t := range []string{"controller_customer_id", "email"} {
		ids = append(ids, map[string]string{"identity_type": t, "identity_format": "raw"})
	}
	s.reply(w, r, http.StatusOK, map[string]any{
		"api_version": "2.0", "supported_identities": ids, "supported_subject_request_types": []string{"access", "portability", "erasure"},
		"processor_certificate": strings.TrimRight(s.BaseURL, "/") + "/opendsr/cert.pem", "supported_status_callbacks": true,
		"supported_regulations": []string{"gdpr", "uk_gdpr", "ccpa", "lgpd"},
	})
}

// reply signs the body, with OpenDSR's and OpenGDPR's headers.
func (s *Server) reply(w http.ResponseWriter, r *http.Request, status int, v any) {
	body, _ := json.Marshal(v)
	sig, err := s.Signer.Sign(body)
	if err == nil {
		prefix := "X-OpenDSR-"
		if strings.HasPrefix(r.URL.Path, "/opengdpr") || r.URL.Path == "/discovery" {
			prefix = "X-OpenGDPR-"
		}
		w.Header().Set(prefix+"Signature", sig)
		w.Header().Set(prefix+"Processor-Domain", s.Domain)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	w.Write(body)
}

// fail answers with the spec's error object (section 7.6): the code, the
// message, and one detail naming the kind of problem. It never names the
// subject.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, status int, format string, args ...any) {
	msg := fmt.Sprintf(format, args...)
	domain, reason := "Validation", "IllegalArgumentException"
	switch status {
	case http.StatusUnauthorized:
		domain, reason = "Authentication", "Unauthorized"
	case http.StatusForbidden:
		domain, reason = "Authorization", "Forbidden"
	case http.StatusNotFound:
		domain, reason = "Request", "NotFound"
	case http.StatusUnsupportedMediaType:
		domain, reason = "Validation", "UnsupportedMediaType"
	}
	if status >= 500 {
		domain, reason = "Processor", "Unavailable"
	}
	s.reply(w, r, status, map[string]any{"error": map[string]any{"code": status, "message": msg,
		"errors": []map[string]string{{"domain": domain, "reason": reason, "message": msg}}}})
}

// RequestID is the engine's id of a controller's request. It names the
// controller by a hash, so two controllers' ids never meet, and no
// controller can reach another's request by guessing its id.
func RequestID(controller, subjectRequestID string) string {
	sum := sha256.Sum256([]byte(controller))
	return "odsr-" + hex.EncodeToString(sum[:5]) + "-" + subjectRequestID
}

func (s *Server) create(w http.ResponseWriter, r *http.Request) {
	received := time.Now().UTC()
	raw, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 1<<20))
	if err != nil {
		s.fail(w, r, http.StatusBadRequest, "the body cannot be read: %v", err)
		return
	}
	q, err := parseRequest(raw)
	if err != nil {
		s.fail(w, r, http.StatusBadRequest, "the body is not an OpenDSR request: %v", err)
		return
	}
	controller := controllerOf(r)
	in, err := s.input(q, controller, received)
	if err != nil {
		s.fail(w, r, http.StatusBadRequest, "%v", err)
		return
	}
	for _, cb := range q.StatusCallbackURLs {
		if err := checkCallback(cb, s.AllowLoopback); err != nil {
			s.fail(w, r, http.StatusBadRequest, "status_callback_urls: %v", err)
			return
		}
	}
	if err := s.Store.AddOpenDSR(r.Context(), store.OpenDSRRequest{SubjectRequestID: q.SubjectRequestID, RequestID: in.RequestID,
		Controller: controller}, q.StatusCallbackURLs); err != nil {
		s.fail(w, r, http.StatusServiceUnavailable, "cannot record the request now")
		return
	}
	res, err := requests.Start(r.Context(), s.Client, in)
	if errors.Is(err, requests.ErrIDTaken) {
		// The spec answers every error about a request's content with 400.
		s.fail(w, r, http.StatusBadRequest, "subject_request_id %s is already used by another request", q.SubjectRequestID)
		return
	}
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, "%v", err)
		return
	}
	// received_time is this processor's receipt; the body comes back as
	// it was sent, byte for byte, in encoded_request.
	s.reply(w, r, http.StatusCreated, map[string]any{
		"controller_id": controller, "subject_request_id": q.SubjectRequestID, "received_time": received.Format(time.RFC3339),
		"expected_completion_time": res.DueAt.UTC().Format(time.RFC3339), "encoded_request": base64.StdEncoding.EncodeToString(raw), "api_version": "2.0",
	})
}

// input maps an OpenDSR request to the workflow's input; the identities
// are normalized and checked as any others.
func (s *Server) input(q Request, controller string, now time.Time) (workflows.RequestInput, error) {
	if !uuidV4.MatchString(q.SubjectRequestID) {
		return workflows.RequestInput{}, errors.New("subject_request_id must be a lowercase v4 UUID")
	}
	t, ok := requestTypes[q.SubjectRequestType]
	if !ok {
		return workflows.RequestInput{}, fmt.Errorf("subject_request_type %q: must be access, portability or erasure", q.SubjectRequestType)
	}
	f := requests.Form{ID: RequestID(controller, q.SubjectRequestID), Type: string(t), Regulation: q.Regulation, Received: q.SubmittedTime,
		// The controller verified the subject before sending the request.
		RequestedBy: Actor(controller), IdentityVerified: true}
	for i, raw := range q.SubjectIdentities {
		kind, ok := identityKinds[raw.Type]
		if !ok || raw.Format != "raw" {
			return workflows.RequestInput{}, fmt.Errorf("subject_identities[%d]: identity_type must be email or controller_customer_id, with identity_format raw (required)", i)
		}
		f.Identities = append(f.Identities, requests.FormIdentity{Kind: string(kind), Value: raw.Value})
	}
	if q.SubmittedTime == "" {
		return workflows.RequestInput{}, errors.New("submitted_time is required")
	}
	return requests.NewInput(f, fieldNames, now)
}

// fieldNames are OpenDSR's names of a request's fields, for errors.
var fieldNames = requests.Names{
	Fields: map[string]string{"type": "subject_request_type", "received": "submitted_time", "identities": "subject_identities", "id": "subject_request_id"},
	Identity: func(i int, kind string) string {
		return fmt.Sprintf("subject_identities[%d]: %s", i, kind)
	},
}

// checkCallback accepts https URLs, and http on loopback where loopback
// is allowed (tests, dev). A host given as an address is checked here; a
// name is checked on every connection, after DNS (callbackClient).
func checkCallback(raw string, allowLoopback bool) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" || u.User != nil {
		return fmt.Errorf("%q is not an absolute URL without credentials", raw)
	}
	host := u.Hostname()
	ip := net.ParseIP(host)
	if ip != nil {
		if why := blocked(ip, allowLoopback); why != "" {
			return fmt.Errorf("%q points at %s", raw, why)
		}
	}
	local := host == "localhost" || strings.HasSuffix(host, ".localhost") || (ip != nil && ip.IsLoopback())
	switch {
	case local && !allowLoopback:
		return fmt.Errorf("%q points at this machine", raw)
	case u.Scheme == "https":
		return nil
	case u.Scheme == "http" && local:
		return nil
	}
	return fmt.Errorf("%q must use https", raw)
}

// ControllerKey carries the controller's name (the API token's) in a
// request's context.
type ControllerKey struct{}

func controllerOf(r *http.Request) string {
	name, _ := r.Context().Value(ControllerKey{}).(string)
	return name
}

// Actor is how a controller appears in a request's record, and whom the
// request's workflow lets cancel it.
func Actor(controller string) string { return "opendsr:" + controller }

func (s *Server) status(w http.ResponseWriter, r *http.Request) {
	o, err := s.Store.OpenDSR(r.Context(), controllerOf(r), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, http.StatusNotFound, "%v", err)
		return
	}
	st, err := s.statusOf(r.Context(), o)
	if err != nil {
		s.fail(w, r, http.StatusNotFound, "%v", err)
		return
	}
	s.reply(w, r, http.StatusOK, st)
}

func (s *Server) statusOf(ctx context.Context, o store.OpenDSRRequest) (Status, error) {
	v, err := requests.Show(ctx, s.Client, o.RequestID)
	if err != nil {
		return Status{}, err
	}
	status := store.OpenDSRStatus(v.Status)
	if v.Workflow != "" && v.Workflow != "Running" && v.Workflow != "Completed" && v.Workflow != "ContinuedAsNew" {
		// Temporal ended it (terminated, timed out, failed): it will never
		// be fulfilled, and the spec has one word for that.
		status = "cancelled"
	}
	st := Status{ControllerID: o.Controller, SubjectRequestID: o.SubjectRequestID, RequestStatus: status,
		ExpectedCompletionTime: v.DueAt.UTC().Format(time.RFC3339), APIVersion: "2.0"}
	if v.Package != "" && s.Package != nil {
		// The controller fetches the answer itself, with its own token.
		u := strings.TrimRight(s.BaseURL, "/") + "/opendsr/v2/requests/" + o.SubjectRequestID + "/results"
		st.ResultsURL = &u
	}
	return st, nil
}

// results serves an access or portability request's package to the
// controller that sent the request; another controller's id is not found.
func (s *Server) results(w http.ResponseWriter, r *http.Request) {
	o, err := s.Store.OpenDSR(r.Context(), controllerOf(r), r.PathValue("id"))
	if err != nil || s.Package == nil {
		s.fail(w, r, http.StatusNotFound, "no results for request %s", r.PathValue("id"))
		return
	}
	s.Package(w, r, o.RequestID, Actor(o.Controller))
}

func (s *Server) cancel(w http.ResponseWriter, r *http.Request) {
	o, err := s.Store.OpenDSR(r.Context(), controllerOf(r), r.PathValue("id"))
	if err != nil {
		s.fail(w, r, http.StatusNotFound, "%v", err)
		return
	}
	ctx := claims.As(r.Context(), claims.Actor{Name: Actor(o.Controller), Role: claims.RoleController, Channel: "opendsr"})
	err = requests.Cancel(ctx, s.Client, o.RequestID, workflows.Closure{Reason: "cancelled by the controller"})
	if err != nil && !errors.Is(err, requests.ErrRefused) {
		s.fail(w, r, http.StatusInternalServerError, "%v", err)
		return
	}
	if err != nil {
		s.fail(w, r, http.StatusBadRequest, "%v", err)
		return
	}
	s.reply(w, r, http.StatusAccepted, map[string]any{"controller_id": o.Controller, "subject_request_id": o.SubjectRequestID,
		"received_time": time.Now().UTC().Format(time.RFC3339), "api_version": "2.0"})
}

// RunCallbacks delivers the queued callbacks until ctx ends, looking
// every `every`. Each callback is one status change for one URL, queued
// with the change itself; a URL that fails is retried on its own with
// exponential backoff and given up after GiveUpAfter, while the other URLs
// and requests go on, at most `parallel` deliveries at a time.
func (s *Server) RunCallbacks(ctx context.Context, every time.Duration) {
	for {
		if err := s.deliver(ctx); err != nil && ctx.Err() == nil {
			s.Log.Warn("opendsr callbacks", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}

const (
	parallel       = 4
	firstBackoff   = 30 * time.Second
	longestBackoff = time.Hour
)

// deliver starts the due callbacks that are not already on their way, up
// to `parallel` at once, and returns without waiting for them: a URL that
// hangs holds one slot until its timeout, never the round.
func (s *Server) deliver(ctx context.Context) error {
	s.once.Do(func() { s.slots = make(chan struct{}, parallel) })
	due, err := s.Store.DueCallbacks(ctx, 100)
	if err != nil {
		return err
	}
	giveUp := s.GiveUpAfter
	if giveUp <= 0 {
		giveUp = 24 * time.Hour
	}
	for _, cb := range due {
		if _, busy := s.inflight.LoadOrStore(cb.ID, true); busy {
			continue
		}
		select {
		case s.slots <- struct{}{}:
		default:
			s.inflight.Delete(cb.ID)
			return nil // all slots busy: the rest go next round
		}
		go func() {
			defer func() { <-s.slots; s.inflight.Delete(cb.ID) }()
			s.deliverOne(ctx, cb, giveUp)
		}()
	}
	return nil
}

func (s *Server) deliverOne(ctx context.Context, cb store.Callback, giveUp time.Duration) {
	st := Status{ControllerID: cb.Controller, SubjectRequestID: cb.SubjectRequestID, RequestStatus: cb.Status, APIVersion: "2.0", StatusCallbackURL: cb.URL}
	for _, due := range []*time.Time{cb.DueAt, cb.ExtendedDueAt} {
		if due != nil {
			st.ExpectedCompletionTime = due.UTC().Format(time.RFC3339)
		}
	}
	err := s.post(ctx, cb.URL, st)
	if err == nil {
		if err := s.Store.CallbackDelivered(ctx, cb.ID); err != nil {
			s.Log.Warn("opendsr callback sent but not recorded", "request", cb.RequestID, "error", err)
		}
		return
	}
	if ctx.Err() != nil {
		return // shutting down: the callback is still due
	}
	wait := min(firstBackoff<<min(cb.Attempts, 10), longestBackoff)
	quit := time.Since(cb.CreatedAt)+wait > giveUp
	if quit {
		s.Log.Error("opendsr callback given up", "request", cb.RequestID, "status", cb.Status, "attempts", cb.Attempts+1, "error", err)
	} else {
		s.Log.Warn("opendsr callback not delivered", "request", cb.RequestID, "status", cb.Status, "error", err)
	}
	if err := s.Store.CallbackFailed(ctx, cb.ID, time.Now().Add(wait), err.Error(), quit); err != nil {
		s.Log.Warn("opendsr callback failure not recorded", "request", cb.RequestID, "error", err)
	}
}

func (s *Server) post(ctx context.Context, cb string, st Status) error {
	body, _ := json.Marshal(st)
	sig, err := s.Signer.Sign(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, cb, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-OpenDSR-Signature", sig)
	req.Header.Set("X-OpenDSR-Processor-Domain", s.Domain)
	hc := s.HTTP
	if hc == nil {
		hc = callbackClient(s.AllowLoopback)
	}
	resp, err := hc.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode/100 != 2 {
		return fmt.Errorf("callback answered %s", resp.Status)
	}
	return nil
}

// parseRequest reads a request body: one JSON object and nothing after it.
func parseRequest(raw []byte) (Request, error) {
	var q Request
	dec := json.NewDecoder(bytes.NewReader(raw))
	if err := dec.Decode(&q); err != nil {
		return q, err
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return q, errors.New("data after the JSON object")
	}
	return q, nil
}
