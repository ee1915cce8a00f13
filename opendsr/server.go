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
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"regexp"
	"strings"
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
	identityKinds = map[string]domain.IdentityKind{"email": domain.Email, "phone_number": domain.Phone, "controller_customer_id": domain.CustomerID}
	requestTypes  = map[string]domain.RequestType{"access": domain.Access, "portability": domain.Portability, "erasure": domain.Erasure}
	uuidV4        = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`)
)

// Handler serves OpenDSR under /opendsr/ and OpenGDPR's older paths; auth
// wraps the endpoints that need an API token.
func (s *Server) Handler(auth func(http.Handler) http.Handler) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /opendsr/discovery", s.discovery)
	mux.HandleFunc("GET /discovery", s.discovery) // OpenGDPR
	mux.HandleFunc("GET /opendsr/cert.pem", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-pem-file")
		w.Write(s.Signer.CertPEM)
	})
	for _, base := range []string{"/opendsr/requests", "/opengdpr_requests"} {
		mux.Handle("POST "+base, auth(http.HandlerFunc(s.create)))
		mux.Handle("GET "+base+"/{id}", auth(http.HandlerFunc(s.status)))
		mux.Handle("DELETE "+base+"/{id}", auth(http.HandlerFunc(s.cancel)))
	}
	return mux
}

func (s *Server) discovery(w http.ResponseWriter, r *http.Request) {
	var ids []map[string]string
	for _, t := range []string{"email", "phone_number", "controller_customer_id"} {
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

func (s *Server) fail(w http.ResponseWriter, r *http.Request, status int, format string, args ...any) {
	s.reply(w, r, status, map[string]any{"error": map[string]any{"code": status, "message": fmt.Sprintf(format, args...)}})
}

// RequestID is the engine's id of a controller's request. It names the
// controller by a hash, so two controllers' ids never meet, and no
// controller can reach another's request by guessing its id.
func RequestID(controller, subjectRequestID string) string {
	sum := sha256.Sum256([]byte(controller))
	return "odsr-" + hex.EncodeToString(sum[:5]) + "-" + subjectRequestID
}

func (s *Server) create(w http.ResponseWriter, r *http.Request) {
	var q Request
	dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20))
	if err := dec.Decode(&q); err != nil {
		s.fail(w, r, http.StatusBadRequest, "the body is not an OpenDSR request: %v", err)
		return
	}
	controller := controllerOf(r)
	in, err := s.input(q, controller, time.Now())
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
		s.fail(w, r, http.StatusConflict, "subject_request_id %s is already used by another request", q.SubjectRequestID)
		return
	}
	if err != nil {
		s.fail(w, r, http.StatusInternalServerError, "%v", err)
		return
	}
	raw, _ := json.Marshal(q)
	s.reply(w, r, http.StatusCreated, map[string]any{
		"controller_id": controller, "subject_request_id": q.SubjectRequestID, "received_time": res.ReceivedAt.UTC().Format(time.RFC3339),
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
		if !ok || (raw.Format != "" && raw.Format != "raw") {
			return workflows.RequestInput{}, fmt.Errorf("subject_identities[%d]: identity_type must be email, phone_number or controller_customer_id in raw format", i)
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
	return Status{ControllerID: o.Controller, SubjectRequestID: o.SubjectRequestID, RequestStatus: MapStatus(v.Status),
		ExpectedCompletionTime: v.DueAt.UTC().Format(time.RFC3339), APIVersion: "2.0"}, nil
}

// MapStatus is OpenDSR's word for a status.
func MapStatus(s domain.Status) string {
	switch s {
	case domain.StatusReceived, domain.StatusVerifying, domain.StatusDiscovery:
		return "pending"
	case domain.StatusCompleted:
		return "completed"
	case domain.StatusCancelled, domain.StatusDenied:
		return "cancelled"
	}
	return "in_progress"
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
		s.fail(w, r, http.StatusConflict, "%v", err)
		return
	}
	s.reply(w, r, http.StatusAccepted, map[string]any{"subject_request_id": o.SubjectRequestID, "received_time": time.Now().UTC().Format(time.RFC3339), "api_version": "2.0"})
}

// RunCallbacks tells controllers each status change, signed, until ctx
// ends; a failed delivery is tried again on the next round.
func (s *Server) RunCallbacks(ctx context.Context, every time.Duration) {
	for {
		if err := s.callbacks(ctx); err != nil && ctx.Err() == nil {
			s.Log.Warn("opendsr callbacks", "error", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
	}
}

func (s *Server) callbacks(ctx context.Context) error {
	pending, err := s.Store.OpenDSRAwaitingCallbacks(ctx)
	if err != nil {
		return err
	}
	for _, o := range pending {
		st, err := s.statusOf(ctx, o)
		if err != nil || st.RequestStatus == o.LastStatus {
			continue
		}
		delivered := true
		for _, cb := range o.Callbacks() {
			st.StatusCallbackURL = cb
			if err := s.post(ctx, cb, st); err != nil {
				s.Log.Warn("opendsr callback not delivered", "request", o.RequestID, "error", err)
				delivered = false
			}
		}
		if delivered {
			if err := s.Store.SetOpenDSRStatus(ctx, o, st.RequestStatus); err != nil {
				return err
			}
		}
	}
	return nil
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
