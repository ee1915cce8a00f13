package api

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"math/big"
	"mime"
	"net/http"
	"time"

	"github.com/dsrengine/dsr/claims"
	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/records"
	"github.com/dsrengine/dsr/requests"
	"github.com/dsrengine/dsr/store"
	"github.com/dsrengine/dsr/workflows"
)

// CodeSender e-mails a one-time code to the address a request was made
// with (*mail.Notifier).
type CodeSender interface {
	SendCode(ctx context.Context, requestID, code string) error
}

// CodeValidity is how long a verification code may be used.
const CodeValidity = 30 * time.Minute

// VerifyMethod is how a request verified with a code says it was.
const VerifyMethod = "one-time code sent to the e-mail address given on the privacy center"

// CodeBody is what the subject enters.
type CodeBody struct {
	Code string `json:"code"`
}

// ErrNoAddress is a request with no e-mail address to send a code to.
var ErrNoAddress = errors.New("the request has no e-mail address to send a code to: the privacy team will verify your identity")

// sendCode makes a new code for a request, keeps its keyed hash and
// e-mails it; a request without an address gets no code, and no record
// of one.
func (s *Server) sendCode(ctx context.Context, requestID string) error {
	if _, err := s.Store.Contact(ctx, s.Keys, requestID); errors.Is(err, records.ErrNotFound) {
		return ErrNoAddress
	} else if err != nil {
		return err
	}
	n, err := rand.Int(rand.Reader, big.NewInt(1_000_000))
	if err != nil {
		return err
	}
	code := fmt.Sprintf("%06d", n.Int64())
	now := time.Now().UTC()
	if err := s.Store.NewCode(ctx, requestID, s.Keys.Hash("verification-code:"+requestID, code), now, now.Add(CodeValidity)); err != nil {
		return err
	}
	return s.Codes.SendCode(ctx, requestID, code)
}

// codeRequest is the request a code is sent or checked for: any request
// made with an e-mail address, since the code goes to that address only.
// It also says whether the code verifies the request: only a
// privacy-center request still waiting for its subject is verified so.
func (s *Server) codeRequest(w http.ResponseWriter, r *http.Request) (id string, verifies, verified, ok bool) {
	if s.Codes == nil {
		fail(w, http.StatusNotFound, "this privacy center sends no codes: the privacy team will contact you to verify your identity")
		return "", false, false, false
	}
	if mt, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); mt != "application/json" {
		fail(w, http.StatusUnsupportedMediaType, "the form sends application/json")
		return "", false, false, false
	}
	if why := s.tries.allow(clientOf(r, s.TrustedProxies), time.Now()); why != "" {
		w.Header().Set("Retry-After", "60")
		fail(w, http.StatusTooManyRequests, "%s; try again in a minute", why)
		return "", false, false, false
	}
	id = r.PathValue("id")
	// The same answer for a request that does not exist and for one with
	// no address: it tells nothing about other people's requests.
	var v requests.View
	rec, err := s.Store.GetRequest(r.Context(), id)
	if err == nil {
		_, err = s.Store.Contact(r.Context(), s.Keys, id)
	}
	if err == nil {
		v, err = requests.Show(r.Context(), s.Client, id)
	}
	if err != nil {
		if !errors.Is(err, requests.ErrNotFound) && !errors.Is(err, records.ErrNotFound) {
			s.Log.Error("code request", "request", id, "error", err)
		}
		fail(w, http.StatusNotFound, "no request %s can be reached with a code: check the request number in our e-mail", id)
		return "", false, false, false
	}
	waiting := v.Status == domain.StatusReceived || v.Status == domain.StatusVerifying
	verifies = rec.RequestedBy == workflows.PrivacyCenter && !v.IdentityVerified && waiting
	return id, verifies, v.IdentityVerified, true
}

// resendCode sends a new code, replacing the last.
func (s *Server) resendCode(w http.ResponseWriter, r *http.Request) {
	id, _, _, ok := s.codeRequest(w, r)
	if !ok {
		return
	}
	if err := s.sendCode(r.Context(), id); err != nil {
		s.codeFailed(w, id, err)
		return
	}
	reply(w, http.StatusAccepted, map[string]string{"sent": "a new code was sent to the e-mail address given; it is valid for 30 minutes"})
}

// verifyCode checks the subject's code. When it matches, it verifies a
// privacy-center request still waiting for that, with the subject's
// signed claim for this request only, and opens a portal session in which
// the subject follows the request and downloads its answer.
func (s *Server) verifyCode(w http.ResponseWriter, r *http.Request) {
	id, verifies, verified, ok := s.codeRequest(w, r)
	if !ok {
		return
	}
	var b CodeBody
	if !decode(w, r, &b) {
		return
	}
	if err := s.Store.CheckCode(r.Context(), id, s.Keys.Hash("verification-code:"+id, b.Code), time.Now().UTC()); err != nil {
		s.codeFailed(w, id, err)
		return
	}
	if verifies {
		subject := claims.As(r.Context(), claims.Actor{Name: "subject", Role: claims.RoleSubject, Channel: workflows.PrivacyCenter})
		if err := requests.VerifyIdentity(subject, s.Client, id, workflows.Verification{Method: VerifyMethod}); err != nil {
			failFor(w, err)
			return
		}
		verified = true
	}
	s.openSession(w, r, id, verified)
}

func (s *Server) codeFailed(w http.ResponseWriter, id string, err error) {
	switch {
	case errors.Is(err, store.ErrCodeWrong):
		fail(w, http.StatusBadRequest, "%v", err)
	case errors.Is(err, store.ErrCodeExpired), errors.Is(err, store.ErrCodeUsedUp), errors.Is(err, store.ErrNoCode):
		fail(w, http.StatusGone, "%v", err)
	case errors.Is(err, ErrNoAddress):
		fail(w, http.StatusNotFound, "%v", err)
	case errors.Is(err, store.ErrCodeTooSoon):
		w.Header().Set("Retry-After", "60")
		fail(w, http.StatusTooManyRequests, "%v", err)
	default:
		s.Log.Error("verification code", "request", id, "error", err)
		fail(w, http.StatusInternalServerError, "the code could not be sent or checked; try again later")
	}
}
