// Package redis is the connector for caches and session stores: the keys
// that hold a subject's data are found by templated patterns such as
// "session:{email}:*". Identity values are escaped, so a '*' or '?' in an
// e-mail address matches only itself, never other people's keys.
package redis

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	goredis "github.com/redis/go-redis/v9"

	"github.com/dsrengine/dsr/connectors"
	"github.com/dsrengine/dsr/domain"
)

// Pattern is one key pattern with exactly one identity placeholder.
type Pattern struct {
	Pattern   string // e.g. "session:{email}:*"
	Erase     string // delete or keep
	LegalHold string
	// Links maps identity kinds to the hash fields that the data map trusts
	// for linking (the customer number a session was opened for).
	Links map[domain.IdentityKind]string
	// Correct maps the fields a rectification names to the hash field
	// that holds them in the pattern's hash keys.
	Correct map[string]string
}

// Connector reaches one Redis database.
type Connector struct {
	rdb      *goredis.Client
	patterns []Pattern
	// Heartbeat is called between batches of deletions.
	Heartbeat func(ctx context.Context, progress string)
}

// Open connects to a redis:// URL and checks the server answers.
func Open(ctx context.Context, url string, patterns []Pattern) (*Connector, error) {
	opts, err := goredis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("%w: redis URL: %v", connectors.ErrBadConfig, err)
	}
	rdb := goredis.NewClient(opts)
	if err := rdb.Ping(ctx).Err(); err != nil {
		rdb.Close()
		return nil, fmt.Errorf("connect: %w", err)
	}
	return &Connector{rdb: rdb, patterns: patterns}, nil
}

// Close releases the connection.
func (c *Connector) Close() error { return c.rdb.Close() }

// Placeholder returns the identity kind a pattern names, or "".
func Placeholder(pattern string) domain.IdentityKind {
	for _, k := range domain.KnownKinds() {
		if strings.Contains(pattern, "{"+string(k)+"}") {
			return k
		}
	}
	return ""
}

// escapeGlob makes a value match only itself in a Redis MATCH pattern.
func escapeGlob(v string) string {
	var b strings.Builder
	for _, r := range v {
		if strings.ContainsRune(`\*?[]^-`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}

// keys lists the subject's keys for one pattern, scanning incrementally.
func (c *Connector) keys(ctx context.Context, p Pattern, subject []domain.Identity) ([]string, error) {
	kind := Placeholder(p.Pattern)
	var out []string
	seen := map[string]bool{}
	for _, id := range subject {
		if id.Kind != kind {
			continue
		}
		match := strings.ReplaceAll(p.Pattern, "{"+string(kind)+"}", escapeGlob(id.Value))
		iter := c.rdb.Scan(ctx, 0, match, 200).Iterator()
		for iter.Next(ctx) {
			if k := iter.Val(); !seen[k] {
				seen[k] = true
				out = append(out, k)
			}
		}
		if err := iter.Err(); err != nil {
			return nil, fmt.Errorf("scan %s: %w", p.Pattern, err)
		}
	}
	return out, nil
}

// Discover counts the subject's keys per pattern; kept patterns are "held".
func (c *Connector) Discover(ctx context.Context, subject []domain.Identity) (connectors.Result, error) {
	var res connectors.Result
	for _, p := range c.patterns {
		keys, err := c.keys(ctx, p, subject)
		if err != nil {
			return res, err
		}
		hold := ""
		if p.Erase == "keep" {
			hold = p.LegalHold
		}
		res.Records = append(res.Records, connectors.Found(p.Pattern, int64(len(keys)), hold))
	}
	return res, nil
}

// Export writes {pattern: {key: value}} as JSON, reading each key by type
// and writing its value before reading the next, so memory holds one
// value, not the subject's whole data.
func (c *Connector) Export(ctx context.Context, subject []domain.Identity, w io.Writer) (connectors.Result, error) {
	var res connectors.Result
	out := &connectors.Stream{W: w}
	sep := func(first bool, indent string) string {
		if first {
			return "\n" + indent
		}
		return ",\n" + indent
	}
	out.Raw("{")
	for i, p := range c.patterns {
		keys, err := c.keys(ctx, p, subject)
		if err != nil {
			return res, err
		}
		slices.Sort(keys)
		out.Value(sep(i == 0, "  "), p.Pattern)
		out.Raw(": {")
		for j, k := range keys {
			v, err := c.value(ctx, k)
			if err != nil {
				return res, fmt.Errorf("export %s: %w", p.Pattern, err)
			}
			out.Value(sep(j == 0, "    "), k)
			out.Value(": ", v)
		}
		if len(keys) > 0 {
			out.Raw("\n  ")
		}
		out.Raw("}")
		if out.Err != nil {
			return res, fmt.Errorf("export %s: %w", p.Pattern, out.Err)
		}
		res.Records = append(res.Records, connectors.Record{Location: p.Pattern, Action: "exported", Count: int64(len(keys))})
	}
	out.Raw("\n}\n")
	return res, out.Err
}

func (c *Connector) value(ctx context.Context, key string) (any, error) {
	typ, err := c.rdb.Type(ctx, key).Result()
	if err != nil {
		return nil, err
	}
	switch typ {
	case "string":
		return c.rdb.Get(ctx, key).Result()
	case "hash":
		return c.rdb.HGetAll(ctx, key).Result()
	case "list":
		return c.rdb.LRange(ctx, key, 0, -1).Result()
	case "set":
		return c.rdb.SMembers(ctx, key).Result()
	case "zset":
		return c.rdb.ZRangeWithScores(ctx, key, 0, -1).Result()
	case "none": // expired between scan and read
		return nil, nil
	}
	return nil, fmt.Errorf("key type %s is not exported", typ)
}

// Erase deletes the subject's keys in batches; kept patterns are reported.
// Deleting a key that is already gone counts nothing, so a retry is safe.
func (c *Connector) Erase(ctx context.Context, subject []domain.Identity, opts connectors.EraseOptions) (connectors.Result, error) {
	var res connectors.Result
	for _, p := range c.patterns {
		keys, err := c.keys(ctx, p, subject)
		if err != nil {
			return res, err
		}
		if p.Erase == "keep" {
			res.Records = append(res.Records, connectors.Record{Location: p.Pattern, Action: "kept", Count: int64(len(keys)), Reason: p.LegalHold})
			continue
		}
		if opts.DryRun {
			res.Records = append(res.Records, connectors.Record{Location: p.Pattern, Action: "would be deleted", Count: int64(len(keys))})
			continue
		}
		var n int64
		for start := 0; start < len(keys); start += 100 {
			batch := keys[start:min(start+100, len(keys))]
			d, err := c.rdb.Del(ctx, batch...).Result()
			if err != nil {
				return res, fmt.Errorf("delete %s: %w", p.Pattern, err)
			}
			n += d
			if c.Heartbeat != nil {
				c.Heartbeat(ctx, fmt.Sprintf("%s: %d keys", p.Pattern, n))
			}
		}
		res.Records = append(res.Records, connectors.Record{Location: p.Pattern, Action: "deleted", Count: n})
	}
	return res, nil
}

// Linked reads the link fields of the subject's hash keys and returns the
// identities there that the subject did not give. Keys of other types hold
// no fields to read, and values that are not identities are skipped.
func (c *Connector) Linked(ctx context.Context, subject []domain.Identity) ([]connectors.Link, error) {
	out := connectors.NewLinks(subject)
	for _, p := range c.patterns {
		if len(p.Links) == 0 {
			continue
		}
		keys, err := c.keys(ctx, p, subject)
		if err != nil {
			return nil, err
		}
		kinds := slices.Sorted(maps.Keys(p.Links))
		for _, key := range keys {
			typ, err := c.rdb.Type(ctx, key).Result()
			if err != nil {
				return nil, fmt.Errorf("linked identities in %s: %w", p.Pattern, err)
			}
			if typ != "hash" {
				continue
			}
			for _, kind := range kinds {
				v, err := c.rdb.HGet(ctx, key, p.Links[kind]).Result()
				if errors.Is(err, goredis.Nil) {
					continue
				}
				if err != nil {
					return nil, fmt.Errorf("linked identities in %s: %w", p.Pattern, err)
				}
				out.Add(kind, v, p.Pattern+" field "+p.Links[kind])
			}
		}
	}
	return out.List, nil
}

// ApplyConsent is refused: a cache does not record consent, and doing
// nothing silently would be a false answer.
func (c *Connector) ApplyConsent(context.Context, []domain.Identity, string, bool) (connectors.Result, error) {
	return connectors.Result{}, fmt.Errorf("%w: a redis system does not record consent; do not list the purpose for it", connectors.ErrBadConfig)
}

// Correctable lists the fields this system can correct, sorted.
func (c *Connector) Correctable() []string {
	var ms []map[string]string
	for _, p := range c.patterns {
		ms = append(ms, p.Correct)
	}
	return connectors.KeysOf(ms...)
}

// IdentityOf: a key is found by the identity in its name, never by a hash
// field, so correcting a field never changes how keys are found.
func (c *Connector) IdentityOf(string) (domain.IdentityKind, bool) { return "", false }

// Correct writes the new value into the field's hash field of each of the
// subject's hash keys that holds another value; a key of another type, or
// a hash without the field, is left as it is (the cache holds no such
// value). With DryRun it counts the hashes whose field differs.
func (c *Connector) Correct(ctx context.Context, subject []domain.Identity, field, value string, opts connectors.EraseOptions) (connectors.Result, error) {
	var res connectors.Result
	declared := false
	for _, p := range c.patterns {
		hf, ok := p.Correct[field]
		if !ok {
			continue
		}
		declared = true
		keys, err := c.keys(ctx, p, subject)
		if err != nil {
			return res, err
		}
		var n int64
		for _, key := range keys {
			typ, err := c.rdb.Type(ctx, key).Result()
			if err != nil {
				return res, fmt.Errorf("correct %s in %s: %w", field, p.Pattern, err)
			}
			if typ != "hash" {
				continue
			}
			old, err := c.rdb.HGet(ctx, key, hf).Result()
			if errors.Is(err, goredis.Nil) || err == nil && old == value {
				continue
			}
			if err != nil {
				return res, fmt.Errorf("correct %s in %s: %w", field, p.Pattern, err)
			}
			if !opts.DryRun {
				// HSET leaves the key's time to live as it was: the
				// correction does not make a cache entry live longer.
				if err := c.rdb.HSet(ctx, key, hf, value).Err(); err != nil {
					return res, fmt.Errorf("correct %s in %s: %w", field, p.Pattern, err)
				}
			}
			n++
		}
		action := connectors.ActionCorrected
		if opts.DryRun {
			action = connectors.ActionDiffers
		}
		res.Records = append(res.Records, connectors.Record{Location: p.Pattern, Action: action, Count: n, Fields: []string{hf}})
	}
	if !declared {
		return res, fmt.Errorf("%w: no key pattern of this system declares %q correctable", connectors.ErrBadConfig, field)
	}
	return res, nil
}
