package engine_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dsrengine/dsr/claims"
	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/internal/testengine"
	"github.com/dsrengine/dsr/mail"
	"github.com/dsrengine/dsr/requests"
	"github.com/dsrengine/dsr/workflows"
)

// post sends JSON to the gateway and returns the status and the body.
func post(t *testing.T, url string, body any) (int, string) {
	t.Helper()
	b, _ := json.Marshal(body)
	resp, err := http.Post(url, "application/json", bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var out bytes.Buffer
	out.ReadFrom(resp.Body)
	return resp.StatusCode, out.String()
}

var codeIn = regexp.MustCompile(`: (\d{6})$`)

// lastCode is the code of the newest verification e-mail to an address.
func lastCode(t *testing.T, sink *mail.Sink, to string) string {
	t.Helper()
	msgs := sink.Messages()
	for i := len(msgs) - 1; i >= 0; i-- {
		if m := codeIn.FindStringSubmatch(msgs[i].Subject); m != nil && slices.Contains(msgs[i].To, to) {
			return m[1]
		}
	}
	t.Fatalf("no code was e-mailed to %s", to)
	return ""
}

// TestPrivacyCenterCodeVerifies: a request made on the privacy center
// sends a one-time code to the address given; a wrong code is refused, the
// right one verifies the request as the subject, for that request alone,
// and the request goes on. Then the boundaries: the subject's claim on a
// request staff started, or for another change, is refused; a staff
// request is never verified by a code (the portal test shows it); and a
// client guessing is stopped.
func TestPrivacyCenterCodeVerifies(t *testing.T) {
	e, st, sink := mailEngine(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	status, body := post(t, e.Gateway+"/api/v1/public/requests", map[string]any{"type": "access", "regulation": "gdpr", "email": "jane@example.com", "declaration": true})
	var receipt struct {
		ID       string `json:"id"`
		CodeSent bool   `json:"code_sent"`
	}
	if err := json.Unmarshal([]byte(body), &receipt); status != http.StatusCreated || err != nil || !receipt.CodeSent {
		t.Fatalf("public request: %d %s", status, body)
	}
	code := lastCode(t, sink, "jane@example.com")
	janeID := receipt.ID
	// As a person would: the request waits for the code by the time it is
	// typed in.
	e.Await(t, receipt.ID, "waiting for identity verification", func(v requests.View) bool { return v.WaitingFor == "identity verification" })
	verify := e.Gateway + "/api/v1/public/requests/" + receipt.ID + "/verify"

	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	if status, body := post(t, verify, map[string]string{"code": wrong}); status != http.StatusBadRequest || !strings.Contains(body, "the code is not right") {
		t.Fatalf("wrong code: %d %s", status, body)
	}
	if status, body := post(t, verify, map[string]string{"code": code}); status != http.StatusOK || !strings.Contains(body, `"verified": true`) {
		t.Fatalf("right code: %d %s", status, body)
	}
	var res workflows.RequestState
	if err := e.Client.GetWorkflow(ctx, domain.WorkflowID(receipt.ID), "").Get(ctx, &res); err != nil {
		t.Fatal(err)
	}
	if res.Status != domain.StatusCompleted || !res.IdentityVerified {
		t.Fatalf("after the code: %s, verified %v", res.Status, res.IdentityVerified)
	}
	if !slices.ContainsFunc(res.Timeline, func(s workflows.StatusChange) bool {
		return s.Actor == "subject" && strings.Contains(s.Note, "identity verified: one-time code sent to the e-mail address given")
	}) {
		t.Fatalf("the timeline does not record the subject's verification: %+v", res.Timeline)
	}
	// DSR_RECORD_CODE_HISTORY records it for the replay test: the wait for
	// verification with its closing timer, cancelled by the subject's code.
	if path := os.Getenv("DSR_RECORD_CODE_HISTORY"); path != "" {
		testengine.RecordHistory(t, e.RawClient, domain.WorkflowID(receipt.ID), path)
	}
	// Used: the same code again opens nothing.
	if status, body := post(t, verify, map[string]string{"code": code}); status != http.StatusGone || !strings.Contains(body, "already used") {
		t.Fatalf("the code again: %d %s", status, body)
	}

	// A request staff started: no code path reaches it, and a subject's
	// claim on it is refused inside the workflow.
	staff := input("STAFF-1", "bob@example.com")
	staff.IdentityVerified = false
	if _, err := requests.Start(ctx, e.Client, staff); err != nil {
		t.Fatal(err)
	}
	if _, err := requests.Admitted(ctx, e.Client, "STAFF-1"); err != nil {
		t.Fatal(err)
	}
	subject := claims.As(ctx, claims.Actor{Name: "subject", Role: claims.RoleSubject, Channel: workflows.PrivacyCenter})
	err := requests.VerifyIdentity(subject, e.Client, "STAFF-1", workflows.Verification{Method: "one-time code"})
	if !errors.Is(err, requests.ErrRefused) || !strings.Contains(err.Error(), "was not made on the privacy center") {
		t.Fatalf("a subject's claim on a staff request: %v", err)
	}
	// On a privacy-center request, a subject may verify and nothing else.
	status, body = post(t, e.Gateway+"/api/v1/public/requests", map[string]any{"type": "erasure", "regulation": "gdpr", "email": "carol@example.com", "declaration": true})
	if err := json.Unmarshal([]byte(body), &receipt); status != http.StatusCreated || err != nil {
		t.Fatalf("public request: %d %s", status, body)
	}
	err = requests.Cancel(subject, e.Client, receipt.ID, workflows.Closure{Reason: "changed my mind"})
	if !errors.Is(err, requests.ErrRefused) || !strings.Contains(err.Error(), "subject subject may not make this change") {
		t.Fatalf("a subject cancels: %v", err)
	}

	// A privacy-center request made with a phone number only has no
	// address: no code is issued, and none is recorded as if it were.
	status, body = post(t, e.Gateway+"/api/v1/public/requests", map[string]any{"type": "access", "regulation": "gdpr", "phone": "+44 20 7946 0018", "declaration": true})
	var phoneOnly struct {
		ID       string `json:"id"`
		CodeSent bool   `json:"code_sent"`
	}
	if err := json.Unmarshal([]byte(body), &phoneOnly); status != http.StatusCreated || err != nil || phoneOnly.CodeSent {
		t.Fatalf("phone-only request: %d %s", status, body)
	}
	// Jane's code: issued once, its e-mail audited once the server took it.
	janeLog, err := st.AuditLog(ctx, janeID)
	if err != nil {
		t.Fatal(err)
	}
	var trail []string
	for _, a := range janeLog {
		if strings.HasPrefix(a.Action, "verification.") || a.Action == "mail.sent" && strings.Contains(a.DetailRaw, "verification-code") {
			trail = append(trail, a.Action)
		}
	}
	if got := strings.Join(trail, " "); got != "verification.code_issued mail.sent verification.code_tried verification.code_tried verification.code_tried" {
		t.Fatalf("Jane's code trail: %s", got)
	}

	// A new code at once is refused: the form cannot flood an inbox.
	resend := e.Gateway + "/api/v1/public/requests/" + receipt.ID + "/code"
	if status, body := post(t, resend, nil); status != http.StatusTooManyRequests || !strings.Contains(body, "a code was sent less than a minute ago") {
		t.Fatalf("a new code at once: %d %s", status, body)
	}
	// A request that does not exist answers as one without an address.
	if status, body := post(t, e.Gateway+"/api/v1/public/requests/NO-SUCH-1/verify", map[string]string{"code": "123456"}); status != http.StatusNotFound || !strings.Contains(body, "no request NO-SUCH-1 can be reached with a code") {
		t.Errorf("a code for no request: %d %s", status, body)
	}
	// Guessing: a client's tries are counted across requests, five a
	// minute; this is its sixth.
	if status, body := post(t, e.Gateway+"/api/v1/public/requests/"+receipt.ID+"/verify", map[string]string{"code": "123456"}); status != http.StatusTooManyRequests {
		t.Fatalf("a sixth try within the minute: %d %s", status, body)
	}
}

// TestNoCodeWithoutAddress: a privacy-center request made with a phone
// number only asks for a code: there is nowhere to send it, so none is
// issued and the audit log records none.
func TestNoCodeWithoutAddress(t *testing.T) {
	e, st, sink := mailEngine(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	status, body := post(t, e.Gateway+"/api/v1/public/requests", map[string]any{"type": "access", "regulation": "gdpr", "phone": "+44 20 7946 0018", "declaration": true})
	var receipt struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(body), &receipt); status != http.StatusCreated || err != nil {
		t.Fatalf("public request: %d %s", status, body)
	}
	e.Await(t, receipt.ID, "waiting for identity verification", func(v requests.View) bool { return v.WaitingFor == "identity verification" })
	if status, body := post(t, e.Gateway+"/api/v1/public/requests/"+receipt.ID+"/code", nil); status != http.StatusNotFound || !strings.Contains(body, "can be reached with a code") {
		t.Fatalf("a code for a phone-only request: %d %s", status, body)
	}
	log, err := st.AuditLog(ctx, receipt.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range log {
		if strings.HasPrefix(a.Action, "verification.") {
			t.Fatalf("audited %s for a code never sent", a.Action)
		}
	}
	if n := len(sink.Messages()); n != 0 {
		t.Fatalf("%d e-mails sent for a request without an address", n)
	}
}
