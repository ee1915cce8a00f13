// Package opendsr lets OpenDSR controllers send requests into the engine:
// the processor endpoints of OpenDSR v2 (discovery, create, status,
// cancel) and the older OpenGDPR paths and headers. Responses and status
// callbacks are signed with the engine's key; its certificate is served
// at the URL discovery names, so a controller can check every receipt.
package opendsr

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"os"
	"time"
)

// Signer signs with the engine's key and hands out its certificate.
type Signer struct {
	key     *rsa.PrivateKey
	CertPEM []byte
}

// Sign returns the base64 RSA-SHA256 signature of body.
func (s *Signer) Sign(body []byte) (string, error) {
	sum := sha256.Sum256(body)
	sig, err := rsa.SignPKCS1v15(rand.Reader, s.key, crypto.SHA256, sum[:])
	if err != nil {
		return "", err
	}
	return base64.StdEncoding.EncodeToString(sig), nil
}

// Verify checks a signature against a PEM certificate: what a controller
// does with a callback.
func Verify(certPEM, body []byte, signature string) error {
	block, _ := pem.Decode(certPEM)
	if block == nil {
		return errors.New("not a PEM certificate")
	}
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return err
	}
	pub, ok := cert.PublicKey.(*rsa.PublicKey)
	if !ok {
		return errors.New("the certificate's key is not RSA")
	}
	sig, err := base64.StdEncoding.DecodeString(signature)
	if err != nil {
		return fmt.Errorf("signature is not base64: %w", err)
	}
	sum := sha256.Sum256(body)
	return rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig)
}

// LoadSigner reads a PEM key and certificate.
func LoadSigner(keyFile, certFile string) (*Signer, error) {
	keyPEM, err := os.ReadFile(keyFile)
	if err != nil {
		return nil, fmt.Errorf("opendsr key: %w", err)
	}
	certPEM, err := os.ReadFile(certFile)
	if err != nil {
		return nil, fmt.Errorf("opendsr certificate: %w", err)
	}
	block, _ := pem.Decode(keyPEM)
	if block == nil {
		return nil, fmt.Errorf("opendsr key %s: not PEM", keyFile)
	}
	var key any
	if key, err = x509.ParsePKCS8PrivateKey(block.Bytes); err != nil {
		if key, err = x509.ParsePKCS1PrivateKey(block.Bytes); err != nil {
			return nil, fmt.Errorf("opendsr key %s: %w", keyFile, err)
		}
	}
	rsaKey, ok := key.(*rsa.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("opendsr key %s: must be RSA (OpenDSR signs with RSA-SHA256)", keyFile)
	}
	if err := Verify(certPEM, []byte("check"), mustSign(rsaKey, []byte("check"))); err != nil {
		return nil, fmt.Errorf("opendsr certificate %s does not match the key: %w", certFile, err)
	}
	return &Signer{key: rsaKey, CertPEM: certPEM}, nil
}

func mustSign(key *rsa.PrivateKey, body []byte) string {
	s, _ := (&Signer{key: key}).Sign(body)
	return s
}

// LoadOrCreateSigner keeps a self-signed key and certificate in two files,
// making them on first use: for dev mode.
func LoadOrCreateSigner(keyFile, certFile, domain string) (*Signer, error) {
	if _, err := os.Stat(keyFile); err == nil {
		return LoadSigner(keyFile, certFile)
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: domain, Organization: []string{"dsr"}},
		DNSNames: []string{domain}, NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().AddDate(5, 0, 0),
		KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	certPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
	keyDER, _ := x509.MarshalPKCS8PrivateKey(key)
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: keyDER}), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(certFile, certPEM, 0o644); err != nil {
		return nil, err
	}
	return &Signer{key: key, CertPEM: certPEM}, nil
}
