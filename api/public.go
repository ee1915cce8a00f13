package api

import (
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/dsrengine/dsr/requests"
)

// PublicBody is what a data subject sends from the privacy center.
type PublicBody struct {
	Type        string `json:"type"`
	Regulation  string `json:"regulation"`
	Email       string `json:"email"`
	Phone       string `json:"phone"`
	CustomerID  string `json:"customer_id"`
	Declaration bool   `json:"declaration"` // "this request is about me"
}

// PublicReceipt is all the subject is told: the request's id and deadline.
type PublicReceipt struct {
	ID    string    `json:"id"`
	DueAt time.Time `json:"due_at"`
}

// limiter allows each address a few submissions a minute: the form needs
// no token, so it must not let anyone flood the engine.
type limiter struct {
	mu   sync.Mutex
	seen map[string][]time.Time
}

func (l *limiter) allow(addr string, now time.Time) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.seen == nil {
		l.seen = map[string][]time.Time{}
	}
	recent := l.seen[addr][:0]
	for _, t := range l.seen[addr] {
		if now.Sub(t) < time.Minute {
			recent = append(recent, t)
		}
	}
	if len(recent) >= 5 {
		l.seen[addr] = recent
		return false
	}
	l.seen[addr] = append(recent, now)
	return true
}

// public takes a request from the privacy center. It starts unverified:
// compliance verifies the subject before anything is read or erased. The
// answer says nothing about other requests or the subject's data.
func (s *Server) public(w http.ResponseWriter, r *http.Request) {
	host, _, _ := net.SplitHostPort(r.RemoteAddr)
	if !s.limits.allow(host, time.Now()) {
		w.Header().Set("Retry-After", "60")
		fail(w, http.StatusTooManyRequests, "too many requests from this address; try again in a minute")
		return
	}
	var b PublicBody
	if !decode(w, r, &b) {
		return
	}
	if !b.Declaration {
		fail(w, http.StatusBadRequest, "declaration: confirm that the request is about you")
		return
	}
	start := StartBody{Type: b.Type, Regulation: b.Regulation}
	for _, id := range []IdentityBody{{"email", b.Email}, {"phone", b.Phone}, {"customer_id", b.CustomerID}} {
		if id.Value != "" {
			start.Identities = append(start.Identities, id)
		}
	}
	in, err := start.Input("privacy-center", time.Now())
	if err != nil {
		fail(w, http.StatusBadRequest, "%v", err)
		return
	}
	if _, err := requests.Start(r.Context(), s.Client, in); err != nil {
		failFor(w, err)
		return
	}
	// Its own id and deadline, whatever else exists: an unverified request
	// is checked for duplicates only once its sender is verified.
	reply(w, http.StatusCreated, PublicReceipt{ID: in.RequestID, DueAt: in.DueAt})
}
