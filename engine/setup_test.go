package engine

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dsrengine/dsr/config"
)

// TestCheckSettings: the worker's settings with Slack's, every problem at
// once and each naming its variable.
func TestCheckSettings(t *testing.T) {
	dir := t.TempDir()
	cfg := filepath.Join(dir, "map.yaml")
	os.WriteFile(cfg, []byte("departments: []\n"), 0o600)
	base := map[string]string{"DATABASE_URL": "postgres://h/d", "DSR_CONFIG": cfg, "DSR_MASTER_KEY": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=", "DSR_EXPORT_DIR": dir}
	for _, tc := range []struct {
		name  string
		slack map[string]string
		want  []string
	}{
		{"no slack", nil, nil},
		{"slack over socket mode", map[string]string{"DSR_SLACK_BOT_TOKEN": "xoxb-1", "DSR_SLACK_APP_TOKEN": "xapp-1"}, nil},
		{"slack without a way in", map[string]string{"DSR_SLACK_BOT_TOKEN": "xoxb-1-2"}, []string{"set DSR_SLACK_SIGNING_SECRET (interactions over HTTP) or DSR_SLACK_APP_TOKEN (Socket Mode)"}},
		{"slack user token", map[string]string{"DSR_SLACK_BOT_TOKEN": "xoxp-1", "DSR_SLACK_SIGNING_SECRET": "s"}, []string{"DSR_SLACK_BOT_TOKEN must be a bot token (xoxb-…)"}},
		{"slack and a bad address", map[string]string{"DSR_SLACK_BOT_TOKEN": "xoxb-1", "DSR_SLACK_APP_TOKEN": "xoxb-2", "DSR_TEMPORAL_ADDRESS": "nowhere"},
			[]string{"invalid settings:", "DSR_SLACK_APP_TOKEN must be an app-level token (xapp-…)", `--temporal-address (DSR_TEMPORAL_ADDRESS): "nowhere" is not host:port`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, k := range []string{"DATABASE_URL", "DSR_CONFIG", "DSR_MASTER_KEY", "DSR_MASTER_KEY_FILE", "DSR_EXPORT_DIR", "DSR_TEMPORAL_ADDRESS",
				"DSR_SLACK_BOT_TOKEN", "DSR_SLACK_SIGNING_SECRET", "DSR_SLACK_APP_TOKEN"} {
				v, ok := tc.slack[k]
				if !ok {
					v = base[k]
				}
				t.Setenv(k, v)
			}
			var s config.Settings
			fs := flag.NewFlagSet("worker", flag.ContinueOnError)
			s.Bind(fs)
			if err := fs.Parse(nil); err != nil {
				t.Fatal(err)
			}
			err := CheckSettings(&s)
			if len(tc.want) == 0 {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			for _, w := range tc.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q: %v", w, err)
				}
			}
		})
	}
}

// TestSlackConfig: channels and approvers come from the data map; a
// department without a channel gets direct messages.
func TestSlackConfig(t *testing.T) {
	f, err := config.Parse("acme.yaml", []byte(`departments:
  - name: Finance
    channel: "#finance"
    approvers: [U0123456789, controller@acme.example]
  - name: Sales
    approvers: [sales@acme.example]
compliance: {channel: "#privacy", lead: dpo@acme.example}
`))
	if err != nil {
		t.Fatal(err)
	}
	sc := SlackConfig(&config.Settings{SlackBotToken: "xoxb-1"}, f)
	if sc.BotToken != "xoxb-1" || len(sc.Departments) != 2 || sc.Departments[0].DirectMessages || !sc.Departments[1].DirectMessages ||
		len(sc.Departments[0].Approvers) != 2 || sc.ComplianceChannel != "#privacy" || sc.ComplianceLead != "dpo@acme.example" {
		t.Fatalf("slack config = %+v", sc)
	}
}
