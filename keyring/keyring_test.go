package keyring

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
)

func testKeyring(t *testing.T, fill byte) *Keyring {
	t.Helper()
	k, err := New(bytes.Repeat([]byte{fill}, MasterKeySize))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

func TestSealOpen(t *testing.T) {
	k := testKeyring(t, 1)
	ct, err := k.Seal([]byte("jane@example.com"), []byte("email"))
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(ct, []byte("jane")) {
		t.Fatal("ciphertext contains plaintext")
	}
	pt, err := k.Open(ct, []byte("email"))
	if err != nil || string(pt) != "jane@example.com" {
		t.Fatalf("Open = %q, %v", pt, err)
	}
	if _, err := k.Open(ct, []byte("phone")); err == nil {
		t.Fatal("sealed value opened under another context")
	}
	ct[len(ct)-1] ^= 1
	if _, err := k.Open(ct, []byte("email")); err == nil {
		t.Fatal("tampered ciphertext opened")
	}
	if _, err := testKeyring(t, 2).Open(ct, []byte("email")); err == nil {
		t.Fatal("opened with another key")
	}
}

func TestHash(t *testing.T) {
	a, b := testKeyring(t, 1), testKeyring(t, 2)
	if a.Hash("email", "jane@example.com") != a.Hash("email", "jane@example.com") {
		t.Fatal("hash not stable")
	}
	if a.Hash("email", "jane@example.com") == b.Hash("email", "jane@example.com") {
		t.Fatal("hash does not depend on the key")
	}
	if a.Hash("email", "x") == a.Hash("customer_id", "x") {
		t.Fatal("hash does not depend on the kind")
	}
}

func TestCodecRoundTrip(t *testing.T) {
	k := testKeyring(t, 3)
	dc := k.DataConverter()
	p, err := dc.ToPayload(map[string]string{"email": "jane@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(p.Data, []byte("jane")) || string(p.Metadata["encoding"]) != "binary/encrypted" {
		t.Fatalf("payload not encrypted: %v", p)
	}
	var back map[string]string
	if err := dc.FromPayload(p, &back); err != nil || back["email"] != "jane@example.com" {
		t.Fatalf("round trip = %v, %v", back, err)
	}
	other := testKeyring(t, 4).DataConverter()
	if err := other.FromPayload(p, &back); err == nil || !strings.Contains(err.Error(), "encrypted with key") {
		t.Fatalf("foreign key error = %v", err)
	}
	// A plain payload, as a client without the key sends it, is refused
	// by clients and workers, and only shown by the display codec.
	plain, _ := converter.GetDefaultDataConverter().ToPayload("hello")
	var s string
	if err := dc.FromPayload(plain, &s); !errors.Is(err, ErrPlainPayload) {
		t.Fatalf("plain payload = %q, %v; want ErrPlainPayload", s, err)
	}
	shown, err := k.DisplayCodec().Decode([]*commonpb.Payload{plain})
	if err != nil || string(shown[0].Data) != `"hello"` {
		t.Fatalf("display codec = %v, %v", shown, err)
	}
}

func TestSign(t *testing.T) {
	k, other := testKeyring(t, 3), testKeyring(t, 4)
	sig := k.Sign([]byte("claim"))
	switch {
	case !k.Signed([]byte("claim"), sig):
		t.Fatal("own signature refused")
	case k.Signed([]byte("claim!"), sig):
		t.Fatal("signature accepted for another message")
	case other.Signed([]byte("claim"), sig):
		t.Fatal("signature accepted under another master key")
	}
}

func TestKeyFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "master.key")
	k1, err := LoadOrCreateKeyFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v", st.Mode().Perm())
	}
	k2, err := LoadOrCreateKeyFile(path)
	if err != nil || !bytes.Equal(k1, k2) {
		t.Fatal("key not reloaded")
	}
	bad := filepath.Join(dir, "bad.key")
	os.WriteFile(bad, []byte("c2hvcnQ="), 0o600)
	if _, err := LoadOrCreateKeyFile(bad); err == nil || !strings.Contains(err.Error(), bad) || !strings.Contains(err.Error(), "32 bytes") {
		t.Fatalf("bad key error = %v", err)
	}
	if _, err := ParseMasterKey("not base64!"); err == nil || !strings.Contains(err.Error(), "base64") {
		t.Fatalf("bad base64 error = %v", err)
	}
}

// BenchmarkCodec is the cost the encryption adds to every payload that
// crosses Temporal (a request input of a few hundred bytes).
func BenchmarkCodec(b *testing.B) {
	k, _ := New(bytes.Repeat([]byte{1}, MasterKeySize))
	dc := k.DataConverter()
	in := map[string]any{"request_id": "REQ-1", "type": "access", "identities": []map[string]string{{"kind": "email", "value": "jane@example.com"}}}
	b.ReportAllocs()
	for b.Loop() {
		p, err := dc.ToPayload(in)
		if err != nil {
			b.Fatal(err)
		}
		var out map[string]any
		if err := dc.FromPayload(p, &out); err != nil {
			b.Fatal(err)
		}
	}
}

// A payload encoded for a workflow names it, bound into the ciphertext:
// the codec endpoint audits by it, and relabelling it breaks decryption.
func TestCodecNamesTheWorkflow(t *testing.T) {
	k := testKeyring(t, 3)
	c := k.Codec().WithSerializationContext(converter.WorkflowSerializationContext{Namespace: "dsr", WorkflowID: "dsr-REQ-1"})
	plain, _ := converter.GetDefaultDataConverter().ToPayload("hello")
	enc, err := c.Encode([]*commonpb.Payload{plain})
	if err != nil {
		t.Fatal(err)
	}
	if got := WorkflowOf(enc[0]); got != "dsr-REQ-1" {
		t.Fatalf("workflows = %v", got)
	}
	if dec, err := k.DisplayCodec().Decode(enc); err != nil || string(dec[0].Data) != `"hello"` {
		t.Fatalf("decode = %v, %v", dec, err)
	}
	enc[0].Metadata[MetadataWorkflow] = []byte("dsr-REQ-2")
	if _, err := k.Codec().Decode(enc); err == nil {
		t.Fatal("a payload relabelled to another workflow decrypted")
	}
	act := k.Codec().WithSerializationContext(converter.ActivitySerializationContext{WorkflowID: "dsr-REQ-3"})
	enc, _ = act.Encode([]*commonpb.Payload{plain})
	if got := WorkflowOf(enc[0]); got != "dsr-REQ-3" {
		t.Fatalf("activity payload workflows = %v", got)
	}
}
