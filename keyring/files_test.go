package keyring_test

import (
	"bytes"
	"crypto/rand"
	"io"
	"strings"
	"testing"

	"github.com/dsrengine/dsr/keyring"
)

// TestFiles: encrypted files read back whole at every size around the
// chunk boundary, and refuse a wrong key, another file's name, a cut,
// a dropped or swapped chunk and a changed byte.
func TestFiles(t *testing.T) {
	key, other := make([]byte, 32), make([]byte, 32)
	rand.Read(key)
	rand.Read(other)
	const chunk = 64 << 10
	encrypt := func(plain []byte) []byte {
		var b bytes.Buffer
		w, err := keyring.NewFileWriter(&b, key, "crm.json")
		if err != nil {
			t.Fatal(err)
		}
		for i := 0; i < len(plain); i += 1000 { // in pieces, as a connector writes
			w.Write(plain[i:min(i+1000, len(plain))])
		}
		if err := w.Close(); err != nil {
			t.Fatal(err)
		}
		return b.Bytes()
	}
	read := func(enc, key []byte, name string) ([]byte, error) {
		r, err := keyring.NewFileReader(bytes.NewReader(enc), key, name)
		if err != nil {
			return nil, err
		}
		return io.ReadAll(r)
	}
	for _, size := range []int{0, 1, chunk - 1, chunk, chunk + 1, 3*chunk + 17} {
		plain := make([]byte, size)
		rand.Read(plain)
		enc := encrypt(plain)
		if bytes.Contains(enc, plain[:min(size, 64)]) && size > 16 {
			t.Fatalf("size %d: plain text in the file", size)
		}
		got, err := read(enc, key, "crm.json")
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("size %d: %v, %d bytes back", size, err, len(got))
		}
	}
	plain := []byte(strings.Repeat("jane@example.com,", 3*chunk/17))
	enc := encrypt(plain)
	head := 6 + 7
	sealed := chunk + 16
	attacks := map[string]func() ([]byte, error){
		"wrong key":      func() ([]byte, error) { return read(enc, other, "crm.json") },
		"another name":   func() ([]byte, error) { return read(enc, key, "billing.json") },
		"cut at a chunk": func() ([]byte, error) { return read(enc[:head+sealed], key, "crm.json") },
		"cut mid-chunk":  func() ([]byte, error) { return read(enc[:len(enc)-5], key, "crm.json") },
		"a chunk dropped": func() ([]byte, error) {
			return read(append(slicesClone(enc[:head]), enc[head+sealed:]...), key, "crm.json")
		},
		"chunks swapped": func() ([]byte, error) { return read(swap(enc, head, sealed), key, "crm.json") },
		"a byte changed": func() ([]byte, error) { c := slicesClone(enc); c[head+100] ^= 1; return read(c, key, "crm.json") },
		"not encrypted":  func() ([]byte, error) { return read(plain, key, "crm.json") },
	}
	for name, attack := range attacks {
		if got, err := attack(); err == nil {
			t.Errorf("%s: read %d bytes without error", name, len(got))
		}
	}
}

func slicesClone(b []byte) []byte { return append([]byte(nil), b...) }

func swap(enc []byte, head, sealed int) []byte {
	c := slicesClone(enc)
	copy(c[head:head+sealed], enc[head+sealed:head+2*sealed])
	copy(c[head+sealed:head+2*sealed], enc[head:head+sealed])
	return c
}
