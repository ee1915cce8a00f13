// Package vault is the master key's KMS (keyring.KMS) on HashiCorp
// Vault's transit secrets engine, or OpenBao's, which speaks the same API.
// It is apart from keyring because the workflows link keyring, and must
// not link an HTTP client.
package vault

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

// Transit is the KMS of HashiCorp Vault's transit secrets engine (or
// OpenBao's, which speaks the same API): the key named Key under the
// engine's mount (default "transit") never leaves Vault.
type Transit struct {
	// Addr is Vault's URL, e.g. https://vault.internal:8200.
	Addr string
	// Token authenticates; Namespace is Vault Enterprise's or HCP's.
	Token, Namespace string
	Mount, Key       string
	Client           *http.Client
}

// Encrypt implements keyring.KMS.
func (v Transit) Encrypt(ctx context.Context, plaintext []byte) (string, error) {
	var out struct {
		Ciphertext string `json:"ciphertext"`
	}
	err := v.call(ctx, "encrypt", map[string]string{"plaintext": base64.StdEncoding.EncodeToString(plaintext)}, &out)
	return out.Ciphertext, err
}

// Decrypt implements keyring.KMS.
func (v Transit) Decrypt(ctx context.Context, ciphertext string) ([]byte, error) {
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

// Rewrap implements keyring.KMS.
func (v Transit) Rewrap(ctx context.Context, ciphertext string) (string, error) {
	var out struct {
		Ciphertext string `json:"ciphertext"`
	}
	err := v.call(ctx, "rewrap", map[string]string{"ciphertext": ciphertext}, &out)
	return out.Ciphertext, err
}

func (v Transit) call(ctx context.Context, op string, body map[string]string, out any) error {
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
