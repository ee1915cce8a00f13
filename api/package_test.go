package api

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestPackagePathStaysInTheExportDirectory: a request's state names its
// package; the gateway serves it only from inside the export directory,
// whatever the state says.
func TestPackagePathStaysInTheExportDirectory(t *testing.T) {
	root := t.TempDir()
	exports := filepath.Join(root, "exports")
	if err := os.MkdirAll(filepath.Join(exports, "R-1"), 0o700); err != nil {
		t.Fatal(err)
	}
	pkg := filepath.Join(exports, "R-1", "package.zip")
	secret := filepath.Join(root, "master.key")
	for _, f := range []string{pkg, secret} {
		if err := os.WriteFile(f, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.Symlink(secret, filepath.Join(exports, "R-1", "link.zip")); err != nil {
		t.Fatal(err)
	}
	s := &Server{ExportDir: exports}
	for _, tc := range []struct {
		location string
		ok       bool
	}{
		{"file://" + pkg, true},
		{"file://" + filepath.Join(exports, "R-2", "package.zip"), true}, // gone, but inside: 410 to the caller
		{"file://" + secret, false},
		{"file:///etc/passwd", false},
		{"file://" + exports + "/R-1/../../master.key", false},
		{"file://" + filepath.Join(exports, "R-1", "link.zip"), false},
		{"file://" + exports, false},
		{"file://" + exports + "-other/package.zip", false},
	} {
		got, err := s.packagePath(tc.location)
		if (err == nil) != tc.ok {
			t.Errorf("%s: %q, %v; want allowed %v", tc.location, got, err, tc.ok)
		}
		if err == nil && !strings.HasPrefix(got, exports) {
			t.Errorf("%s resolved to %s", tc.location, got)
		}
	}
	if _, err := (&Server{}).packagePath("file://" + pkg); err == nil {
		t.Error("served a package without an export directory")
	}
}
