package store_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/store"
)

// TestVerificationCodes: a code matches once, within its 30 minutes, in
// at most five attempts; a new one replaces it, but not within a minute;
// the store keeps only its hash and counts each attempt before comparing.
func TestVerificationCodes(t *testing.T) {
	backends(t, func(t *testing.T, s *store.Store) {
		ctx := context.Background()
		k := keys(t)
		if _, err := s.RecordProvisional(ctx, newRequest("OTP-1", domain.Access), "privacy-center"); err != nil {
			t.Fatal(err)
		}
		hash := func(code string) string { return k.Hash("verification-code:OTP-1", code) }
		t0 := time.Date(2026, 12, 2, 10, 0, 0, 0, time.UTC)
		check := func(code string, at time.Time, want error) {
			t.Helper()
			if err := s.CheckCode(ctx, "OTP-1", hash(code), at); !errors.Is(err, want) {
				t.Fatalf("code %s at %s: %v; want %v", code, at.Format(time.TimeOnly), err, want)
			}
		}
		check("123456", t0, store.ErrNoCode)
		if err := s.NewCode(ctx, "OTP-1", hash("123456"), t0, t0.Add(30*time.Minute)); err != nil {
			t.Fatal(err)
		}
		if err := s.NewCode(ctx, "OTP-1", hash("654321"), t0.Add(59*time.Second), t0.Add(31*time.Minute)); !errors.Is(err, store.ErrCodeTooSoon) {
			t.Fatalf("a second code within a minute: %v", err)
		}
		check("000000", t0.Add(time.Minute), store.ErrCodeWrong)
		check("123456", t0.Add(2*time.Minute), nil)
		check("123456", t0.Add(3*time.Minute), store.ErrNoCode) // used

		// Expired.
		if err := s.NewCode(ctx, "OTP-1", hash("222222"), t0.Add(time.Hour), t0.Add(time.Hour+30*time.Minute)); err != nil {
			t.Fatal(err)
		}
		check("222222", t0.Add(time.Hour+30*time.Minute+time.Second), store.ErrCodeExpired)

		// Five attempts, then the right code no longer counts.
		if err := s.NewCode(ctx, "OTP-1", hash("333333"), t0.Add(2*time.Hour), t0.Add(2*time.Hour+30*time.Minute)); err != nil {
			t.Fatal(err)
		}
		for i := range store.MaxCodeAttempts {
			check("99999"+string(rune('0'+i)), t0.Add(2*time.Hour), store.ErrCodeWrong)
		}
		check("333333", t0.Add(2*time.Hour), store.ErrCodeUsedUp)
		// A new code starts again.
		if err := s.NewCode(ctx, "OTP-1", hash("444444"), t0.Add(3*time.Hour), t0.Add(3*time.Hour+30*time.Minute)); err != nil {
			t.Fatal(err)
		}
		check("333333", t0.Add(3*time.Hour), store.ErrCodeWrong)
		check("444444", t0.Add(3*time.Hour), nil)

		// The audit log has every attempt and never a code.
		log, err := s.AuditLog(ctx, "OTP-1")
		if err != nil {
			t.Fatal(err)
		}
		tried := 0
		for _, e := range log {
			if e.Action == "verification.code_tried" {
				tried++
			}
			for _, code := range []string{"123456", "222222", "333333", "444444", hash("123456")} {
				if strings.Contains(e.DetailRaw, code) {
					t.Fatalf("the audit log holds a code: %s", e.DetailRaw)
				}
			}
		}
		if want := 4 + 1 + store.MaxCodeAttempts + 1 + 2; tried != want {
			t.Fatalf("%d attempts audited; want %d", tried, want)
		}
	})
}
