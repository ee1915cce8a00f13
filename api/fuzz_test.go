package api

import (
	"encoding/json"
	"testing"
	"time"
)

// FuzzStartBody: any body the API decodes becomes a valid request input
// or a clear error; nothing panics.
func FuzzStartBody(f *testing.F) {
	f.Add([]byte(`{"type":"access","regulation":"gdpr","identities":[{"kind":"email","value":"jane@example.com"}]}`))
	f.Add([]byte(`{"type":"opt_in","regulation":"ccpa","identities":[{"kind":"phone","value":"+1 202 555 0101"}],"consent":{"purpose":"newsletter"}}`))
	f.Add([]byte(`{"id":"../../etc","type":"erasure","regulation":"lgpd","received":"2999-01-01","time_zone":"Mars/Olympus"}`))
	f.Add([]byte(`{"identities":[{"kind":"customer_id","value":"C1\u200b"}]}`))
	now := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte) {
		var b StartBody
		if json.Unmarshal(body, &b) != nil {
			return
		}
		in, err := b.Input("api:fuzz", now)
		if err != nil {
			return
		}
		if err := in.Validate(); err != nil {
			t.Fatalf("an accepted body makes an invalid input: %v", err)
		}
	})
}
