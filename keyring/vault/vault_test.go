package vault_test

import (
	"context"
	"encoding/base64"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/dsrengine/dsr/internal/transit"
	"github.com/dsrengine/dsr/keyring"
	"github.com/dsrengine/dsr/keyring/vault"
)

// TestVaultTransit wraps a master key, unwraps it, and rewraps it under a
// rotated key version; a wrong token, another key, a changed ciphertext
// and a plaintext that is no master key each fail with what is wrong.
func TestVaultTransit(t *testing.T) {
	server := transit.New("s.root-token", "dsr-master")
	srv := httptest.NewServer(server)
	defer srv.Close()
	ctx := context.Background()
	kms := vault.Transit{Addr: srv.URL, Token: "s.root-token", Key: "dsr-master"}
	master := base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", keyring.MasterKeySize)))

	wrapped, err := kms.Encrypt(ctx, []byte(master))
	if err != nil || !strings.HasPrefix(wrapped, "vault:v1:") || strings.Contains(wrapped, master) {
		t.Fatalf("wrapped = %q, %v", wrapped, err)
	}
	key, err := keyring.UnwrapMasterKey(ctx, kms, "master.wrapped", []byte(wrapped+"\n"))
	if err != nil || string(key) != strings.Repeat("k", keyring.MasterKeySize) {
		t.Fatalf("unwrapped = %q, %v", key, err)
	}
	server.Rotate()
	rewrapped, err := kms.Rewrap(ctx, wrapped)
	if err != nil || !strings.HasPrefix(rewrapped, "vault:v2:") {
		t.Fatalf("rewrapped = %q, %v", rewrapped, err)
	}
	if key, err := keyring.UnwrapMasterKey(ctx, kms, "master.wrapped", []byte(rewrapped)); err != nil || len(key) != keyring.MasterKeySize {
		t.Fatalf("the rewrapped key: %v", err)
	}

	notAKey, _ := kms.Encrypt(ctx, []byte("hello"))
	tampered := wrapped[:len(wrapped)-4] + "AAA="
	for name, tc := range map[string]struct {
		kms     vault.Transit
		wrapped string
		want    string
	}{
		"wrong token":       {vault.Transit{Addr: srv.URL, Token: "s.stolen", Key: "dsr-master"}, wrapped, `decrypt with key "dsr-master": 403 Forbidden: permission denied`},
		"another key":       {vault.Transit{Addr: srv.URL, Token: "s.root-token", Key: "other"}, wrapped, "encryption key not found"},
		"changed":           {kms, tampered, "message authentication failed"},
		"not a ciphertext":  {kms, master, `not a Vault transit ciphertext`},
		"not a master key":  {kms, notAKey, "what the KMS decrypted is not a master key"},
		"vault unreachable": {vault.Transit{Addr: "http://127.0.0.1:1", Token: "s.root-token", Key: "dsr-master"}, wrapped, "vault transit decrypt"},
	} {
		_, err := keyring.UnwrapMasterKey(ctx, tc.kms, "master.wrapped", []byte(tc.wrapped))
		if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "master.wrapped") {
			t.Errorf("%s: %v, want %q", name, err, tc.want)
		}
		if err != nil && strings.Contains(err.Error(), master) {
			t.Errorf("%s: the error shows the key", name)
		}
	}
}
