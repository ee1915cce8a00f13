package api

import (
	"crypto/rand"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/requests"
	"github.com/dsrengine/dsr/store"
)

// SessionValidity is how long a portal session opened by a code lasts:
// long enough to read the status and download, short enough that a
// forgotten browser tab does not keep the door open.
const SessionValidity = 30 * time.Minute

// PortalSession is the answer to a matching code.
type PortalSession struct {
	// Verified says the request is verified (by this code or before).
	Verified  bool      `json:"verified"`
	Session   string    `json:"session"`
	ExpiresAt time.Time `json:"expires_at"`
}

// PortalStatus is what the subject is shown of their request: its state
// and deadline, never the data or the staff's work on it.
type PortalStatus struct {
	ID         string             `json:"id"`
	Type       domain.RequestType `json:"type"`
	Regulation domain.Regulation  `json:"regulation"`
	Status     domain.Status      `json:"status"`
	// Stage says the status in words.
	Stage            string             `json:"stage"`
	ReceivedAt       time.Time          `json:"received_at"`
	DueAt            time.Time          `json:"due_at"`
	Extensions       []domain.Extension `json:"extensions,omitempty"`
	IdentityVerified bool               `json:"identity_verified"`
	Package          *PortalPackage     `json:"package,omitempty"`
}

// PortalPackage is the download on offer.
type PortalPackage struct {
	ExpiresAt     time.Time `json:"expires_at"`
	DownloadsLeft int       `json:"downloads_left"`
	// Available is false once the link expired or was used up.
	Available bool   `json:"available"`
	Why       string `json:"why,omitempty"`
}

// stages says each status as the subject reads it.
var stages = map[domain.Status]string{
	domain.StatusReceived:        "received",
	domain.StatusVerifying:       "waiting for you to confirm that the request is yours",
	domain.StatusDiscovery:       "we are finding your data in our systems",
	domain.StatusAwaitingSignOff: "our teams are reviewing the request",
	domain.StatusFulfilling:      "we are carrying out the request",
	domain.StatusAnswering:       "we are preparing the answer",
	domain.StatusNeedsAttention:  "in progress: one of our systems needs our attention",
	domain.StatusCompleted:       "completed",
	domain.StatusDenied:          "closed without being carried out: our e-mail gave the reason",
	domain.StatusCancelled:       "cancelled",
}

// openSession opens a portal session for a request whose code matched.
func (s *Server) openSession(w http.ResponseWriter, r *http.Request, id string, verified bool) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		fail(w, http.StatusInternalServerError, "no session could be opened; try again")
		return
	}
	token := "dsrp_" + base64.RawURLEncoding.EncodeToString(b)
	now := time.Now().UTC()
	if err := s.Store.OpenSession(r.Context(), s.sessionHash(token), id, now, now.Add(SessionValidity)); err != nil {
		s.Log.Error("portal session", "request", id, "error", err)
		fail(w, http.StatusInternalServerError, "no session could be opened; try again")
		return
	}
	reply(w, http.StatusOK, PortalSession{Verified: verified, Session: token, ExpiresAt: now.Add(SessionValidity)})
}

func (s *Server) sessionHash(token string) string { return s.Keys.Hash("portal-session", token) }

// session is the request the caller's portal session was opened for, if
// it is the request of the path: a session reaches its own request only.
func (s *Server) session(w http.ResponseWriter, r *http.Request) (string, bool) {
	token, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer ")
	id := r.PathValue("id")
	if ok && strings.HasPrefix(token, "dsrp_") {
		got, err := s.Store.SessionRequest(r.Context(), s.sessionHash(token), time.Now().UTC())
		if err == nil && got == id {
			return id, true
		}
		if err != nil && !errors.Is(err, store.ErrNoSession) {
			s.Log.Error("portal session", "error", err)
			fail(w, http.StatusServiceUnavailable, "the session cannot be checked now; try again")
			return "", false
		}
	}
	w.Header().Set("WWW-Authenticate", `Bearer realm="dsr-portal"`)
	fail(w, http.StatusUnauthorized, "%v", store.ErrNoSession)
	return "", false
}

// portalStatus shows the subject their request.
func (s *Server) portalStatus(w http.ResponseWriter, r *http.Request) {
	id, ok := s.session(w, r)
	if !ok {
		return
	}
	v, err := requests.Show(r.Context(), s.Client, id)
	if err != nil {
		failFor(w, err)
		return
	}
	out := PortalStatus{ID: id, Type: v.Type, Regulation: v.Regulation, Status: v.Status, Stage: stages[v.Status],
		ReceivedAt: v.ReceivedAt, DueAt: v.DueAt, Extensions: v.Extensions, IdentityVerified: v.IdentityVerified}
	if v.Package != "" {
		d, err := s.Store.GetDownload(r.Context(), id)
		switch {
		case errors.Is(err, store.ErrNoDownload):
		case err != nil:
			failFor(w, err)
			return
		default:
			p := &PortalPackage{ExpiresAt: d.ExpiresAt, DownloadsLeft: max(d.MaxUses-d.Uses, 0), Available: true}
			switch {
			case d.PurgedAt != nil || !time.Now().Before(d.ExpiresAt):
				p.Available, p.Why, p.DownloadsLeft = false, store.ErrDownloadExpired.Error(), 0
			case p.DownloadsLeft == 0:
				p.Available, p.Why = false, store.ErrDownloadUsedUp.Error()
			}
			out.Package = p
		}
	}
	reply(w, http.StatusOK, out)
}

// portalPackage lets the subject download their package, counting a use.
func (s *Server) portalPackage(w http.ResponseWriter, r *http.Request) {
	id, ok := s.session(w, r)
	if !ok {
		return
	}
	s.servePackage(w, r, id, func() error {
		err := s.Store.TakeDownload(r.Context(), id, "subject", time.Now().UTC())
		switch {
		case errors.Is(err, store.ErrDownloadExpired), errors.Is(err, store.ErrDownloadUsedUp):
			fail(w, http.StatusGone, "%v", err)
		case errors.Is(err, store.ErrNoDownload):
			fail(w, http.StatusNotFound, "%v", err)
		case err != nil:
			s.Log.Error("portal download", "request", id, "error", err)
			fail(w, http.StatusServiceUnavailable, "cannot record the download now, so it is not made")
		}
		return err
	})
}
