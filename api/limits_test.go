package api

import (
	"fmt"
	"net"
	"net/http/httptest"
	"testing"
	"time"
)

// TestClientOf: behind a trusted proxy the client is the last address the
// proxies did not add; anyone else's X-Forwarded-For is ignored; an IPv6
// client is its /64.
func TestClientOf(t *testing.T) {
	_, lb, _ := net.ParseCIDR("10.0.0.0/8")
	proxies := []*net.IPNet{lb}
	for _, tt := range []struct{ remote, xff, want string }{
		{"203.0.113.7:4000", "", "203.0.113.7"},
		{"203.0.113.7:4000", "198.51.100.1", "203.0.113.7"},         // not a proxy: its header is ignored
		{"10.1.2.3:4000", "198.51.100.1", "198.51.100.1"},           // the load balancer names the client
		{"10.1.2.3:4000", "6.6.6.6, 198.51.100.1", "198.51.100.1"},  // the client wrote its own hop: the proxy's word counts
		{"10.1.2.3:4000", "198.51.100.1, 10.9.9.9", "198.51.100.1"}, // two proxies in a row
		{"10.1.2.3:4000", "garbage", "10.1.2.3"},                    // a malformed hop stops the walk
		{"[2001:db8:1:2:aaaa::1]:4000", "", "2001:db8:1:2::/64"},    // one household's /64
		{"[2001:db8:1:2:ffff::9]:4000", "", "2001:db8:1:2::/64"},    // rotating within it changes nothing
		{"10.1.2.3:4000", "2001:db8:1:3::77", "2001:db8:1:3::/64"},
	} {
		r := httptest.NewRequest("POST", "/api/v1/public/requests", nil)
		r.RemoteAddr = tt.remote
		if tt.xff != "" {
			r.Header.Set("X-Forwarded-For", tt.xff)
		}
		if got := clientOf(r, proxies); got != tt.want {
			t.Errorf("%s with X-Forwarded-For %q: %s, want %s", tt.remote, tt.xff, got, tt.want)
		}
	}
}

// TestLimiter: five a minute per client, a global ceiling for all, and a
// table that forgets clients once their minute is over.
func TestLimiter(t *testing.T) {
	var l limiter
	now := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
	for i := range perClient {
		if why := l.allow("a", now); why != "" {
			t.Fatalf("submission %d refused: %s", i, why)
		}
	}
	if why := l.allow("a", now); why != "too many requests from this address" {
		t.Fatalf("sixth: %q", why)
	}
	// Many clients, one each: the form as a whole is bounded.
	refused := 0
	for i := range 2 * perAll {
		if l.allow(fmt.Sprintf("c%d", i), now) != "" {
			refused++
		}
	}
	if refused != 2*perAll-(perAll-perClient) {
		t.Fatalf("%d refused of %d", refused, 2*perAll)
	}
	if why := l.allow("fresh", now); why != "too many requests to this form just now" {
		t.Fatalf("past the ceiling: %q", why)
	}
	// A minute on, the table holds only the clients seen since.
	later := now.Add(window + time.Second)
	if why := l.allow("a", later); why != "" || l.size() != 1 {
		t.Fatalf("after the window: %q, %d clients kept", why, l.size())
	}
}
