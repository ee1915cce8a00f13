package keyring

import (
	"context"
	"fmt"
	"strings"
)

// KMS keeps the key that encrypts ("wraps") the master key, so the master
// key is stored only encrypted and each start asks the KMS to decrypt it:
// whoever reads the disk or the environment learns nothing, and the KMS's
// audit log records every start. The engine needs only these calls;
// keyring/vault implements them with Vault's transit engine.
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
