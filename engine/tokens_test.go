package engine_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dsrengine/dsr/engine"
	"github.com/dsrengine/dsr/store"
)

func TestTokensCommand(t *testing.T) {
	ctx := context.Background()
	st, err := store.Open(ctx, filepath.Join(t.TempDir(), "dsr.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	for args, want := range map[string]string{
		"":                                  "give \"create",
		"create --name x --role boss":       `role "boss"`,
		"create --name cfo --role approver": "needs the approver",
		"create --role auditor":             "needs a name",
		"create --name a --role auditor --department Finance": "only approver tokens",
		"revoke": "give the token's id",
		"rotate": `unknown command "rotate"`,
		"create --name a --role auditor --ttl 0d":   "positive number of days",
		"create --name a --role auditor --ttl soon": `"soon"`,
		"create --name a --role auditor --ttl -5h":  "positive",
		"list extra": "takes no arguments",
	} {
		var out bytes.Buffer
		if err := engine.Tokens(ctx, st, strings.Fields(args), &out); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("tokens %s: %v, want %q", args, err, want)
		}
	}
	var out bytes.Buffer
	if err := engine.Tokens(ctx, st, strings.Fields("create --name cfo --role approver --approver cfo@acme.example --department Finance --department Tax"), &out); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(out.String()), "\n")
	secret := lines[len(lines)-1]
	tok, err := st.Authenticate(ctx, secret)
	if err != nil || tok.Role != store.RoleApprover || strings.Join(tok.Departments, ",") != "Finance,Tax" || tok.Approver != "cfo@acme.example" {
		t.Fatalf("token %+v, %v", tok, err)
	}
	if err := engine.Tokens(ctx, st, []string{"revoke", tok.ID}, &out); err != nil {
		t.Fatal(err)
	}
	if _, err := st.Authenticate(ctx, secret); !errors.Is(err, store.ErrUnauthorized) {
		t.Fatalf("a revoked token still works: %v", err)
	}
	if err := engine.Tokens(ctx, st, []string{"revoke", tok.ID}, &out); err == nil {
		t.Fatal("revoking twice succeeded")
	}

	// A token made to live a millisecond is refused once that has passed,
	// and the list shows each token's state, expiry and last use.
	brief, briefSecret, err := st.CreateToken(ctx, store.NewToken{Name: "brief", Role: store.RoleAuditor, TTL: time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Until(brief.ExpiresAt))
	if _, err := st.Authenticate(ctx, briefSecret); !errors.Is(err, store.ErrExpired) {
		t.Fatalf("an expired token: %v", err)
	}
	out.Reset()
	if err := engine.Tokens(ctx, st, strings.Fields("create --name bot --role requester --ttl 30d"), &out); err != nil {
		t.Fatal(err)
	}
	lines = strings.Split(strings.TrimSpace(out.String()), "\n")
	bot, err := st.Authenticate(ctx, lines[len(lines)-1])
	if err != nil || bot.ExpiresAt.Sub(bot.CreatedAt) != 30*24*time.Hour {
		t.Fatalf("a 30-day token: %+v, %v", bot, err)
	}
	out.Reset()
	if err := engine.Tokens(ctx, st, []string{"list"}, &out); err != nil {
		t.Fatal(err)
	}
	list := out.String()
	for _, want := range []string{"cfo@acme.example for Finance, Tax", "revoked " + time.Now().UTC().Format(time.DateOnly), "brief", "expired",
		bot.ExpiresAt.UTC().Format(time.RFC3339)} {
		if !strings.Contains(list, want) {
			t.Errorf("tokens list lacks %q:\n%s", want, list)
		}
	}
	for _, l := range strings.Split(list, "\n") {
		if strings.Contains(l, " bot ") && (strings.HasSuffix(strings.TrimSpace(l), "never") || !strings.Contains(l, "live")) {
			t.Errorf("the used bot token: %q", l)
		}
		if strings.Contains(l, " brief ") && !strings.HasSuffix(strings.TrimSpace(l), "never") {
			t.Errorf("the expired token was never used successfully: %q", l)
		}
	}
	if strings.Contains(list, "dsr_") {
		t.Fatal("tokens list shows a secret")
	}
}
