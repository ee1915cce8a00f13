package main

import (
	"archive/zip"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	tlog "go.temporal.io/sdk/log"

	"github.com/dsrengine/dsr/claims"
	"github.com/dsrengine/dsr/connect"
	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/internal/testenv"
	"github.com/dsrengine/dsr/keyring"
	"github.com/dsrengine/dsr/requests"
	"github.com/dsrengine/dsr/workflows"
)

// TestDevModeSurvivesRestart runs the real one-command dev mode twice on
// the same data directory: a request started in the first run is still
// there, completed, in the second; the Web UI and the gateway answer.
func TestDevModeSurvivesRestart(t *testing.T) {
	dir := t.TempDir()
	ports := freePorts(t, 3)
	args := []string{"--data-dir", dir, "--temporal-port", ports[0], "--ui-port", ports[1], "--gateway-port", ports[2], "--log-level", "error"}
	frontend := "127.0.0.1:" + ports[0]

	banner, stop := startDev(t, args, "http://127.0.0.1:"+ports[2]+"/healthz")
	for _, want := range []string{"Temporal Web UI    http://127.0.0.1:" + ports[1] + "/namespaces/dsr/workflows", "Gateway            http://127.0.0.1:" + ports[2], "go run ./starter start", "--key-file " + dir + "/master.key", "--temporal-address " + frontend} {
		if !strings.Contains(banner, want) {
			t.Errorf("banner lacks %q:\n%s", want, banner)
		}
	}
	c := dial(t, dir, frontend)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	received := time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)
	email, _ := domain.NewIdentity(domain.Email, "dev@example.com")
	in := workflows.RequestInput{RequestID: "DEV-1", Type: domain.Erasure, Regulation: domain.LGPD, Identities: []domain.Identity{email},
		ReceivedAt: received, DueAt: domain.DueAt(domain.LGPD, received), RequestedBy: "cli:test", IdentityVerified: true}
	if _, err := requests.Start(ctx, c, in); err != nil {
		t.Fatal(err)
	}
	// The erasure completes, then stays open for its aftercare (the demo
	// map's default: checks at 7 and 30 days, the key destroyed at 30).
	testenv.Eventually(t, testenv.Wait, func() (bool, string) {
		v, err := requests.Show(ctx, c, "DEV-1")
		return err == nil && v.Status == domain.StatusCompleted, fmt.Sprintf("DEV-1 never completed: %+v, %v", v, err)
	})
	ns, err := c.WorkflowService().DescribeNamespace(ctx, &workflowservice.DescribeNamespaceRequest{Namespace: "dsr"})
	if err != nil {
		t.Fatal(err)
	}
	if got := ns.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration(); got < 30*24*time.Hour {
		t.Fatalf("retention %s, want at least 30 days", got)
	}
	c.Close()
	stop()

	// Second run on the same directory.
	banner, stop = startDev(t, args, "http://127.0.0.1:"+ports[2]+"/healthz")
	defer stop()
	if want := "Decrypt in the UI  http://127.0.0.1:" + ports[2] + "/codec/login"; !strings.Contains(banner, want) {
		t.Errorf("banner lacks %q:\n%s", want, banner)
	}
	c = dial(t, dir, frontend)
	defer c.Close()
	v, err := requests.Show(ctx, c, "DEV-1")
	if err != nil {
		t.Fatal(err)
	}
	if v.Status != domain.StatusCompleted || v.DueAt.Format(time.DateOnly) != "2026-03-17" || len(v.Timeline) < 2 || v.Timeline[0].Status != domain.StatusReceived {
		t.Fatalf("after restart: %+v", v)
	}
	// The Web UI lists it, filtered by a search attribute.
	resp, err := http.Get("http://127.0.0.1:" + ports[1] + "/api/v1/namespaces/dsr/workflows?query=" + "DsrRegulation%3D%22lgpd%22")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var list struct {
		Executions []struct {
			Execution struct {
				WorkflowID string `json:"workflowId"`
			} `json:"execution"`
		} `json:"executions"`
	}
	if err := json.Unmarshal(body, &list); err != nil || len(list.Executions) != 1 || list.Executions[0].Execution.WorkflowID != "dsr-DEV-1" {
		t.Fatalf("UI workflow list (%d): %s", resp.StatusCode, body)
	}
	page, err := http.Get("http://127.0.0.1:" + ports[1] + "/")
	if err != nil || page.StatusCode != http.StatusOK {
		t.Fatalf("UI page: %v %v", page, err)
	}
	page.Body.Close()
	uiDecrypts(t, "http://127.0.0.1:"+ports[1], "http://127.0.0.1:"+ports[2], filepath.Join(dir, "api-token"))

	// The seeded demo company answers an access request for its demo
	// subject from every system, after Sales signed off; billing is keyed
	// by customer number, which the CRM's row found by e-mail holds.
	jane, _ := domain.NewIdentity(domain.Email, "jane@example.com")
	now := time.Now().UTC().Truncate(time.Second)
	acc := workflows.RequestInput{RequestID: "DEV-ACC", Type: domain.Access, Regulation: domain.GDPR, Identities: []domain.Identity{jane},
		ReceivedAt: now, DueAt: domain.DueAt(domain.GDPR, now), RequestedBy: "cli:test", IdentityVerified: true}
	if _, err := requests.Start(ctx, c, acc); err != nil {
		t.Fatal(err)
	}
	// Compliance confirms the customer number the CRM row holds, then the
	// approver waits, with queries, as they would for the sign-off message.
	testenv.Eventually(t, testenv.Wait, func() (bool, string) {
		v, err := requests.Show(ctx, c, "DEV-ACC")
		return err == nil && len(v.ProposedIdentities) == 1, fmt.Sprintf("no linked identity proposed: %+v, %v", v, err)
	})
	compliance := claims.As(ctx, claims.Actor{Name: "cli:test", Role: claims.RoleAdmin, Channel: "cli:test"})
	if err := requests.ConfirmIdentities(compliance, c, "DEV-ACC", workflows.IdentityConfirmation{Confirm: []int{1}}); err != nil {
		t.Fatal(err)
	}
	testenv.Eventually(t, testenv.Wait, func() (bool, string) {
		v, err := requests.Show(ctx, c, "DEV-ACC")
		return err == nil && v.Status == domain.StatusAwaitingSignOff, fmt.Sprintf("never awaiting sign-off: %+v, %v", v, err)
	})
	sales := claims.As(ctx, claims.Actor{Name: "sales.lead@acme.example", Role: claims.RoleApprover, Channel: "cli:test"})
	if err := requests.Decide(sales, c, "DEV-ACC", workflows.Decision{Department: "Sales", Decision: "approve"}); err != nil {
		t.Fatal(err)
	}
	var res workflows.RequestState
	if err := c.GetWorkflow(ctx, "dsr-DEV-ACC", "").Get(ctx, &res); err != nil {
		t.Fatal(err)
	}
	var found []string
	for _, p := range res.Systems {
		found = append(found, fmt.Sprintf("%s:%d", p.System, p.Found))
	}
	if got := strings.Join(found, " "); got != "billing:6 crm:3 marketing:3 newsletter-platform:5 support:1 web-analytics:3" || res.Package == "" {
		t.Fatalf("demo access: %s, package %q", got, res.Package)
	}

	// Jane's e-mails went through SMTP to the sink, which the console's
	// mail view reads through the API, with the dev admin token.
	if !strings.Contains(banner, "E-mails to subjects: the console's mail view") {
		t.Errorf("banner does not say where the e-mails go:\n%s", banner)
	}
	token, err := os.ReadFile(filepath.Join(dir, "api-token"))
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest("GET", "http://127.0.0.1:"+ports[2]+"/api/v1/dev/mail", nil)
	req.Header.Set("Authorization", "Bearer "+strings.TrimSpace(string(token)))
	mresp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer mresp.Body.Close()
	var mails []struct {
		To      []string `json:"to"`
		Subject string   `json:"subject"`
		Text    string   `json:"text"`
	}
	if err := json.NewDecoder(mresp.Body).Decode(&mails); err != nil || mresp.StatusCode != http.StatusOK {
		t.Fatalf("mail view: %d %v", mresp.StatusCode, err)
	}
	var subjects []string
	for _, m := range mails {
		if strings.Join(m.To, ",") == "jane@example.com" {
			subjects = append(subjects, m.Subject)
		}
	}
	// Newest first.
	if want := "Your access request is complete (DEV-ACC)|We received your access request (DEV-ACC)"; strings.Join(subjects, "|") != want {
		t.Fatalf("Jane's e-mails: %q; want %q", subjects, want)
	}

	// Jane follows the answer's link: a code to her address opens the
	// portal, where she downloads the package and reads report.html.
	gateway := "http://127.0.0.1:" + ports[2]
	if link := gateway + "/privacy/status?request=DEV-ACC"; !strings.Contains(mails[0].Text, "Download your answer: "+link) {
		t.Fatalf("the answer does not link to %s:\n%s", link, mails[0].Text)
	}
	portal := gateway + "/api/v1/public/requests/DEV-ACC/"
	if r, err := http.Post(portal+"code", "application/json", strings.NewReader("{}")); err != nil || r.StatusCode != http.StatusAccepted {
		t.Fatalf("code: %v %v", r, err)
	}
	var code string
	testenv.Eventually(t, testenv.Wait, func() (bool, string) {
		r, err := http.DefaultClient.Do(req.Clone(ctx))
		if err != nil {
			return false, err.Error()
		}
		defer r.Body.Close()
		json.NewDecoder(r.Body).Decode(&mails)
		m := regexp.MustCompile(`code for request DEV-ACC: (\d{6})$`).FindStringSubmatch(mails[0].Subject)
		if m != nil {
			code = m[1]
		}
		return m != nil, "no code e-mailed to Jane: " + mails[0].Subject
	})
	r, err := http.Post(portal+"verify", "application/json", strings.NewReader(`{"code": "`+code+`"}`))
	if err != nil {
		t.Fatal(err)
	}
	var session struct {
		Session string `json:"session"`
	}
	json.NewDecoder(r.Body).Decode(&session)
	r.Body.Close()
	dl, _ := http.NewRequest("GET", portal+"package", nil)
	dl.Header.Set("Authorization", "Bearer "+session.Session)
	pr, err := http.DefaultClient.Do(dl)
	if err != nil {
		t.Fatal(err)
	}
	zipped, _ := io.ReadAll(pr.Body)
	pr.Body.Close()
	z, err := zip.NewReader(bytes.NewReader(zipped), int64(len(zipped)))
	if pr.StatusCode != http.StatusOK || err != nil {
		t.Fatalf("download: %d %v", pr.StatusCode, err)
	}
	f, err := z.Open("report.html")
	if err != nil {
		t.Fatal(err)
	}
	report, _ := io.ReadAll(f)
	for _, want := range []string{"The personal data we hold about you", "Harbour Road", "Mailwave Inc., United States", "Your rights and how to complain"} {
		if !strings.Contains(string(report), want) {
			t.Errorf("Jane's report.html lacks %q", want)
		}
	}
}

func TestDevModeRefusesBadFlags(t *testing.T) {
	tests := map[string][]string{
		"--retention-days 7: must be at least 30": {"--retention-days", "7"},
		"--ip \"localhost:1\": not an IP address": {"--ip", "localhost:1"},
		"--ui-port -1":                {"--ui-port", "-1"},
		"--temporal-port 70000":       {"--temporal-port", "70000"},
		"unexpected argument \"now\"": {"now"},
	}
	for want, args := range tests {
		err := run(context.Background(), append([]string{"--data-dir", t.TempDir()}, args...), io.Discard)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("run(%v) = %v, want %q", args, err, want)
		}
	}
}

func startDev(t *testing.T, args []string, health string) (banner string, stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	var out syncBuffer
	done := make(chan error, 1)
	go func() { done <- run(ctx, args, &out) }()
	// A cold start migrates Temporal's SQLite schema: real work, which a
	// busy machine slows down.
	t.Cleanup(cancel)
	testenv.Eventually(t, time.Minute, func() (bool, string) {
		select {
		case err := <-done:
			t.Fatalf("dev mode exited: %v", err)
		default:
		}
		return healthy(health), "dev mode did not become healthy at " + health
	})
	return out.String(), func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("dev mode stopped with: %v", err)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("dev mode did not stop in 30s")
		}
	}
}

func dial(t *testing.T, dir, frontend string) client.Client {
	t.Helper()
	master, err := keyring.LoadOrCreateKeyFile(dir + "/master.key")
	if err != nil {
		t.Fatal(err)
	}
	keys, _ := keyring.New(master)
	c, err := connect.Dial(context.Background(), connect.Options{Address: frontend, Namespace: "dsr", Keys: keys, Log: slog.New(slog.DiscardHandler)})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func freePorts(t *testing.T, n int) []string {
	t.Helper()
	var out []string
	var lns []net.Listener
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		lns = append(lns, ln)
		out = append(out, strconv.Itoa(ln.Addr().(*net.TCPAddr).Port))
	}
	for _, ln := range lns {
		ln.Close()
	}
	return out
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// healthy says whether a gateway's health check answers 200.
func healthy(url string) bool {
	resp, err := http.Get(url)
	if err != nil {
		return false
	}
	resp.Body.Close()
	return resp.StatusCode == http.StatusOK
}

// uiDecrypts does what the Web UI does for an auditor: it reads the
// codec settings the UI is served, logs in at the codec with the dev
// token, and has the history's encrypted input decoded, sending the login
// cookie from the UI's origin as the UI's includeCredentials fetch does.
func uiDecrypts(t *testing.T, ui, gateway, tokenFile string) {
	t.Helper()
	var settings struct {
		Codec struct {
			Endpoint           string
			IncludeCredentials bool
		}
	}
	getJSON(t, ui+"/api/v1/settings", &settings)
	if settings.Codec.Endpoint != gateway+"/codec" || !settings.Codec.IncludeCredentials {
		t.Fatalf("the UI's codec settings: %+v", settings.Codec)
	}
	var history struct {
		History struct {
			Events []struct {
				Started *struct {
					Input json.RawMessage `json:"input"`
				} `json:"workflowExecutionStartedEventAttributes"`
			} `json:"events"`
		} `json:"history"`
	}
	getJSON(t, ui+"/api/v1/namespaces/dsr/workflows/dsr-DEV-1/history", &history)
	if len(history.History.Events) == 0 || history.History.Events[0].Started == nil {
		t.Fatalf("no start event in the UI's history")
	}
	input := history.History.Events[0].Started.Input
	decode := func(cookie *http.Cookie) (int, string) {
		req, _ := http.NewRequest("POST", settings.Codec.Endpoint+"/decode", bytes.NewReader(input))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Origin", ui)
		req.Header.Set("X-Namespace", "dsr")
		if cookie != nil {
			req.AddCookie(cookie)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if code, body := decode(nil); code != http.StatusUnauthorized || strings.Contains(body, "payloads") {
		t.Fatalf("decode without logging in: %d %s", code, body)
	}
	secret, err := os.ReadFile(tokenFile)
	if err != nil {
		t.Fatal(err)
	}
	resp, err := http.PostForm(gateway+"/codec/login", url.Values{"token": {strings.TrimSpace(string(secret))}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || len(resp.Cookies()) != 1 {
		t.Fatalf("codec login: %d %v", resp.StatusCode, resp.Cookies())
	}
	code, body := decode(resp.Cookies()[0])
	var out struct {
		Payloads []struct {
			Data []byte `json:"data"`
		} `json:"payloads"`
	}
	json.Unmarshal([]byte(body), &out)
	if code != http.StatusOK || len(out.Payloads) != 1 || !bytes.Contains(out.Payloads[0].Data, []byte("dev@example.com")) {
		t.Fatalf("decode after logging in: %d %s", code, body)
	}
}

func getJSON(t *testing.T, u string, into any) {
	t.Helper()
	resp, err := http.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, into) != nil {
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, b)
	}
}

// TestTemporalOnly runs the Temporal server and its Web UI alone, for the
// production worker and gateway started apart (docs/deployment.md): the
// namespace is registered, and no engine runs (no gateway, no key made).
func TestTemporalOnly(t *testing.T) {
	dir := t.TempDir()
	ports := freePorts(t, 3)
	banner, stop := startDev(t, []string{"--temporal-only", "--data-dir", dir, "--temporal-port", ports[0], "--ui-port", ports[1], "--gateway-port", ports[2]},
		"http://127.0.0.1:"+ports[1]+"/")
	defer stop()
	for _, want := range []string{"Temporal frontend  127.0.0.1:" + ports[0] + "  namespace dsr", "(codec: http://127.0.0.1:" + ports[2] + "/codec)"} {
		if !strings.Contains(banner, want) {
			t.Errorf("banner lacks %q:\n%s", want, banner)
		}
	}
	if healthy("http://127.0.0.1:" + ports[2] + "/healthz") {
		t.Error("a gateway runs: --temporal-only started the engine")
	}
	if _, err := os.Stat(filepath.Join(dir, "master.key")); err == nil {
		t.Error("--temporal-only made a master key: the engine's processes bring their own")
	}
	c, err := client.Dial(client.Options{HostPort: "127.0.0.1:" + ports[0], Namespace: "dsr", Logger: tlog.NewStructuredLogger(slog.New(slog.DiscardHandler))})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ns, err := c.WorkflowService().DescribeNamespace(context.Background(), &workflowservice.DescribeNamespaceRequest{Namespace: "dsr"})
	if err != nil || ns.GetConfig().GetWorkflowExecutionRetentionTtl().AsDuration() < 30*24*time.Hour {
		t.Fatalf("namespace: %v, %v", ns.GetConfig(), err)
	}
}
