package api

import (
	"mime"
	"net/http"
	"regexp"
	"time"

	"github.com/dsrengine/dsr/records"
	"github.com/dsrengine/dsr/store"
)

// visitorID is the site's own identifier of a browser (a first-party
// cookie's value): opaque, of a bounded size.
var visitorID = regexp.MustCompile(`^[A-Za-z0-9._:-]{8,128}$`)

// validVisitor refuses an identifier that is not one, saying what one is.
func validVisitor(w http.ResponseWriter, v string) bool {
	if !visitorID.MatchString(v) {
		fail(w, http.StatusBadRequest, "visitor: must be the site's visitor identifier, 8-128 letters, digits, '.', '_', ':' or '-'")
		return false
	}
	return true
}

// GPCBody names the visitor whose browser sent the signal.
type GPCBody struct {
	Visitor string `json:"visitor"`
}

// GPCAnswer says whether a visitor opted out by Global Privacy Control.
type GPCAnswer struct {
	OptedOut bool `json:"opted_out"`
}

// gpcHash is the keyed hash a visitor identifier is kept as.
func (s *Server) gpcHash(visitor string) string { return s.Keys.Hash("gpc-visitor", visitor) }

// gpcSignal records the Global Privacy Control signal of a browser the
// site knows only by its visitor identifier (CCPA regulations §7025),
// sent by the browser itself from the privacy center's pages: the request
// must carry Sec-GPC: 1, which the browser sets, not the page.
func (s *Server) gpcSignal(w http.ResponseWriter, r *http.Request) {
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		fail(w, http.StatusUnsupportedMediaType, "the page sends application/json")
		return
	}
	if why := s.limits.allow(clientOf(r, s.TrustedProxies), time.Now()); why != "" {
		w.Header().Set("Retry-After", "60")
		fail(w, http.StatusTooManyRequests, "%s; try again in a minute", why)
		return
	}
	s.recordGPC(w, r)
}

// gpcRelay is the same for the site's own servers, which see Sec-GPC on
// every page request and relay it with their visitor identifier, under a
// pipeline's token (so they are not limited as one browser would be).
func (s *Server) gpcRelay(w http.ResponseWriter, r *http.Request, _ store.Token) {
	s.recordGPC(w, r)
}

func (s *Server) recordGPC(w http.ResponseWriter, r *http.Request) {
	if r.Header.Get("Sec-GPC") != "1" {
		fail(w, http.StatusUnprocessableEntity, "the browser sent no Global Privacy Control signal (Sec-GPC: 1): nothing to record")
		return
	}
	var b GPCBody
	if !decode(w, r, &b) {
		return
	}
	if !validVisitor(w, b.Visitor) {
		return
	}
	if _, err := s.Store.RecordGPC(r.Context(), s.gpcHash(b.Visitor), time.Now()); err != nil {
		failFor(w, err)
		return
	}
	reply(w, http.StatusCreated, GPCAnswer{OptedOut: true})
}

// gpcVisitor answers the site's "has this visitor opted out?": yes or no,
// audited by whom and with what answer, never the identifier.
func (s *Server) gpcVisitor(w http.ResponseWriter, r *http.Request, t store.Token) {
	visitor := r.PathValue("visitor")
	if !validVisitor(w, visitor) {
		return
	}
	out, err := s.Store.GPCOptedOut(r.Context(), s.gpcHash(visitor))
	if err != nil {
		failFor(w, err)
		return
	}
	if err := s.Store.AppendAudit(r.Context(), records.AuditEntry{Actor: "api:" + t.Name, Action: "gpc.checked",
		Detail: map[string]any{"opted_out": out}}); err != nil {
		failFor(w, err)
		return
	}
	reply(w, http.StatusOK, GPCAnswer{OptedOut: out})
}
