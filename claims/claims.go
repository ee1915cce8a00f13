// Package claims proves, inside a request's workflow, who made a change.
//
// Every Update that changes a request carries a Claim: the actor as the
// engine's channel authenticated them (an API token, a Slack user, the CLI
// holding the master key, an OpenDSR controller), their role, the
// operation, the request, the Update's id and the time, and a digest of
// the Update's arguments, all signed with a key derived from the master
// key. The client interceptor signs; the worker interceptor checks the
// signature before the workflow's own validator runs, and refuses any
// change whose claim is missing, forged, stale, or made for another
// request or another Update. The validators then read the checked claim
// to decide whether that actor and role may make that change.
//
// A client that reaches the Temporal namespace without the master key
// cannot sign, and (the codec refusing plain payloads) cannot even deliver
// an argument.
package claims

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"time"
)

// Roles a claim can carry. API tokens have the first five; the CLI acts
// as admin, since it holds the master key; a Slack click is an approver's.
const (
	RoleRequester  = "requester"  // compliance: starts and steers requests
	RoleApprover   = "approver"   // decides for their departments
	RoleAuditor    = "auditor"    // reads; changes nothing
	RoleAdmin      = "admin"      // what requesters and auditors do
	RoleController = "controller" // an OpenDSR controller: its own requests only
	// RoleSuppression is a company pipeline (a marketing import, a CRM
	// sync) that asks whether an identity is on the suppression list, and
	// nothing else.
	RoleSuppression = "suppression"
	// RoleSubject is a data subject who proved the address of their own
	// request with a one-time code. Only the gateway signs it, for that
	// request and its verification alone; no token carries it.
	RoleSubject = "subject"
)

// Roles lists every role a token may have (not RoleSubject).
var Roles = []string{RoleRequester, RoleApprover, RoleAuditor, RoleAdmin, RoleController, RoleSuppression}

// MaxAge is how far a claim's time may be from the workflow's clock. A
// claim is made just before its Update is sent, so only clock skew
// between machines needs room; the Update's id binds it to one delivery.
const MaxAge = 5 * time.Minute

// Actor is who makes a change, as the channel authenticated them.
type Actor struct {
	// Name is the person or system: an approver as the data map lists
	// them (e-mail or Slack user id), "api:<token name>", "cli:<user>",
	// "opendsr:<controller>".
	Name string `json:"name"`
	Role string `json:"role"`
	// Channel is where the change came from, for the record: "slack:U123",
	// "api token <name>", "cli:<user>@<host>".
	Channel string `json:"channel"`
}

// Claim is an Actor's signed statement that they make one change.
type Claim struct {
	Actor
	Op       string    `json:"op"`
	Workflow string    `json:"workflow"`
	Update   string    `json:"update"`
	IssuedAt time.Time `json:"issued_at"`
	// Digest is the SHA-256 of the Update's arguments without the claim.
	Digest string `json:"digest"`
	Sig    string `json:"sig"`
}

// Signed is embedded in every Update argument that changes a request; the
// client interceptor fills it in.
type Signed struct {
	Claim *Claim `json:"claim,omitempty"`
}

// SignedClaim returns the claim an argument carries, if any.
func (s Signed) SignedClaim() *Claim { return s.Claim }

// NameOr is who made the change: the claim's actor, or, in histories from
// before claims, the name the change itself gave.
func (s Signed) NameOr(legacy string) string {
	if s.Claim != nil {
		return s.Claim.Name
	}
	return legacy
}

// Author is who made the change and where from ("cfo@acme.example via
// slack:U1"), or, before claims, legacy.
func (s Signed) Author(legacy string) string {
	if s.Claim != nil {
		return s.Claim.Name + " via " + s.Claim.Channel
	}
	return legacy
}

// claimed is an argument that embeds Signed.
type claimed interface{ SignedClaim() *Claim }

// Keys signs and checks claims; *keyring.Keyring is one.
type Keys interface {
	Sign(msg []byte) []byte
	Signed(msg, sig []byte) bool
}

// Errors a refused claim wraps.
var (
	ErrMissing = errors.New("the change carries no signed claim of who made it")
	ErrForged  = errors.New("the change's claim is not signed by this engine")
)

// message is what the signature covers, field by field with lengths, so
// no two claims share one.
func (c *Claim) message() []byte {
	var b []byte
	for _, f := range []string{"dsr-claim-v1", c.Name, c.Role, c.Channel, c.Op, c.Workflow, c.Update,
		strconv.FormatInt(c.IssuedAt.UnixNano(), 10), c.Digest} {
		b = strconv.AppendInt(b, int64(len(f)), 10)
		b = append(b, ':')
		b = append(b, f...)
	}
	return b
}

// Sign makes the claim for one Update and returns arg with it attached.
// arg must embed Signed.
func Sign(k Keys, a Actor, op, workflowID, updateID string, at time.Time, arg any) (any, error) {
	switch {
	case a.Name == "" || a.Role == "" || a.Channel == "":
		return nil, fmt.Errorf("%s: the actor needs a name, a role and a channel", op)
	case workflowID == "" || updateID == "":
		return nil, fmt.Errorf("%s: a claim names its workflow and Update", op)
	}
	digest, err := Digest(arg)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", op, err)
	}
	c := &Claim{Actor: a, Op: op, Workflow: workflowID, Update: updateID, IssuedAt: at.UTC(), Digest: digest}
	c.Sig = base64.RawStdEncoding.EncodeToString(k.Sign(c.message()))
	return withClaim(arg, c)
}

// Check verifies the claim that arg carries for the Update op, with id
// updateID, on workflowID, at the workflow's time now.
func Check(k Keys, op, workflowID, updateID string, now time.Time, arg any) (Claim, error) {
	cl, ok := arg.(claimed)
	if !ok || cl.SignedClaim() == nil {
		return Claim{}, fmt.Errorf("%s: %w", op, ErrMissing)
	}
	c := *cl.SignedClaim()
	sig, err := base64.RawStdEncoding.DecodeString(c.Sig)
	if err != nil || !k.Signed(c.message(), sig) {
		return Claim{}, fmt.Errorf("%s: %w", op, ErrForged)
	}
	digest, err := Digest(arg)
	if err != nil {
		return Claim{}, fmt.Errorf("%s: %w", op, err)
	}
	switch {
	case c.Op != op:
		return Claim{}, fmt.Errorf("%s: the claim was made for %q, not this change", op, c.Op)
	case c.Workflow != workflowID:
		return Claim{}, fmt.Errorf("%s: the claim was made for another request", op)
	case c.Update != updateID:
		return Claim{}, fmt.Errorf("%s: the claim was made for another delivery (Update id), so it is a replay", op)
	case c.Digest != digest:
		return Claim{}, fmt.Errorf("%s: the change is not the one the claim was made for", op)
	case c.IssuedAt.Before(now.Add(-MaxAge)) || c.IssuedAt.After(now.Add(MaxAge)):
		return Claim{}, fmt.Errorf("%s: the claim was made at %s, more than %s from the request's clock (%s)", op,
			c.IssuedAt.Format(time.RFC3339), MaxAge, now.UTC().Format(time.RFC3339))
	}
	return c, nil
}

// Digest is the SHA-256 of arg's JSON with its claim left out.
func Digest(arg any) (string, error) {
	bare, err := withClaim(arg, nil)
	if err != nil {
		return "", err
	}
	b, err := json.Marshal(bare)
	if err != nil {
		return "", fmt.Errorf("digest of the change: %w", err)
	}
	sum := sha256.Sum256(b)
	return base64.RawStdEncoding.EncodeToString(sum[:]), nil
}

var signedType = reflect.TypeFor[Signed]()

// withClaim returns a copy of arg (a struct embedding Signed) carrying c.
func withClaim(arg any, c *Claim) (any, error) {
	v := reflect.ValueOf(arg)
	if v.Kind() != reflect.Struct {
		return nil, fmt.Errorf("a signed change is a struct embedding claims.Signed, not %T", arg)
	}
	f, ok := v.Type().FieldByName("Signed")
	if !ok || f.Type != signedType || !f.Anonymous {
		return nil, fmt.Errorf("%T does not embed claims.Signed", arg)
	}
	cp := reflect.New(v.Type()).Elem()
	cp.Set(v)
	cp.FieldByIndex(f.Index).Set(reflect.ValueOf(Signed{Claim: c}))
	return cp.Interface(), nil
}
