package slackapp_test

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dsrengine/dsr/slackapp"
)

// FuzzInteraction: any correctly signed payload is answered with a status,
// never a panic: the same handler serves Socket Mode, where a panic would
// end the worker. Nobody here is an approver, so nothing reaches Temporal.
func FuzzInteraction(f *testing.F) {
	for _, seed := range []string{
		`{"type":"block_actions","user":{"id":"U0X"},"actions":[{"action_id":"dsr_approve","value":"{\"r\":\"R-1\",\"d\":\"Sales\"}"}]}`,
		`{"type":"block_actions","user":{"id":"U0X"},"actions":[]}`,
		`{"type":"view_submission","user":{"id":"U0X"},"view":{"callback_id":"dsr_object","private_metadata":"{\"r\":\"R-1\",\"d\":\"Sales\"}"}}`,
		`{"type":"view_submission","user":{"id":"U0X"},"view":{"callback_id":"dsr_task","private_metadata":"{\"r\":\"R-1\",\"d\":\"Sales\",\"s\":\"paper\"}",` +
			`"state":{"values":{"outcome":{"outcome":{"type":"static_select"}},"records":{"records":{"type":"plain_text_input","value":"-1"}}}}}}`,
		`{"type":"shortcut","user":{"id":"U0X"}}`,
		`{"user":{}}`,
		`not json`,
	} {
		f.Add(seed)
	}
	w := newWorkspace(f)
	st := openStore(f)
	cfg := config(w)
	cfg.Departments = nil
	app, err := slackapp.New(context.Background(), cfg, st, nil, quiet)
	if err != nil {
		f.Fatal(err)
	}
	n := 0
	f.Fuzz(func(t *testing.T, payload string) {
		n++
		body := "payload=" + url.QueryEscape(payload)
		// Each run its own second, so the replay check lets it through.
		ts := strconv.FormatInt(time.Now().Unix()-int64(n%200), 10)
		mac := hmac.New(sha256.New, []byte(secret))
		fmt.Fprintf(mac, "v0:%s:%s", ts, body)
		req := httptest.NewRequest(http.MethodPost, "/slack/interactions", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Slack-Request-Timestamp", ts)
		req.Header.Set("X-Slack-Signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
		rec := httptest.NewRecorder()
		app.ServeHTTP(rec, req)
		if code := rec.Code; code != 200 && code != 400 && code != 409 {
			t.Fatalf("status %d: %s", code, rec.Body.String())
		}
	})
}
