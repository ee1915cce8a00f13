// Package transit is a stand-in for Vault's transit secrets engine, for
// the tests of the master key's KMS: Vault is not reachable where tests
// run. It speaks the API's parts the engine uses (encrypt, decrypt,
// rewrap; token and versioned ciphertexts; Vault's error shape) and
// counts the calls, so a test can show what did and did not reach it.
package transit

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

// Server is one transit key with versions; Rotate adds one.
type Server struct {
	Token, Key string

	mu       sync.Mutex
	versions [][]byte
	calls    map[string]int
}

// New makes a server holding key at version 1.
func New(token, key string) *Server {
	s := &Server{Token: token, Key: key, calls: map[string]int{}}
	s.Rotate()
	return s
}

// Rotate adds a key version; new ciphertexts use it, old ones still open.
func (s *Server) Rotate() {
	s.mu.Lock()
	defer s.mu.Unlock()
	k := make([]byte, 32)
	rand.Read(k)
	s.versions = append(s.versions, k)
}

// Calls counts the calls per operation.
func (s *Server) Calls(op string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.calls[op]
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/") // v1 transit op key
	if r.Method != http.MethodPost || len(parts) != 4 || parts[0] != "v1" || parts[1] != "transit" {
		fail(w, http.StatusNotFound, "no handler for route")
		return
	}
	op, key := parts[2], parts[3]
	s.calls[op]++
	if r.Header.Get("X-Vault-Token") != s.Token {
		fail(w, http.StatusForbidden, "permission denied")
		return
	}
	if key != s.Key {
		fail(w, http.StatusBadRequest, "encryption key not found")
		return
	}
	var in struct{ Plaintext, Ciphertext string }
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		fail(w, http.StatusBadRequest, "invalid request")
		return
	}
	switch op {
	case "encrypt":
		plain, err := base64.StdEncoding.DecodeString(in.Plaintext)
		if err != nil {
			fail(w, http.StatusBadRequest, "invalid plaintext: not base64")
			return
		}
		reply(w, map[string]string{"ciphertext": s.seal(plain)})
	case "decrypt":
		plain, err := s.open(in.Ciphertext)
		if err != nil {
			fail(w, http.StatusBadRequest, err.Error())
			return
		}
		reply(w, map[string]string{"plaintext": base64.StdEncoding.EncodeToString(plain)})
	case "rewrap":
		plain, err := s.open(in.Ciphertext)
		if err != nil {
			fail(w, http.StatusBadRequest, err.Error())
			return
		}
		reply(w, map[string]string{"ciphertext": s.seal(plain)})
	default:
		fail(w, http.StatusNotFound, "no handler for route")
	}
}

func (s *Server) aead(version int) cipher.AEAD {
	block, _ := aes.NewCipher(s.versions[version-1])
	g, _ := cipher.NewGCM(block)
	return g
}

func (s *Server) seal(plain []byte) string {
	v := len(s.versions)
	g := s.aead(v)
	nonce := make([]byte, g.NonceSize())
	rand.Read(nonce)
	return fmt.Sprintf("vault:v%d:%s", v, base64.StdEncoding.EncodeToString(g.Seal(nonce, nonce, plain, nil)))
}

func (s *Server) open(ct string) ([]byte, error) {
	rest, ok := strings.CutPrefix(ct, "vault:v")
	ver, b64, ok2 := strings.Cut(rest, ":")
	v, err := strconv.Atoi(ver)
	if !ok || !ok2 || err != nil || v < 1 || v > len(s.versions) {
		return nil, fmt.Errorf("invalid ciphertext: no key version")
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	g := s.aead(v)
	if err != nil || len(raw) < g.NonceSize() {
		return nil, fmt.Errorf("invalid ciphertext")
	}
	plain, err := g.Open(nil, raw[:g.NonceSize()], raw[g.NonceSize():], nil)
	if err != nil {
		return nil, fmt.Errorf("cipher: message authentication failed")
	}
	return plain, nil
}

func reply(w http.ResponseWriter, data any) {
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"data": data})
}

func fail(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(map[string]any{"errors": []string{msg}})
}
