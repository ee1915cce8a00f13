package slackapp_test

import (
	"cmp"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/slack-go/slack/slacktest"

	"github.com/dsrengine/dsr/internal/testenv"
)

// workspace is a Slack workspace for tests: slacktest's server with the
// endpoints it lacks (chat.update, views.open) and the ones whose canned
// answers do not fit (chat.postMessage with unique timestamps, lookups by
// e-mail) bound to handlers that record every call.
type workspace struct {
	srv *slacktest.Server

	mu    sync.Mutex
	calls map[string][]url.Values
	seq   int
	// limited answers that many calls with 429 and Retry-After (7 s unless
	// retryAfter says), after letting limitAfter calls through.
	limited, limitAfter int
	retryAfter          string
	// failing answers that many calls with 500, before anything else.
	failing int
}

// The workspace's users by e-mail.
var users = map[string]string{
	"controller@acme.example": "U0FIN00001",
	"lead@acme.example":       "U0LEAD0001",
}

func newWorkspace(t testing.TB, extra ...slacktest.Binder) *workspace {
	w := &workspace{calls: map[string][]url.Values{}}
	w.srv = slacktest.NewTestServer(append(extra, func(c slacktest.Customize) {
		c.Handle("/chat.postMessage", w.handle("chat.postMessage", func(v url.Values) any {
			w.seq++
			channel := v.Get("channel")
			switch {
			case strings.HasPrefix(channel, "U"):
				channel = "D" + channel[1:] // the app's direct messages with that user
			case !strings.HasPrefix(channel, "C") && !strings.HasPrefix(channel, "D"):
				channel = "C-" + channel // a name resolves to an id
			}
			return map[string]any{"ok": true, "channel": channel, "ts": fmt.Sprintf("1700000000.%06d", w.seq)}
		}))
		c.Handle("/chat.update", w.handle("chat.update", func(v url.Values) any {
			return map[string]any{"ok": true, "channel": v.Get("channel"), "ts": v.Get("ts")}
		}))
		c.Handle("/chat.postEphemeral", w.handle("chat.postEphemeral", func(v url.Values) any {
			return map[string]any{"ok": true, "message_ts": "1700000000.999999"}
		}))
		c.Handle("/views.open", w.handle("views.open", func(v url.Values) any {
			return map[string]any{"ok": true, "view": map[string]any{"id": "V1"}}
		}))
		c.Handle("/users.lookupByEmail", w.handle("users.lookupByEmail", func(v url.Values) any {
			if id, ok := users[v.Get("email")]; ok {
				return map[string]any{"ok": true, "user": map[string]any{"id": id}}
			}
			return map[string]any{"ok": false, "error": "users_not_found"}
		}))
	})...)
	w.srv.Start()
	t.Cleanup(w.srv.Stop)
	return w
}

func (w *workspace) handle(method string, answer func(url.Values) any) http.HandlerFunc {
	return func(rw http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		v, _ := url.ParseQuery(string(body))
		if strings.Contains(r.Header.Get("Content-Type"), "json") { // views.* send JSON
			var m map[string]json.RawMessage
			json.Unmarshal(body, &m)
			v = url.Values{}
			for k, raw := range m {
				var str string
				if json.Unmarshal(raw, &str) != nil {
					str = string(raw)
				}
				v.Set(k, str)
			}
		}
		w.mu.Lock()
		defer w.mu.Unlock()
		rw.Header().Set("Content-Type", "application/json")
		if w.failing > 0 {
			w.failing--
			rw.WriteHeader(http.StatusInternalServerError)
			return
		}
		if w.limited > 0 && w.limitAfter > 0 {
			w.limitAfter--
		} else if w.limited > 0 {
			w.limited--
			rw.Header().Set("Retry-After", cmp.Or(w.retryAfter, "7"))
			rw.WriteHeader(http.StatusTooManyRequests)
			return
		}
		w.calls[method] = append(w.calls[method], v)
		json.NewEncoder(rw).Encode(answer(v))
	}
}

// sent returns the recorded calls of a method.
func (w *workspace) sent(method string) []url.Values {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]url.Values(nil), w.calls[method]...)
}

// waitFor polls until cond holds on the recorded calls of a method.
func (w *workspace) waitFor(t *testing.T, method string, what string, cond func([]url.Values) bool) []url.Values {
	t.Helper()
	var calls []url.Values
	testenv.Eventually(t, testenv.Wait, func() (bool, string) {
		calls = w.sent(method)
		return cond(calls), fmt.Sprintf("never saw %s: %s; calls: %v", method, what, calls)
	})
	return calls
}

func containing(s string) func([]url.Values) bool {
	return func(calls []url.Values) bool {
		for _, c := range calls {
			if strings.Contains(c.Encode(), url.QueryEscape(s)) || strings.Contains(fmt.Sprint(c), s) {
				return true
			}
		}
		return false
	}
}

// signed posts an interaction payload to the gateway as Slack does: the
// body form-encoded, signed with the secret over "v0:timestamp:body".
func signed(t *testing.T, endpoint, secret string, at time.Time, payload string) (*http.Response, string, http.Header) {
	t.Helper()
	body := "payload=" + url.QueryEscape(payload)
	ts := strconv.FormatInt(at.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(mac, "v0:%s:%s", ts, body)
	h := http.Header{}
	h.Set("Content-Type", "application/x-www-form-urlencoded")
	h.Set("X-Slack-Request-Timestamp", ts)
	h.Set("X-Slack-Signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
	return send(t, endpoint, body, h), body, h
}

func send(t *testing.T, endpoint, body string, h http.Header) *http.Response {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = h.Clone()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { resp.Body.Close() })
	return resp
}

func readBody(resp *http.Response) string {
	b, _ := io.ReadAll(resp.Body)
	return string(b)
}

// click is a block_actions payload: user clicked action on the message.
func click(user, action, request, department, system, channel, ts string) string {
	value, _ := json.Marshal(map[string]string{"r": request, "d": department, "s": system})
	b, _ := json.Marshal(map[string]any{
		"type": "block_actions", "user": map[string]any{"id": user}, "trigger_id": "trigger-" + user + "-" + action,
		"channel":   map[string]any{"id": channel},
		"container": map[string]any{"type": "message", "message_ts": ts, "channel_id": channel},
		"actions":   []map[string]any{{"action_id": action, "block_id": "signoff", "type": "button", "value": string(value)}},
	})
	return string(b)
}

// submit is a view_submission payload of a modal the engine opened.
func submit(user, callback, metadata string, values map[string]map[string]any) string {
	b, _ := json.Marshal(map[string]any{
		"type": "view_submission", "user": map[string]any{"id": user},
		"view": map[string]any{"id": "V1", "callback_id": callback, "private_metadata": metadata, "state": map[string]any{"values": values}},
	})
	return string(b)
}

func text(v string) map[string]any { return map[string]any{"type": "plain_text_input", "value": v} }
