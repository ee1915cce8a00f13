// Package testenv connects integration tests to the real services on the
// machine. A test whose service is down skips with a loud message on a
// laptop and fails under CI=true, so CI can never pass by skipping.
package testenv

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"net/url"
	"os"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	_ "github.com/lib/pq"
)

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
