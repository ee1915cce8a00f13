package bench_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack/slacktest"
	"go.temporal.io/sdk/client"

	"github.com/dsrengine/dsr/activities"
	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/internal/testengine"
	"github.com/dsrengine/dsr/records"
	"github.com/dsrengine/dsr/requests"
	"github.com/dsrengine/dsr/slackapp"
)

const slackSecret = "bench-signing-secret-0123456789ab"

// slackWorkspace is slacktest with the two calls a sign-off makes: the
// request posted to the department's channel, and the message updated
// once the decision is recorded. It notes when each update arrives.
type slackWorkspace struct {
	srv     *slacktest.Server
	mu      sync.Mutex
	seq     int
	posted  map[string]string    // request id → message ts
	updated map[string]time.Time // message ts → first update
}

func newSlackWorkspace(b *testing.B) *slackWorkspace {
	w := &slackWorkspace{posted: map[string]string{}, updated: map[string]time.Time{}}
	form := func(r *http.Request) url.Values {
		body, _ := io.ReadAll(r.Body)
		v, _ := url.ParseQuery(string(body))
		return v
	}
	reply := func(rw http.ResponseWriter, v any) {
		rw.Header().Set("Content-Type", "application/json")
		json.NewEncoder(rw).Encode(v)
	}
	w.srv = slacktest.NewTestServer(func(c slacktest.Customize) {
		c.Handle("/chat.postMessage", func(rw http.ResponseWriter, r *http.Request) {
			v := form(r)
			w.mu.Lock()
			w.seq++
			ts := fmt.Sprintf("1700000000.%06d", w.seq)
			// The sign-off request names its request in the buttons' values.
			if i := strings.Index(v.Get("blocks"), `\"r\":\"`); i >= 0 && strings.Contains(v.Get("blocks"), `"block_id":"signoff"`) {
				rest := v.Get("blocks")[i+len(`\"r\":\"`):]
				if j := strings.Index(rest, `\"`); j > 0 {
					if _, seen := w.posted[rest[:j]]; !seen {
						w.posted[rest[:j]] = ts
					}
				}
			}
			w.mu.Unlock()
			reply(rw, map[string]any{"ok": true, "channel": "C-" + v.Get("channel"), "ts": ts})
		})
		c.Handle("/chat.update", func(rw http.ResponseWriter, r *http.Request) {
			v := form(r)
			w.mu.Lock()
			if _, seen := w.updated[v.Get("ts")]; !seen {
				w.updated[v.Get("ts")] = time.Now()
			}
			w.mu.Unlock()
			reply(rw, map[string]any{"ok": true, "channel": v.Get("channel"), "ts": v.Get("ts")})
		})
		c.Handle("/chat.postEphemeral", func(rw http.ResponseWriter, r *http.Request) {
			reply(rw, map[string]any{"ok": true, "message_ts": "1700000000.999999"})
		})
	})
	w.srv.Start()
	b.Cleanup(w.srv.Stop)
	return w
}

// click posts Sales's approval of request as Slack does, signed.
func slackClick(gateway, request, ts string) error {
	value, _ := json.Marshal(map[string]string{"r": request, "d": "Sales", "s": ""})
	payload, _ := json.Marshal(map[string]any{
		"type": "block_actions", "user": map[string]any{"id": "U0SALES001"}, "trigger_id": "trigger-" + request,
		"channel":   map[string]any{"id": "C-acme-sales"},
		"container": map[string]any{"type": "message", "message_ts": ts, "channel_id": "C-acme-sales"},
		"actions":   []map[string]any{{"action_id": "dsr_approve", "block_id": "signoff", "type": "button", "value": string(value)}},
	})
	body := "payload=" + url.QueryEscape(string(payload))
	now := strconv.FormatInt(time.Now().Unix(), 10)
	mac := hmac.New(sha256.New, []byte(slackSecret))
	fmt.Fprintf(mac, "v0:%s:%s", now, body)
	req, err := http.NewRequest(http.MethodPost, gateway+"/slack/interactions", strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("X-Slack-Request-Timestamp", now)
	req.Header.Set("X-Slack-Signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("click on %s: %s", request, resp.Status)
	}
	return nil
}

// benchSlack measures a department owner's click: from the signed click
// reaching the gateway to the message in Slack updated with the decision,
// which the workflow does once the decision is recorded in its history.
// Clicks go one at a time, each on a request waiting for sign-off.
func benchSlack(b *testing.B) {
	n := envInt("DSR_BENCH_CLICKS", 40)
	w := newSlackWorkspace(b)
	st := openStore(b)
	ctx := context.Background()
	if err := st.SyncDepartments(ctx, []records.Department{{Name: "Sales", Approvers: []string{"U0SALES001"}}}); err != nil {
		b.Fatal(err)
	}
	crm := &testengine.Table{}
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	e := testengine.StartEngineWith(b, st, testengine.Options{
		Systems: []activities.System{{SystemRef: activities.SystemRef{Name: "crm", Department: "Sales"}, Connector: crm}},
		Slack: func(c client.Client) *slackapp.App {
			app, err := slackapp.New(ctx, slackapp.Config{BotToken: "xoxb-bench", SigningSecret: slackSecret, APIURL: w.srv.GetAPIURL(),
				ComplianceChannel: "#privacy-office", Departments: []slackapp.Department{{Name: "Sales", Channel: "#acme-sales", Approvers: []string{"U0SALES001"}}}}, st, c, quiet)
			if err != nil {
				b.Fatal(err)
			}
			return app
		},
	})
	var lat []time.Duration
	for i := range n {
		id := fmt.Sprintf("CLICK-%04d", i)
		// Each subject has two rows in the CRM; the last request's erasure
		// has ended (below), so nothing else changes them now.
		crm.Rows = 2
		in := access(id)
		in.Type = domain.Erasure
		if _, err := requests.Start(ctx, e.Client, in); err != nil {
			b.Fatal(err)
		}
		var ts string
		for deadline := time.Now().Add(time.Minute); ts == ""; time.Sleep(5 * time.Millisecond) {
			w.mu.Lock()
			ts = w.posted[id]
			w.mu.Unlock()
			if ts == "" && time.Now().After(deadline) {
				v, err := requests.Show(ctx, e.Client, id)
				b.Fatalf("no sign-off request posted for %s (%s, %v; %d posts)", id, v.Status, err, w.seq)
			}
		}
		start := time.Now()
		if err := slackClick(e.Gateway, id, ts); err != nil {
			b.Fatal(err)
		}
		for {
			w.mu.Lock()
			at, ok := w.updated[ts]
			w.mu.Unlock()
			if ok {
				lat = append(lat, at.Sub(start))
				break
			}
			if time.Since(start) > time.Minute {
				b.Fatalf("%s: the message was not updated a minute after the click", id)
			}
			time.Sleep(time.Millisecond)
		}
		if res := e.Closed(b, id); res.Status != domain.StatusCompleted {
			b.Fatalf("%s ended %s", id, res.Status)
		}
	}
	slices.Sort(lat)
	record("Slack click to decision recorded and message updated, p50", pct(lat, 0.50), "ms", "", fmt.Sprintf("%d clicks, one at a time, on slacktest", n))
	record("Slack click to decision recorded and message updated, p95", pct(lat, 0.95), "ms", "< 1000", "")
}
