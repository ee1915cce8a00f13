package engine_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

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
}
