package claims_test

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dsrengine/dsr/claims"
	"github.com/dsrengine/dsr/keyring"
)

type change struct {
	claims.Signed
	Reason string `json:"reason"`
}

type unsignable struct{ Reason string }

func keys(t *testing.T, fill byte) *keyring.Keyring {
	t.Helper()
	k, err := keyring.New(bytes.Repeat([]byte{fill}, keyring.MasterKeySize))
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// TestSignAndCheck: a claim checks for exactly the change, request,
// Update and time it was made for, under the key that made it.
func TestSignAndCheck(t *testing.T) {
	k := keys(t, 1)
	at := time.Date(2026, 12, 2, 9, 0, 0, 0, time.UTC)
	alice := claims.Actor{Name: "api:alice", Role: claims.RoleRequester, Channel: "api:alice"}
	signed, err := claims.Sign(k, alice, "cancel", "dsr-R-1", "u-1", at, change{Reason: "withdrawn"})
	if err != nil {
		t.Fatal(err)
	}
	c, err := claims.Check(k, "cancel", "dsr-R-1", "u-1", at.Add(time.Minute), signed)
	if err != nil || c.Name != "api:alice" || c.Role != claims.RoleRequester {
		t.Fatalf("check = %+v, %v", c, err)
	}
	// The digest leaves the claim out: signing did not change it.
	d1, _ := claims.Digest(change{Reason: "withdrawn"})
	d2, _ := claims.Digest(signed)
	if d1 != d2 {
		t.Fatal("the digest depends on the claim")
	}
	tampered := signed.(change)
	tampered.Reason = "something else"
	for _, tc := range []struct {
		name           string
		keys           claims.Keys
		op, wf, update string
		at             time.Time
		arg            any
		want           string
	}{
		{"another key", keys(t, 2), "cancel", "dsr-R-1", "u-1", at, signed, "not signed by this engine"},
		{"another operation", k, "deny", "dsr-R-1", "u-1", at, signed, `made for "cancel"`},
		{"another request", k, "cancel", "dsr-R-2", "u-1", at, signed, "another request"},
		{"another Update", k, "cancel", "dsr-R-1", "u-2", at, signed, "replay"},
		{"another change", k, "cancel", "dsr-R-1", "u-1", at, tampered, "not the one the claim was made for"},
		{"too late", k, "cancel", "dsr-R-1", "u-1", at.Add(claims.MaxAge + time.Second), signed, "more than 5m0s"},
		{"from the future", k, "cancel", "dsr-R-1", "u-1", at.Add(-claims.MaxAge - time.Second), signed, "more than 5m0s"},
		{"no claim", k, "cancel", "dsr-R-1", "u-1", at, change{Reason: "x"}, "no signed claim"},
	} {
		if _, err := claims.Check(tc.keys, tc.op, tc.wf, tc.update, tc.at, tc.arg); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want %q", tc.name, err, tc.want)
		}
	}
	if _, err := claims.Check(k, "cancel", "dsr-R-1", "u-1", at, change{Reason: "x"}); !errors.Is(err, claims.ErrMissing) {
		t.Errorf("no claim: %v is not ErrMissing", err)
	}
}

// TestSignRefuses: a change cannot be signed without a whole actor, or
// when it cannot carry a claim.
func TestSignRefuses(t *testing.T) {
	k := keys(t, 1)
	at := time.Now()
	if _, err := claims.Sign(k, claims.Actor{Name: "x", Role: claims.RoleAdmin}, "cancel", "w", "u", at, change{}); err == nil {
		t.Error("signed without a channel")
	}
	if _, err := claims.Sign(k, claims.Actor{Name: "x", Role: claims.RoleAdmin, Channel: "c"}, "cancel", "w", "u", at, unsignable{}); err == nil ||
		!strings.Contains(err.Error(), "does not embed claims.Signed") {
		t.Errorf("signed a change without a claim field: %v", err)
	}
	if _, err := claims.Sign(k, claims.Actor{Name: "x", Role: claims.RoleAdmin, Channel: "c"}, "cancel", "w", "u", at, &change{}); err == nil {
		t.Error("signed a pointer, whose copy the claim would not reach")
	}
}
