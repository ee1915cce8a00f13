package activities_test

import (
	"archive/zip"
	"bytes"
	"context"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dsrengine/dsr/internal/testenv"
	"github.com/dsrengine/dsr/keyring"
	"github.com/dsrengine/dsr/store"
)

var testKeys = func() *keyring.Keyring {
	k, err := keyring.New(testenv.TestKey)
	if err != nil {
		panic(err)
	}
	return k
}()

// writeExport writes an export as the Export activity does: encrypted
// under its request's key.
func writeExport(t *testing.T, st *store.Store, requestID, path, body string) {
	t.Helper()
	key, err := st.RequestKey(context.Background(), testKeys, requestID)
	if err != nil {
		t.Fatal(err)
	}
	var b bytes.Buffer
	w, err := keyring.NewFileWriter(&b, key, filepath.Base(path))
	if err != nil {
		t.Fatal(err)
	}
	io.WriteString(w, body)
	w.Close()
	if err := os.WriteFile(path, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
}

// openPackage decrypts a package and opens it as a zip.
func openPackage(t *testing.T, st *store.Store, requestID, location string) *zip.Reader {
	t.Helper()
	key, err := st.ExistingRequestKey(context.Background(), testKeys, requestID)
	if err != nil {
		t.Fatal(err)
	}
	path := strings.TrimPrefix(location, "file://")
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	r, err := keyring.NewFileReader(f, key, filepath.Base(path))
	if err != nil {
		t.Fatal(err)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	z, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatal(err)
	}
	return z
}
