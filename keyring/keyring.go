// Package keyring holds the engine's secret keys and everything done with
// them: sealing identities for the store, keyed hashes to find a subject
// without decrypting, and the Temporal payload codec that keeps personal data
// out of workflow histories in plain text.
package keyring

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// MasterKeySize is the length of the master key in bytes (AES-256).
const MasterKeySize = 32

// Keyring derives one key per purpose from a master key, so a leaked hash
// key cannot decrypt and the payload key cannot forge lookups.
type Keyring struct {
	seal    cipher.AEAD
	payload cipher.AEAD
	hashKey []byte
	// claimKey signs who made a change, so a workflow can tell a change
	// from the engine's authenticated channels from one typed into a bare
	// Temporal client.
	claimKey []byte
	// pseudonymKey is the root of the per-system keys of erasure's hmac
	// strategy.
	pseudonymKey []byte
	// auditKey keys the audit log's hash chain.
	auditKey []byte
	keyID    string
	// wrap wraps the subjects' data keys: derived from the master key
	// unless a wrapping key of its own is set, which can then be rotated.
	*Wrapper
}

// New builds a keyring from a 32-byte master key.
func New(master []byte) (*Keyring, error) {
	if len(master) != MasterKeySize {
		return nil, fmt.Errorf("master key must be %d bytes, got %d", MasterKeySize, len(master))
	}
	seal, err := newAEAD(derive(master, "dsr/identity-seal/v1"))
	if err != nil {
		return nil, err
	}
	payloadKey := derive(master, "dsr/payload/v1")
	payload, err := newAEAD(payloadKey)
	if err != nil {
		return nil, err
	}
	id := sha256.Sum256(payloadKey)
	wrap, err := NewWrapper(derive(master, "dsr/wrapping-key/v1"))
	if err != nil {
		return nil, err
	}
	return &Keyring{
		Wrapper:      wrap,
		seal:         seal,
		payload:      payload,
		hashKey:      derive(master, "dsr/identity-hash/v1"),
		claimKey:     derive(master, "dsr/claims/v1"),
		pseudonymKey: derive(master, "dsr/pseudonym/v1"),
		auditKey:     derive(master, "dsr/audit/v1"),
		keyID:        hex.EncodeToString(id[:6]),
	}, nil
}

// ParseMasterKey decodes a base64 master key as given in DSR_MASTER_KEY.
func ParseMasterKey(s string) ([]byte, error) {
	key, err := base64.StdEncoding.DecodeString(strings.TrimSpace(s))
	if err != nil {
		return nil, fmt.Errorf("not valid base64: %w", err)
	}
	if len(key) != MasterKeySize {
		return nil, fmt.Errorf("must decode to %d bytes, got %d (generate one with: openssl rand -base64 32)", MasterKeySize, len(key))
	}
	return key, nil
}

// LoadOrCreateKeyFile reads a base64 master key file, creating it with a
// fresh random key (mode 0600) when it does not exist yet. Dev mode keeps its
// key beside its data so that state survives restarts.
func LoadOrCreateKeyFile(path string) ([]byte, error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		key := make([]byte, MasterKeySize)
		if _, err := rand.Read(key); err != nil {
			return nil, err
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, err
		}
		if err := os.WriteFile(path, []byte(base64.StdEncoding.EncodeToString(key)+"\n"), 0o600); err != nil {
			return nil, fmt.Errorf("write key file %s: %w", path, err)
		}
		return key, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read key file %s: %w", path, err)
	}
	return ReadKey(path, b)
}

// ReadKey parses the contents of a key file, naming the file in errors.
func ReadKey(path string, contents []byte) ([]byte, error) {
	key, err := ParseMasterKey(string(contents))
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	return key, nil
}

func derive(master []byte, purpose string) []byte {
	m := hmac.New(sha256.New, master)
	m.Write([]byte(purpose))
	return m.Sum(nil)
}

func newAEAD(key []byte) (cipher.AEAD, error) {
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	return cipher.NewGCM(block)
}

// UseWrapKey makes a wrapping key of its own wrap the subjects' data keys
// (DSR_WRAP_KEY_FILE), so that it can be rotated.
func (k *Keyring) UseWrapKey(key []byte) error {
	w, err := NewWrapper(key)
	if err != nil {
		return err
	}
	k.Wrapper = w
	return nil
}

// KeyID names the payload key without revealing it, for rotation.
func (k *Keyring) KeyID() string { return k.keyID }

// Hash is the keyed lookup hash of a normalized identity: equal identities
// hash equal, and without the key nobody can test a guess against it.
func (k *Keyring) Hash(kind, value string) string {
	m := hmac.New(sha256.New, k.hashKey)
	m.Write([]byte(kind))
	m.Write([]byte{0})
	m.Write([]byte(value))
	return hex.EncodeToString(m.Sum(nil))
}

// PseudonymKey is the key of erasure's hmac strategy in one system: the
// same value gives the same pseudonym within the system, and none that
// can be joined across systems or tested without the master key.
func (k *Keyring) PseudonymKey(system string) []byte { return derive(k.pseudonymKey, system) }

// AuditKey keys the audit log's chain: whoever can write the store but
// lacks the master key cannot recompute it after an edit.
func (k *Keyring) AuditKey() []byte { return k.auditKey }

// Sign is the MAC of a change's claim.
func (k *Keyring) Sign(msg []byte) []byte {
	m := hmac.New(sha256.New, k.claimKey)
	m.Write(msg)
	return m.Sum(nil)
}

// Signed reports whether sig is msg's MAC, in constant time.
func (k *Keyring) Signed(msg, sig []byte) bool { return hmac.Equal(k.Sign(msg), sig) }

// Seal encrypts plaintext; ad binds the ciphertext to its context (for
// example the identity kind) so a sealed value cannot be moved to another row.
func (k *Keyring) Seal(plaintext, ad []byte) ([]byte, error) { return seal(k.seal, plaintext, ad) }

// Open reverses Seal.
func (k *Keyring) Open(ciphertext, ad []byte) ([]byte, error) { return open(k.seal, ciphertext, ad) }

func seal(aead cipher.AEAD, plaintext, ad []byte) ([]byte, error) {
	nonce := make([]byte, aead.NonceSize(), aead.NonceSize()+len(plaintext)+aead.Overhead())
	if _, err := rand.Read(nonce); err != nil {
		return nil, err
	}
	return aead.Seal(nonce, nonce, plaintext, ad), nil
}

func open(aead cipher.AEAD, ciphertext, ad []byte) ([]byte, error) {
	if len(ciphertext) < aead.NonceSize()+aead.Overhead() {
		return nil, errors.New("ciphertext too short")
	}
	n := aead.NonceSize()
	out, err := aead.Open(nil, ciphertext[:n], ciphertext[n:], ad)
	if err != nil {
		return nil, errors.New("decryption failed: wrong key or tampered data")
	}
	return out, nil
}
