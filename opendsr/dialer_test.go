package opendsr

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// TestCallbacksStayOutside: a controller's callback URL cannot reach the
// processor's own network. Addresses are refused when the request is made,
// and every connection is checked again after DNS, so a name that resolves
// to this machine is refused too.
func TestCallbacksStayOutside(t *testing.T) {
	for _, tt := range []struct {
		url, want string
	}{
		{"https://169.254.169.254/latest/meta-data/", "a link-local address"},
		{"https://10.0.0.1:8443/admin", "a private address"},
		{"https://[fd00::1]/x", "a private address"},
		{"https://127.0.0.1/x", "a loopback address"},
		{"https://localhost/x", "points at this machine"},
		{"https://[::ffff:192.168.1.1]/x", "a private address"},
		{"https://100.64.0.1/x", "a reserved address"},
		{"https://user:pw@controller.example/cb", "without credentials"},
		{"http://controller.example/cb", "must use https"},
		{"https://controller.example/opendsr/callbacks", ""},
	} {
		err := checkCallback(tt.url, false)
		if tt.want == "" && err != nil || tt.want != "" && (err == nil || !strings.Contains(err.Error(), tt.want)) {
			t.Errorf("%s: %v, want %q", tt.url, err, tt.want)
		}
	}
	if err := checkCallback("http://127.0.0.1:9000/cb", true); err != nil {
		t.Errorf("dev mode's loopback controller: %v", err)
	}

	got := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got++ }))
	defer srv.Close()
	// A name that resolves to 127.0.0.1: allowed only where loopback is.
	byName := strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)
	for _, u := range []string{srv.URL, byName} {
		resp, err := callbackClient(false).Post(u, "application/json", nil)
		if err == nil {
			resp.Body.Close()
		}
		if err == nil || !strings.Contains(err.Error(), "refused: a loopback address") {
			t.Errorf("%s without loopback: %v", u, err)
		}
	}
	if got != 0 {
		t.Fatalf("the loopback service was reached %d times", got)
	}
	resp, err := callbackClient(true).Post(byName, "application/json", nil)
	if err != nil || resp.StatusCode != 200 || got != 1 {
		t.Fatalf("with loopback allowed: %v, %d calls", err, got)
	}
	resp.Body.Close()
}
