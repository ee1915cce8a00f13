package api

import (
	"context"
	"mime"
	"net/http"
	"time"

	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/requests"
	"github.com/dsrengine/dsr/workflows"
)

// PublicBody is what a data subject sends from the privacy center.
type PublicBody struct {
	Type        string `json:"type"`
	Regulation  string `json:"regulation"`
	Email       string `json:"email"`
	Phone       string `json:"phone"`
	CustomerID  string `json:"customer_id"`
	Declaration bool   `json:"declaration"` // "this request is about me"
	// Corrections are a rectification's fields and new values.
	Corrections []domain.Correction `json:"corrections"`
	// Purposes, Grounds, Lift and DirectMarketing are a restriction's or
	// an objection's (see domain.Scope).
	Purposes        []string `json:"purposes"`
	Grounds         string   `json:"grounds"`
	Lift            bool     `json:"lift"`
	DirectMarketing bool     `json:"direct_marketing"`
}

// PublicReceipt is all the subject is told: the request's id and
// deadline, and how their identity will be verified.
type PublicReceipt struct {
	ID    string    `json:"id"`
	DueAt time.Time `json:"due_at"`
	// CodeSent says a one-time code went to the e-mail address given;
	// otherwise the privacy team verifies the subject by hand.
	CodeSent bool `json:"code_sent"`
	// NoVerification says the request needs none: the CCPA forbids asking
	// for it before an opt-out or a limit.
	NoVerification bool `json:"no_verification,omitempty"`
	// OptOut is the opt-out of sale and sharing that the browser's Global
	// Privacy Control signal started, besides the request itself.
	OptOut string `json:"opt_out,omitempty"`
}

// Channels of the privacy center's requests, for the evidence.
const (
	channelPrivacyCenter = "privacy center"
	channelGPC           = "Global Privacy Control"
)

// public takes a request from the privacy center. It starts unverified:
// compliance verifies the subject before anything is read or erased. The
// answer says nothing about other requests or the subject's data.
func (s *Server) public(w http.ResponseWriter, r *http.Request) {
	// Only a JSON post: a cross-site form can send text/plain without the
	// browser asking first, JSON it cannot.
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		fail(w, http.StatusUnsupportedMediaType, "the form sends application/json")
		return
	}
	if s.Challenge != nil {
		if err := s.Challenge(r); err != nil {
			fail(w, http.StatusForbidden, "%v", err)
			return
		}
	}
	if why := s.limits.allow(clientOf(r, s.TrustedProxies), time.Now()); why != "" {
		w.Header().Set("Retry-After", "60")
		fail(w, http.StatusTooManyRequests, "%s; try again in a minute", why)
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
	gpc := r.Header.Get("Sec-GPC") == "1"
	start := StartBody{Type: b.Type, Regulation: b.Regulation, Corrections: b.Corrections}
	for _, id := range []IdentityBody{{"email", b.Email}, {"phone", b.Phone}, {"customer_id", b.CustomerID}} {
		if id.Value != "" {
			start.Identities = append(start.Identities, id)
		}
	}
	t, _ := domain.ParseRequestType(b.Type)
	if t.Scoped() || len(b.Purposes) > 0 || b.Grounds != "" || b.Lift || b.DirectMarketing {
		start.Scope = &domain.Scope{Purposes: b.Purposes, Grounds: b.Grounds, Lift: b.Lift, DirectMarketing: b.DirectMarketing}
		if t == domain.OptOut || t == domain.LimitSensitive || t == domain.Objection {
			start.Scope.Channel = channelPrivacyCenter
			if gpc && t == domain.OptOut {
				start.Scope.Channel = channelGPC
			}
		}
	}
	now := time.Now()
	in, err := start.Input(workflows.PrivacyCenter, now)
	if err != nil {
		fail(w, http.StatusBadRequest, "%v", err)
		return
	}
	// The browser's Global Privacy Control signal is an opt-out of sale
	// and sharing (CCPA regulations §7025): with the identities the form
	// gave, it starts one besides the request, unless the request is one.
	var optOut workflows.RequestInput
	if gpc && in.Type != domain.OptOut {
		o := StartBody{Type: string(domain.OptOut), Regulation: string(domain.CCPA), Identities: start.Identities,
			Scope: &domain.Scope{Channel: channelGPC}}
		if optOut, err = o.Input(workflows.PrivacyCenter, now); err != nil {
			fail(w, http.StatusBadRequest, "%v", err)
			return
		}
	}
	if _, err := requests.Start(r.Context(), s.Client, in); err != nil {
		failFor(w, err)
		return
	}
	receipt := PublicReceipt{ID: in.RequestID, DueAt: in.DueAt, NoVerification: in.Type.WithoutVerification()}
	if optOut.RequestID != "" {
		if _, err := requests.Start(r.Context(), s.Client, optOut); err != nil {
			// The request itself stands. The receipt names no opt-out, and
			// the browser sends the signal again with its next form.
			s.Log.Error("opt-out from Global Privacy Control", "request", in.RequestID, "error", err)
		} else {
			receipt.OptOut = optOut.RequestID
		}
	}
	if receipt.NoVerification {
		reply(w, http.StatusCreated, receipt)
		return
	}
	// Its own id and deadline, whatever else exists: an unverified request
	// is checked for duplicates only once its sender is verified.
	sent := false
	if s.Codes != nil && b.Email != "" {
		// The request is recorded by its workflow's first step: wait for it,
		// since the code is sent to the address kept with the record.
		// Bounded: with the workers away the subject is answered anyway, with
		// no code, and the privacy team verifies them by hand.
		ctx, cancel := context.WithTimeout(r.Context(), 15*time.Second)
		defer cancel()
		if _, err := requests.Admitted(ctx, s.Client, in.RequestID); err != nil {
			s.Log.Error("verification code", "request", in.RequestID, "error", err)
		} else if err := s.sendCode(r.Context(), in.RequestID); err != nil {
			s.Log.Error("verification code", "request", in.RequestID, "error", err)
		} else {
			sent = true
		}
	}
	receipt.CodeSent = sent
	reply(w, http.StatusCreated, receipt)
}
