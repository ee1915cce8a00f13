package redis_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"

	"github.com/dsrengine/dsr/connectors"
	dsrredis "github.com/dsrengine/dsr/connectors/redis"
	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/internal/testenv"
)

// setup seeds keys under a prefix of this test's own on the real Redis and
// removes them afterwards.
func setup(t *testing.T) (*dsrredis.Connector, *goredis.Client, string) {
	t.Helper()
	ctx := context.Background()
	url, prefix := testenv.RedisPrefix(t)
	rdb := testenv.RedisClient(t, url)
	seed := map[string]string{
		"session:jane@example.com:1":   "cart=boots",
		"session:jane@example.com:2":   "cart=jacket",
		"session:bob@example.com:1":    "cart=socks",
		"session:j*@example.com:1":     "a starred address",
		"session:jane@example.com*x:1": "a look-alike",
	}
	for k, v := range seed {
		rdb.Set(ctx, prefix+k, v, time.Hour)
	}
	rdb.HSet(ctx, prefix+"profile:C-1001", "name", "Jane Doe", "tier", "gold")
	rdb.Set(ctx, prefix+"fraud:jane@example.com", "flagged 2026-01-02", time.Hour)
	c, err := dsrredis.Open(ctx, url, []dsrredis.Pattern{
		{Pattern: prefix + "session:{email}:*", Erase: "delete"},
		{Pattern: prefix + "profile:{customer_id}", Erase: "delete"},
		{Pattern: prefix + "fraud:{email}", Erase: "keep", LegalHold: "fraud prevention, kept 1 year"},
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, rdb, prefix
}

func jane() []domain.Identity {
	return []domain.Identity{{Kind: domain.Email, Value: "jane@example.com"}, {Kind: domain.CustomerID, Value: "C-1001"}}
}

func counts(r connectors.Result, prefix string) string {
	var parts []string
	for _, rec := range r.Records {
		parts = append(parts, fmt.Sprintf("%s:%s:%d", strings.TrimPrefix(rec.Location, prefix), rec.Action, rec.Count))
	}
	return strings.Join(parts, " ")
}

func TestRedisDiscoverExportErase(t *testing.T) {
	c, rdb, prefix := setup(t)
	ctx := context.Background()
	found, err := c.Discover(ctx, jane())
	if err != nil || counts(found, prefix) != "session:{email}:*:found:2 profile:{customer_id}:found:1 fraud:{email}:held:1" {
		t.Fatalf("discover: %s, %v", counts(found, prefix), err)
	}
	var buf bytes.Buffer
	if _, err := c.Export(ctx, jane(), &buf); err != nil {
		t.Fatal(err)
	}
	var data map[string]map[string]any
	if err := json.Unmarshal(buf.Bytes(), &data); err != nil {
		t.Fatal(err)
	}
	if data[prefix+"profile:{customer_id}"][prefix+"profile:C-1001"].(map[string]any)["tier"] != "gold" || strings.Contains(buf.String(), "socks") {
		t.Fatalf("export: %s", buf.String())
	}
	erased, err := c.Erase(ctx, jane(), connectors.EraseOptions{})
	if err != nil || counts(erased, prefix) != "session:{email}:*:deleted:2 profile:{customer_id}:deleted:1 fraud:{email}:kept:1" {
		t.Fatalf("erase: %s, %v", counts(erased, prefix), err)
	}
	left, _ := rdb.Keys(ctx, prefix+"*").Result()
	if len(left) != 4 { // bob, the starred and look-alike addresses, the fraud flag
		t.Fatalf("left: %v", left)
	}
	again, err := c.Erase(ctx, jane(), connectors.EraseOptions{})
	if err != nil || counts(again, prefix) != "session:{email}:*:deleted:0 profile:{customer_id}:deleted:0 fraud:{email}:kept:1" {
		t.Fatalf("second erase: %s, %v", counts(again, prefix), err)
	}
	if _, err := c.ApplyConsent(ctx, jane(), "newsletter", true); !errors.Is(err, connectors.ErrBadConfig) {
		t.Fatalf("consent on a cache: %v", err)
	}
}

// TestRedisHostileIdentities: glob characters in an identity match only
// themselves.
func TestRedisHostileIdentities(t *testing.T) {
	c, _, prefix := setup(t)
	for value, want := range map[string]string{
		"j*@example.com":       "session:{email}:*:found:1",
		"*":                    "session:{email}:*:found:0",
		"jane@example.com*x":   "session:{email}:*:found:1",
		"jane@example.co?":     "session:{email}:*:found:0",
		"[a-z]ane@example.com": "session:{email}:*:found:0",
		"jane@example.com\\":   "session:{email}:*:found:0",
	} {
		res, err := c.Discover(context.Background(), []domain.Identity{{Kind: domain.Email, Value: value}})
		if err != nil {
			t.Fatal(err)
		}
		if got := counts(res, prefix); !strings.HasPrefix(got, want) {
			t.Errorf("%q: %s, want %s", value, got, want)
		}
	}
}

// A correction writes the hash field of the subject's hashes only, once:
// a retry writes nothing, and another person's hash is left alone.
func TestCorrect(t *testing.T) {
	ctx := context.Background()
	url, prefix := testenv.RedisPrefix(t)
	rdb := testenv.RedisClient(t, url)
	rdb.HSet(ctx, prefix+"profile:C-1001", "name", "Jane Doe", "tier", "gold")
	rdb.HSet(ctx, prefix+"profile:C-1002", "name", "Bob", "tier", "silver")
	rdb.HSet(ctx, prefix+"profile:C-1003", "tier", "bronze") // no name field: nothing to correct
	c, err := dsrredis.Open(ctx, url, []dsrredis.Pattern{{Pattern: prefix + "profile:{customer_id}", Erase: "delete", Correct: map[string]string{"name": "name"}}})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	jane := []domain.Identity{{Kind: domain.CustomerID, Value: "C-1001"}}
	if dry, err := c.Correct(ctx, jane, "name", "Jane Smith", connectors.EraseOptions{DryRun: true}); err != nil || counts(dry, prefix) != "profile:{customer_id}:differs:1" {
		t.Fatalf("dry run: %s, %v", counts(dry, prefix), err)
	}
	if res, err := c.Correct(ctx, jane, "name", "Jane Smith", connectors.EraseOptions{}); err != nil || counts(res, prefix) != "profile:{customer_id}:corrected:1" {
		t.Fatalf("correct: %s, %v", counts(res, prefix), err)
	}
	if res, err := c.Correct(ctx, jane, "name", "Jane Smith", connectors.EraseOptions{}); err != nil || counts(res, prefix) != "profile:{customer_id}:corrected:0" {
		t.Fatalf("a retry wrote again: %s, %v", counts(res, prefix), err)
	}
	if got := rdb.HGet(ctx, prefix+"profile:C-1001", "name").Val(); got != "Jane Smith" {
		t.Fatalf("Jane's name: %q", got)
	}
	if got := rdb.HGet(ctx, prefix+"profile:C-1002", "name").Val(); got != "Bob" {
		t.Fatalf("Bob's name: %q", got)
	}
	if res, err := c.Correct(ctx, []domain.Identity{{Kind: domain.CustomerID, Value: "C-1003"}}, "name", "X", connectors.EraseOptions{}); err != nil || counts(res, prefix) != "profile:{customer_id}:corrected:0" {
		t.Fatalf("a hash without the field: %s, %v", counts(res, prefix), err)
	}
	if _, err := c.Correct(ctx, jane, "email", "x@example.com", connectors.EraseOptions{}); !errors.Is(err, connectors.ErrBadConfig) {
		t.Fatalf("a field no pattern declares: %v", err)
	}
}
