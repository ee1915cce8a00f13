package engine_test

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dsrengine/dsr/activities"
	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/internal/testengine"
	"github.com/dsrengine/dsr/mail"
	"github.com/dsrengine/dsr/requests"
)

// get calls a portal endpoint with a session token.
func get(t *testing.T, url, session string) (int, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if session != "" {
		req.Header.Set("Authorization", "Bearer "+session)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, b
}

// openPortal asks for a code for a request and enters it.
func openPortal(t *testing.T, gateway, id string, code func() string) (session string, verified bool) {
	t.Helper()
	status, body := post(t, gateway+"/api/v1/public/requests/"+id+"/verify", map[string]string{"code": code()})
	var s struct {
		Session  string `json:"session"`
		Verified bool   `json:"verified"`
	}
	if err := json.Unmarshal([]byte(body), &s); status != http.StatusOK || err != nil || !strings.HasPrefix(s.Session, "dsrp_") {
		t.Fatalf("code for %s: %d %s", id, status, body)
	}
	return s.Session, s.Verified
}

// TestSubjectPortal: the subject, after a fresh code, sees the request's
// status and deadline and downloads the package with its report, as many
// times as the policy allows; an expired link is refused. Then the
// boundaries: a session reaches its own request only, a forged or absent
// session nothing, and a code sent for a staff request opens its status
// but never verifies it.
func TestSubjectPortal(t *testing.T) {
	sink := testengine.MailSink(t)
	st := openPostgres(t)
	e := testengine.StartEngineWith(t, st, testengine.Options{Mail: sink, Packages: domain.PackagePolicy{ExpireAfter: 24 * time.Hour, Downloads: 2},
		Systems: []activities.System{{SystemRef: activities.SystemRef{Name: "billing", Department: "Finance", Purposes: []string{"invoicing"}},
			Connector: &testengine.Table{Rows: 2}}}})
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	api := e.Gateway + "/api/v1/public/requests/"

	status, body := post(t, e.Gateway+"/api/v1/public/requests", map[string]any{"type": "access", "regulation": "gdpr", "email": "jane@example.com", "declaration": true})
	var receipt struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal([]byte(body), &receipt); status != http.StatusCreated || err != nil {
		t.Fatalf("public request: %d %s", status, body)
	}
	jane := receipt.ID
	e.Await(t, jane, "waiting for identity verification", func(v requests.View) bool { return v.WaitingFor == "identity verification" })
	session, verified := openPortal(t, e.Gateway, jane, func() string { return lastCode(t, sink, "jane@example.com") })
	if !verified {
		t.Fatal("the code did not verify Jane's request")
	}
	done := e.WaitFor(t, jane, domain.StatusCompleted)
	// The answer e-mail links to the portal, never to the file itself.
	link := e.Gateway + "/privacy/status?request=" + jane
	if !slices.ContainsFunc(sink.Messages(), func(m mail.Received) bool {
		return slices.Contains(m.To, "jane@example.com") && strings.Contains(m.Subject, "is complete") && strings.Contains(m.Text, "Download your answer: "+link)
	}) {
		t.Fatalf("no answer e-mail to Jane links to %s", link)
	}

	code, b := get(t, api+jane+"/status", session)
	var view struct {
		Status  string    `json:"status"`
		Stage   string    `json:"stage"`
		DueAt   time.Time `json:"due_at"`
		Package *struct {
			ExpiresAt     time.Time `json:"expires_at"`
			DownloadsLeft int       `json:"downloads_left"`
			Available     bool      `json:"available"`
			Why           string    `json:"why"`
		} `json:"package"`
	}
	if err := json.Unmarshal(b, &view); code != http.StatusOK || err != nil || view.Status != "completed" || !view.DueAt.Equal(done.DueAt) ||
		view.Package == nil || !view.Package.Available || view.Package.DownloadsLeft != 2 {
		t.Fatalf("status: %d %s", code, b)
	}
	if left := time.Until(view.Package.ExpiresAt); left < 23*time.Hour || left > 24*time.Hour {
		t.Fatalf("the link expires in %v, want 24h", left)
	}
	if strings.Contains(string(b), "jane@example.com") || strings.Contains(string(b), "billing") {
		t.Fatalf("the status tells more than the state of the request: %s", b)
	}
	pkgPath := strings.TrimPrefix(done.Package, "file://")
	var lastPackage []byte
	for i := range 2 {
		if i == 1 {
			// As a package written before packages were encrypted: kept in
			// plain text, and served if it is still the one recorded.
			if err := os.WriteFile(pkgPath, lastPackage, 0o600); err != nil {
				t.Fatal(err)
			}
		}
		code, pkg := get(t, api+jane+"/package", session)
		lastPackage = pkg
		z, err := zip.NewReader(bytes.NewReader(pkg), int64(len(pkg)))
		if code != http.StatusOK || err != nil {
			t.Fatalf("download %d: %d %v", i+1, code, err)
		}
		if f, err := z.Open("report.html"); err != nil {
			t.Fatalf("download %d has no report.html: %v", i+1, err)
		} else {
			f.Close()
		}
	}
	if code, b := get(t, api+jane+"/package", session); code != http.StatusGone || !strings.Contains(string(b), "downloaded as many times as allowed") {
		t.Fatalf("a third download: %d %s", code, b)
	}
	// A plain package changed on disk is never served.
	if err := os.WriteFile(pkgPath, append(lastPackage, 'x'), 0o600); err != nil {
		t.Fatal(err)
	}
	if code, b := get(t, api+jane+"/package", session); code != http.StatusInternalServerError || !strings.Contains(string(b), "cannot be opened") {
		t.Fatalf("a changed plain package: %d %s", code, b)
	}
	if err := os.WriteFile(pkgPath, lastPackage, 0o600); err != nil {
		t.Fatal(err)
	}
	code, b = get(t, api+jane+"/status", session)
	if json.Unmarshal(b, &view); view.Package == nil || view.Package.Available || view.Package.DownloadsLeft != 0 {
		t.Fatalf("status after the last download: %s", b)
	}
	log, err := st.AuditLog(ctx, jane)
	if err != nil {
		t.Fatal(err)
	}
	var downloads int
	for _, a := range log {
		if a.Action == "package.downloaded" && a.Actor == "subject" {
			downloads++
		}
	}
	if downloads != 2 {
		t.Fatalf("the audit log records %d downloads, want 2", downloads)
	}

	// Bob's request, started by staff with his address: a code reaches his
	// status, never verifies the request (staff verify), and Jane's session
	// does not reach it.
	bob := input("PORTAL-BOB", "bob@example.com")
	bob.IdentityVerified = false
	if _, err := requests.Start(ctx, e.Client, bob); err != nil {
		t.Fatal(err)
	}
	e.Await(t, "PORTAL-BOB", "waiting for identity verification", func(v requests.View) bool { return v.WaitingFor == "identity verification" })
	if status, body := post(t, api+"PORTAL-BOB/code", nil); status != http.StatusAccepted {
		t.Fatalf("a code for Bob: %d %s", status, body)
	}
	bobSession, verified := openPortal(t, e.Gateway, "PORTAL-BOB", func() string { return lastCode(t, sink, "bob@example.com") })
	if verified {
		t.Fatal("a code verified a request staff started")
	}
	if v, err := requests.Show(ctx, e.Client, "PORTAL-BOB"); err != nil || v.IdentityVerified {
		t.Fatalf("Bob's request after his code: verified %v, %v", v.IdentityVerified, err)
	}
	for name, s := range map[string]string{"Jane's session": session, "a forged session": "dsrp_" + strings.Repeat("A", 43), "none": "", "a staff token": "dsr_x"} {
		if code, b := get(t, api+"PORTAL-BOB/status", s); code != http.StatusUnauthorized {
			t.Errorf("%s on Bob's status: %d %s", name, code, b)
		}
	}
	if code, b := get(t, api+"PORTAL-BOB/status", bobSession); code != http.StatusOK || !strings.Contains(string(b), "waiting for you to confirm") {
		t.Fatalf("Bob's status: %d %s", code, b)
	}
	if code, b := get(t, api+jane+"/package", bobSession); code != http.StatusUnauthorized {
		t.Fatalf("Bob's session on Jane's package: %d %s", code, b)
	}

	// Once expired, the package is deleted and its link refused.
	if err := st.MarkPurged(ctx, jane, "expired", time.Now()); err != nil {
		t.Fatal(err)
	}
	if code, b := get(t, api+jane+"/package", session); code != http.StatusGone || !strings.Contains(string(b), "expired") {
		t.Fatalf("an expired link: %d %s", code, b)
	}
}
