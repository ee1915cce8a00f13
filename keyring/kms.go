package keyring

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// KMS keeps the key that encrypts ("wraps") the master key, so the master
// key is stored only encrypted and each start asks the KMS to decrypt it:
// whoever reads the disk or the environment learns nothing, and the KMS's
// audit log records every start. The engine needs only these calls.
type KMS interface {
	// Encrypt wraps a master key; the result is what the wrapped key file
	// holds.
	Encrypt(ctx context.Context, plaintext []byte) (string, error)
	// Decrypt unwraps it.
	Decrypt(ctx context.Context, ciphertext string) ([]byte, error)
	// Rewrap wraps it again under the KMS key's newest version, without
	// the plaintext leaving the KMS: the rotation of the wrapping key.
	Rewrap(ctx context.Context, ciphertext string) (string, error)
}

// UnwrapMasterKey decrypts a wrapped master key file's contents with kms
// and checks that it is a master key.
func UnwrapMasterKey(ctx context.Context, kms KMS, path string, wrapped []byte) ([]byte, error) {
	plain, err := kms.Decrypt(ctx, strings.TrimSpace(string(wrapped)))
	if err != nil {
		return nil, fmt.Errorf("wrapped master key %s: %w", path, err)
	}
	key, err := ParseMasterKey(string(plain))
	if err != nil {
		return nil, fmt.Errorf("wrapped master key %s: what the KMS decrypted is not a master key: %w", path, err)
	}
	return key, nil
}

// VaultTransit is the KMS of HashiCorp Vault's transit secrets engine (or
// OpenBao's, which speaks the same API): the key named Key under the
// engine's mount (default "transit") never leaves Vault.
type VaultTransit struct {
	// Addr is Vault's URL, e.g. https://vault.internal:8200.
	Addr string
	// Token authenticates; Namespace is Vault Enterprise's or HCP's.
	Token, Namespace string
	Mount, Key       string
	Client           *http.Client
}

// Encrypt implements KMS.
func (v VaultTransit) Encrypt(ctx context.Context, plaintext []byte) (string, error) {
	var out struct {
		Ciphertext string `json:"ciphertext"`
	}
	err := v.call(ctx, "encrypt", map[string]string{"plaintext": base64.StdEncoding.EncodeToString(plaintext)}, &out)
	return out.Ciphertext, err
}

// Decrypt implements KMS.
func (v VaultTransit) Decrypt(ctx context.Context, ciphertext string) ([]byte, error) {
	if !strings.HasPrefix(ciphertext, "vault:v") {
		return nil, errors.New(`not a Vault transit ciphertext ("vault:v…")`)
	}
	var out struct {
		Plaintext string `json:"plaintext"`
	}
	if err := v.call(ctx, "decrypt", map[string]string{"ciphertext": ciphertext}, &out); err != nil {
		return nil, err
	}
	b, err := base64.StdEncoding.DecodeString(out.Plaintext)
	if err != nil {
		return nil, fmt.Errorf("vault transit decrypt: the plaintext is not base64: %w", err)
	}
	return b, nil
}

// Rewrap implements KMS.
func (v VaultTransit) Rewrap(ctx context.Context, ciphertext string) (string, error) {
	var out struct {
		Ciphertext string `json:"ciphertext"`
	}
	err := v.call(ctx, "rewrap", map[string]string{"ciphertext": ciphertext}, &out)
	return out.Ciphertext, err
}

func (v VaultTransit) call(ctx context.Context, op string, body map[string]string, out any) error {
	mount := v.Mount
	if mount == "" {
		mount = "transit"
	}
	u := strings.TrimRight(v.Addr, "/") + "/v1/" + url.PathEscape(mount) + "/" + op + "/" + url.PathEscape(v.Key)
	b, _ := json.Marshal(body)
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, u, bytes.NewReader(b))
	if err != nil {
		return fmt.Errorf("vault transit %s: %w", op, err)
	}
	req.Header.Set("X-Vault-Token", v.Token)
	req.Header.Set("Content-Type", "application/json")
	if v.Namespace != "" {
		req.Header.Set("X-Vault-Namespace", v.Namespace)
	}
	c := v.Client
	if c == nil {
		c = http.DefaultClient
	}
	resp, err := c.Do(req)
	if err != nil {
		return fmt.Errorf("vault transit %s: %w", op, err)
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("vault transit %s: %w", op, err)
	}
	if resp.StatusCode != http.StatusOK {
		// Vault's errors name the key or the policy, never the plaintext.
		var e struct {
			Errors []string `json:"errors"`
		}
		json.Unmarshal(raw, &e)
		return fmt.Errorf("vault transit %s with key %q: %s: %s", op, v.Key, resp.Status, strings.Join(e.Errors, "; "))
	}
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(raw, &env); err != nil || len(env.Data) == 0 {
		return fmt.Errorf("vault transit %s: an answer without data", op)
	}
	return json.Unmarshal(env.Data, out)
}
