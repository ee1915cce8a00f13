package config

import (
	"strings"
	"testing"
)

func TestParseRate(t *testing.T) {
	for in, want := range map[string]float64{"5/s": 5, "30/m": 0.5, "360/h": 0.1, "0.5/s": 0.5} {
		if got, err := ParseRate(in); err != nil || got != want {
			t.Errorf("ParseRate(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "5", "5/d", "-1/s", "0/s", "five/s", "5 /s", "1e3/s"} {
		if _, err := ParseRate(bad); err == nil {
			t.Errorf("ParseRate(%q) passed", bad)
		}
	}
}

// TestRateLimitInTheMap: a system's rate_limit is checked at load, and the
// error names the line and the field.
func TestRateLimitInTheMap(t *testing.T) {
	base := `departments:
  - name: Sales
    approvers: [sales@acme.example]
systems:
  - name: sessions
    department: Sales
    connector: CONNECTOR
    redis: {url_env: SESSIONS_URL}
    purposes: [login]
    legal_basis: contract
    retention: 30 days
    rate_limit: RATE
    keys:
      - {pattern: "session:{email}:*", erase: delete}
`
	f, err := Parse("r.yaml", []byte(strings.NewReplacer("CONNECTOR", "redis", "RATE", "20/m").Replace(base)))
	if err != nil || f.Systems[0].RateLimit != "20/m" {
		t.Fatalf("a valid rate: %v", err)
	}
	_, err = Parse("r.yaml", []byte(strings.NewReplacer("CONNECTOR", "redis", "RATE", "fast").Replace(base)))
	if err == nil || !strings.Contains(err.Error(), `r.yaml:12: systems[0].rate_limit: "fast" is not a rate`) {
		t.Fatalf("a rate that is not one: %v", err)
	}
}
