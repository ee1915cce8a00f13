package keyring

import (
	"crypto/cipher"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
)

// A subject's data key encrypts what the engine keeps of that person (the
// sealed identities, archived histories and exports), so destroying the
// one key makes every copy unreadable, backups included: crypto-shredding.
// Data keys are random, and kept only wrapped by the wrapping key, which
// can be rotated by re-wrapping them, without touching the data.

// DataKeySize is a data key's length (AES-256).
const DataKeySize = 32

// NewDataKey makes a random data key.
func NewDataKey() ([]byte, error) {
	k := make([]byte, DataKeySize)
	_, err := rand.Read(k)
	return k, err
}

// Wrapper wraps data keys.
type Wrapper struct {
	aead cipher.AEAD
	id   string
}

// NewWrapper builds a wrapper from a 32-byte wrapping key.
func NewWrapper(key []byte) (*Wrapper, error) {
	if len(key) != MasterKeySize {
		return nil, fmt.Errorf("wrapping key must be %d bytes, got %d", MasterKeySize, len(key))
	}
	aead, err := newAEAD(derive(key, "dsr/subject-wrap/v1"))
	if err != nil {
		return nil, err
	}
	id := sha256.Sum256(derive(key, "dsr/subject-wrap-id/v1"))
	return &Wrapper{aead: aead, id: hex.EncodeToString(id[:6])}, nil
}

// WrapKeyID names the wrapping key without revealing it: a wrapped key
// records which key wrapped it.
func (w *Wrapper) WrapKeyID() string { return w.id }

// Wrap encrypts a subject's data key, bound to the subject.
func (w *Wrapper) Wrap(subjectID string, dataKey []byte) ([]byte, error) {
	return seal(w.aead, dataKey, []byte("subject-key:"+subjectID))
}

// Unwrap reverses Wrap.
func (w *Wrapper) Unwrap(subjectID string, wrapped []byte) ([]byte, error) {
	k, err := open(w.aead, wrapped, []byte("subject-key:"+subjectID))
	if err != nil {
		return nil, fmt.Errorf("subject key: %w", err)
	}
	return k, nil
}

// Data seals and opens under a data key.
type Data struct{ aead cipher.AEAD }

// NewData builds a sealer for a data key.
func NewData(dataKey []byte) (*Data, error) {
	aead, err := newAEAD(derive(dataKey, "dsr/subject-seal/v1"))
	if err != nil {
		return nil, err
	}
	return &Data{aead: aead}, nil
}

// Seal encrypts plaintext, bound to ad.
func (d *Data) Seal(plaintext, ad []byte) ([]byte, error) { return seal(d.aead, plaintext, ad) }

// Open reverses Seal.
func (d *Data) Open(ciphertext, ad []byte) ([]byte, error) { return open(d.aead, ciphertext, ad) }

// RequestKey is the key of one request's files, derived from the
// subject's data key: a leaked file key opens one request's files only.
func RequestKey(dataKey []byte, requestID string) []byte {
	return derive(dataKey, "dsr/request-files/v1/"+requestID)
}
