// Package store is the engine's own database: requests, sealed subject
// identities, departments, sign-offs, the audit log, the consent ledger,
// access-report artifacts and the suppression list. PostgreSQL in
// production, an SQLite file for the zero-setup dev mode; the same code and
// the same tests run on both.
package store

import (
	"context"
	"database/sql"
	"embed"
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"strings"
	"time"

	"github.com/jmoiron/sqlx"
	_ "github.com/lib/pq" // registers "postgres"
	"github.com/pressly/goose/v3"
	"github.com/pressly/goose/v3/lock"
	_ "modernc.org/sqlite" // registers "sqlite"
)

//go:embed migrations
var migrations embed.FS

// Store is safe for concurrent use.
type Store struct {
	db     *sqlx.DB
	driver string
	// auditKey keys the audit log's chain (UseAuditKey); without it the
	// chain is a plain hash, which anyone who can write the database can
	// recompute after an edit.
	auditKey []byte
}

// Open connects and applies pending migrations. dsn is a postgres:// URL or
// an SQLite file path (optionally prefixed with sqlite:// or file:).
func Open(ctx context.Context, dsn string) (*Store, error) {
	driver, source, err := parseDSN(dsn)
	if err != nil {
		return nil, err
	}
	db, err := sqlx.Open(driver, source)
	if err != nil {
		return nil, fmt.Errorf("open %s store: %w", driver, err)
	}
	if driver == "sqlite" {
		// One writer at a time is how SQLite works; a single connection also
		// keeps the audit hash chain from forking.
		db.SetMaxOpenConns(1)
	}
	if err := db.PingContext(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("connect to %s store: %w", driver, err)
	}
	s := &Store{db: db, driver: driver}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

func parseDSN(dsn string) (driver, source string, err error) {
	switch {
	case dsn == "":
		return "", "", errors.New("store: empty database URL")
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		if _, err := url.Parse(dsn); err != nil {
			return "", "", fmt.Errorf("store: database URL is not a valid URL: %w", err)
		}
		return "postgres", dsn, nil
	case strings.Contains(dsn, "://") && !strings.HasPrefix(dsn, "sqlite://"):
		scheme, _, _ := strings.Cut(dsn, "://")
		return "", "", fmt.Errorf("store: unsupported database scheme %q (use postgres:// or an SQLite file path)", scheme)
	}
	path := strings.TrimPrefix(strings.TrimPrefix(dsn, "sqlite://"), "file:")
	path, _, _ = strings.Cut(path, "?")
	q := url.Values{}
	q.Add("_pragma", "busy_timeout(5000)")
	q.Add("_pragma", "journal_mode(WAL)")
	q.Add("_pragma", "foreign_keys(1)")
	q.Set("_time_format", "sqlite")
	return "sqlite", "file:" + path + "?" + q.Encode(), nil
}

func (s *Store) migrate(ctx context.Context) error {
	sub, err := fs.Sub(migrations, "migrations/"+s.driver)
	if err != nil {
		return err
	}
	dialect := goose.DialectSQLite3
	var opts []goose.ProviderOption
	if s.driver == "postgres" {
		dialect = goose.DialectPostgres
		// Several workers may start at once; only one migrates.
		locker, err := lock.NewPostgresSessionLocker()
		if err != nil {
			return err
		}
		opts = append(opts, goose.WithSessionLocker(locker))
	}
	p, err := goose.NewProvider(dialect, s.db.DB, sub, opts...)
	if err != nil {
		return fmt.Errorf("store migrations: %w", err)
	}
	if _, err := p.Up(ctx); err != nil {
		return fmt.Errorf("store migrations: %w", err)
	}
	return nil
}

// Driver is "postgres" or "sqlite".
func (s *Store) Driver() string { return s.driver }

// Close releases the connection pool.
func (s *Store) Close() error { return s.db.Close() }

// Ping checks the connection, for health endpoints.
func (s *Store) Ping(ctx context.Context) error { return s.db.PingContext(ctx) }

func (s *Store) inTx(ctx context.Context, fn func(tx *sqlx.Tx) error) error {
	tx, err := s.db.BeginTxx(ctx, nil)
	if err != nil {
		return err
	}
	if err := fn(tx); err != nil {
		tx.Rollback()
		return err
	}
	return tx.Commit()
}

// now is the store's clock in UTC at microsecond precision, which both
// databases keep exactly.
func now() time.Time { return time.Now().UTC().Truncate(time.Microsecond) }

func utc(t time.Time) time.Time { return t.UTC().Truncate(time.Microsecond) }

func nullTime(t *time.Time) sql.NullTime {
	if t == nil || t.IsZero() {
		return sql.NullTime{}
	}
	return sql.NullTime{Time: utc(*t), Valid: true}
}
