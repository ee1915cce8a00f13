package opendsr

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// FuzzRequestBody: any body is an OpenDSR request that becomes a valid
// workflow input under the controller's own id, or an error; nothing
// panics.
func FuzzRequestBody(f *testing.F) {
	f.Add([]byte(`{"subject_request_id":"a7551968-d5d6-44b2-9831-815ac9017798","subject_request_type":"erasure","submitted_time":"2018-10-02T15:00:00Z",` +
		`"subject_identities":[{"identity_type":"email","identity_value":"johnsmith@gmail.com","identity_format":"raw"}],"api_version":"2.0",` +
		`"property_id":"123","status_callback_urls":["https://examplecontroller.com/opendsr/callbacks"]}`))
	f.Add([]byte(`{"subject_request_id":"x","subject_request_type":"access"}`))
	f.Add([]byte(`{"subject_identities":[{"identity_type":"phone_number","identity_value":"+1 555"}]}`))
	f.Add([]byte(`[]`))
	s := &Server{}
	now := time.Date(2026, 12, 2, 0, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, body []byte) {
		var q Request
		if json.Unmarshal(body, &q) != nil {
			return
		}
		in, err := s.input(q, "acme-controller", now)
		if err != nil {
			return
		}
		if !strings.HasPrefix(in.RequestID, "odsr-") || in.RequestedBy != "opendsr:acme-controller" {
			t.Fatalf("input %+v", in)
		}
		if err := in.Validate(); err != nil {
			t.Fatalf("an accepted body makes an invalid input: %v", err)
		}
	})
}
