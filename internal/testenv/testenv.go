// Package testenv connects integration tests to the real services on the
// machine. A test whose service is down skips with a loud message on a
// laptop and fails under CI=true, so CI can never pass by skipping.
package testenv

import (
	"archive/zip"
	"bytes"
	"context"
	"database/sql"
	"fmt"
	"io"
	"math/rand/v2"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq"
	goredis "github.com/redis/go-redis/v9"

	"github.com/dsrengine/dsr/keyring"
	"github.com/dsrengine/dsr/records"
)

// TestKey is the fixed master key of tests, so recorded histories replay.
var TestKey = bytes.Repeat([]byte{42}, keyring.MasterKeySize)

// Unavailable skips (locally) or fails (CI=true) a test whose service is down.
func Unavailable(t testing.TB, service string, err error) {
	t.Helper()
	msg := fmt.Sprintf("\n%s\n!!! %s is not reachable: %v\n!!! integration test %s NOT RUN\n%s", bar, service, err, t.Name(), bar)
	if os.Getenv("CI") == "true" {
		t.Fatal(msg + "\n(CI=true: a missing service is a failure)")
	}
	t.Skip(msg)
}

const bar = "!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!!"

// PostgresURL is the base URL of the test database (DSR_TEST_POSTGRES_URL).
func PostgresURL() string {
	if u := os.Getenv("DSR_TEST_POSTGRES_URL"); u != "" {
		return u
	}
	return "postgres://postgres@127.0.0.1:5432/test?sslmode=disable"
}

// PostgresSchema creates a fresh schema for one test and returns a URL whose
// connections use it, so tests run in parallel and leave nothing behind.
func PostgresSchema(t testing.TB) string {
	t.Helper()
	base := PostgresURL()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	db, err := sql.Open("postgres", base)
	if err == nil {
		err = db.PingContext(ctx)
	}
	if err != nil {
		Unavailable(t, "PostgreSQL at "+redact(base), err)
	}
	schema := fmt.Sprintf("dsr_test_%d_%d", time.Now().UnixNano()%1e9, rand.IntN(1e6))
	if _, err := db.ExecContext(ctx, `CREATE SCHEMA `+schema); err != nil {
		t.Fatalf("create schema: %v", err)
	}
	t.Cleanup(func() {
		db.Exec(`DROP SCHEMA ` + schema + ` CASCADE`)
		db.Close()
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// PostgresWith is PostgresSchema with the statements run in the schema,
// and a connection to it that the test's end closes.
func PostgresWith(t testing.TB, statements ...string) (*sqlx.DB, string) {
	t.Helper()
	dsn := PostgresSchema(t)
	db, err := sqlx.Open("postgres", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	for _, q := range statements {
		if _, err := db.Exec(q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	return db, dsn
}

func redact(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "(unparseable URL)"
	}
	return u.Redacted()
}

// MySQLURL is the base DSN of the test MariaDB (DSR_TEST_MYSQL_DSN).
func MySQLURL() string {
	if u := os.Getenv("DSR_TEST_MYSQL_DSN"); u != "" {
		return u
	}
	return "root@tcp(127.0.0.1:3306)/"
}

// MySQLDatabase creates a fresh database for one test on the real MariaDB
// and returns its DSN; it is dropped when the test ends.
func MySQLDatabase(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	db, err := sql.Open("mysql", MySQLURL())
	if err == nil {
		err = db.PingContext(ctx)
	}
	if err != nil {
		Unavailable(t, "MariaDB at 127.0.0.1:3306", err)
	}
	name := fmt.Sprintf("dsr_test_%d_%d", time.Now().UnixNano()%1e9, rand.IntN(1e6))
	if _, err := db.ExecContext(ctx, "CREATE DATABASE "+name); err != nil {
		t.Fatalf("create database: %v", err)
	}
	t.Cleanup(func() {
		db.Exec("DROP DATABASE " + name)
		db.Close()
	})
	return MySQLURL() + name
}

// RedisURL is the test Redis (DSR_TEST_REDIS_URL).
func RedisURL() string {
	if u := os.Getenv("DSR_TEST_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379/0"
}

// RedisPrefix checks the real Redis is up and returns its URL and a key
// prefix of this test's own; keys under it are deleted when the test ends.
func RedisPrefix(t testing.TB) (string, string) {
	t.Helper()
	url := RedisURL()
	rdb := RedisClient(t, url)
	prefix := fmt.Sprintf("dsrtest:%d:%d:", time.Now().UnixNano()%1e9, rand.IntN(1e6))
	t.Cleanup(func() {
		ctx := context.Background()
		if keys, _ := rdb.Keys(ctx, prefix+"*").Result(); len(keys) > 0 {
			rdb.Del(ctx, keys...)
		}
	})
	return url, prefix
}

// RedisClient connects to the real Redis, skipping or failing (CI) when it is down.
func RedisClient(t testing.TB, url string) *goredis.Client {
	t.Helper()
	opts, err := goredis.ParseURL(url)
	if err != nil {
		t.Fatal(err)
	}
	rdb := goredis.NewClient(opts)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	if err := rdb.Ping(ctx).Err(); err != nil {
		Unavailable(t, "Redis at "+url, err)
	}
	t.Cleanup(func() { rdb.Close() })
	return rdb
}

// Chromium returns the headless browser for the console's tests (Debian's
// chromium package, or DSR_TEST_CHROMIUM).
func Chromium(t testing.TB) string {
	t.Helper()
	path := os.Getenv("DSR_TEST_CHROMIUM")
	if path == "" {
		path = "/usr/bin/chromium"
	}
	if _, err := os.Stat(path); err != nil {
		Unavailable(t, "Chromium (apt-get install chromium)", err)
	}
	return path
}

// FileKeys finds the key of a request's files.
type FileKeys interface {
	ExistingRequestKey(ctx context.Context, keys records.Sealer, requestID string) ([]byte, error)
}

// Unzip reads an access package (a file:// location) into name → content.
// The package is encrypted under its request's key, which keys finds
// (*store.Store, with the engine's keyring as sealer).
func Unzip(t testing.TB, location string, keys FileKeys, sealer records.Sealer) map[string]string {
	t.Helper()
	path := strings.TrimPrefix(location, "file://")
	key, err := keys.ExistingRequestKey(context.Background(), sealer, filepath.Base(filepath.Dir(path)))
	if err != nil {
		t.Fatalf("package %q: %v", location, err)
	}
	f, err := os.Open(path)
	if err != nil {
		t.Fatalf("package %q: %v", location, err)
	}
	defer f.Close()
	r, err := keyring.NewFileReader(f, key, filepath.Base(path))
	if err != nil {
		t.Fatalf("package %q: %v", location, err)
	}
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("package %q: %v", location, err)
	}
	z, err := zip.NewReader(bytes.NewReader(b), int64(len(b)))
	if err != nil {
		t.Fatalf("package %q: %v", location, err)
	}
	files := map[string]string{}
	for _, f := range z.File {
		r, err := f.Open()
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(r)
		r.Close()
		if err != nil {
			t.Fatalf("%s: %v", f.Name, err)
		}
		files[f.Name] = string(b)
	}
	return files
}

// Wait is how long a test waits for a request to reach the state it then
// asserts. Nothing in the engine takes near this long; the margin is for
// a machine whose cores are all busy.
const Wait = 20 * time.Second

// Eventually polls cond until it reports ok, and fails the test with the
// last thing it saw once timeout has passed. The condition must be the one
// the test asserts next, never an earlier step: on a busy machine the gap
// between the two is where a test turns into a coin toss.
func Eventually(t testing.TB, timeout time.Duration, cond func() (ok bool, got string)) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for wait := 10 * time.Millisecond; ; wait = min(2*wait, 250*time.Millisecond) {
		ok, got := cond()
		if ok {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not within %s: %s", timeout, got)
		}
		time.Sleep(wait)
	}
}
