package main

import (
	"context"
	"crypto/rand"
	"database/sql"
	"embed"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/dsrengine/dsr/config"
	"github.com/dsrengine/dsr/internal/mailwave"
)

//go:embed acme.yaml
var acmeMap []byte

// The seeds are plain SQL that SQLite, PostgreSQL and MariaDB all accept,
// so that tests run the same company on each; the SaaS seed is JSON.
//
//go:embed acme/*.sql acme/*.json
var acmeSeeds embed.FS

// acme is the demo company's systems, running.
type acme struct {
	// Getenv points each system's variables at its SQLite file or at the
	// demo SaaS, unless the variable is set in the environment.
	Getenv func(string) string
	// SaaSURL is where the demo SaaS listens.
	SaaSURL string
	closers []func() error
}

func (a *acme) Close() {
	for _, c := range a.closers {
		c()
	}
}

// startAcme seeds the SQL systems as SQLite files on first start and
// serves the SaaS system's API on a loopback port, with its state in dir.
func startAcme(ctx context.Context, dir string, m *config.File, ip string) (*acme, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	a := &acme{}
	env := map[string]string{}
	for _, s := range m.Systems {
		var err error
		switch s.Connector {
		case "sql":
			env[s.SQL.DSNEnv], err = seedSQLite(ctx, filepath.Join(dir, s.Name+".db"), s.Name)
		case "http":
			err = a.serveSaaS(filepath.Join(dir, s.Name+".json"), s, ip, env)
		}
		if err != nil {
			a.Close()
			return nil, fmt.Errorf("demo system %s: %w", s.Name, err)
		}
	}
	a.Getenv = func(name string) string {
		if v := os.Getenv(name); v != "" {
			return v
		}
		return env[name]
	}
	return a, nil
}

// demoDSN is the connection string in the environment variable name, or
// else the seeded SQLite file of the demo system that reads it.
func demoDSN(ctx context.Context, dir, name string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	m, err := config.Parse(builtInMap, acmeMap)
	if err != nil {
		return ""
	}
	for _, s := range m.Systems {
		if s.SQL != nil && s.SQL.DSNEnv == name {
			if err := os.MkdirAll(dir, 0o700); err != nil {
				return ""
			}
			dsn, err := seedSQLite(ctx, filepath.Join(dir, s.Name+".db"), s.Name)
			if err != nil {
				return ""
			}
			return dsn
		}
	}
	return ""
}

// upgrades are the columns the demo's seeds gained after their first
// release (the restriction flag, the consents to sharing and to offers
// from inferred health interests): a data folder
// seeded before gets them at start, so that the map's columns exist.
var upgrades = map[string][]string{
	"crm": {"ALTER TABLE customers ADD COLUMN restricted BOOLEAN NOT NULL DEFAULT FALSE"},
	"marketing": {"ALTER TABLE subscriptions ADD COLUMN share_consent BOOLEAN NOT NULL DEFAULT TRUE",
		"ALTER TABLE subscriptions ADD COLUMN health_offers_consent BOOLEAN NOT NULL DEFAULT TRUE"},
}

func seedSQLite(ctx context.Context, path, system string) (string, error) {
	dsn := "file:" + path
	if _, err := os.Stat(path); !errors.Is(err, os.ErrNotExist) {
		for _, up := range upgrades[system] {
			if err := runScript(ctx, "sqlite", dsn, up); err != nil && !strings.Contains(err.Error(), "duplicate column") {
				return "", fmt.Errorf("upgrade the demo data: %w", err)
			}
		}
		return dsn, nil
	}
	seed, err := acmeSeeds.ReadFile("acme/" + system + ".sql")
	if err != nil {
		return "", fmt.Errorf("no demo data: %w", err)
	}
	if err := runScript(ctx, "sqlite", dsn, string(seed)); err != nil {
		os.Remove(path)
		return "", fmt.Errorf("seed: %w", err)
	}
	return dsn, nil
}

// serveSaaS starts Mailwave with a fresh token for this run.
func (a *acme) serveSaaS(file string, s config.System, ip string, env map[string]string) error {
	srv, err := newSaaS(file, s.Name)
	if err != nil {
		return err
	}
	token := make([]byte, 16)
	rand.Read(token)
	srv.Token = hex.EncodeToString(token)
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		return err
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	a.closers = append(a.closers, hs.Close)
	a.SaaSURL = "http://" + ln.Addr().String()
	env[s.HTTP.BaseURLEnv], env[s.HTTP.Auth.TokenEnv] = a.SaaSURL, srv.Token
	return nil
}

// newSaaS opens Mailwave with the system's demo data; file keeps its state.
func newSaaS(file, system string) (*mailwave.Server, error) {
	b, err := acmeSeeds.ReadFile("acme/" + system + ".json")
	if err != nil {
		return nil, fmt.Errorf("no demo data: %w", err)
	}
	seed, err := mailwave.ParseSeed(system+".json", b)
	if err != nil {
		return nil, fmt.Errorf("demo data: %w", err)
	}
	return mailwave.New("", file, seed.Contacts, seed.Events)
}

func runScript(ctx context.Context, driver, dsn, script string) error {
	db, err := sql.Open(driver, dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	for _, stmt := range strings.Split(script, ";\n") {
		if strings.TrimSpace(stmt) == "" {
			continue
		}
		if _, err := db.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("%s: %w", strings.TrimSpace(stmt), err)
		}
	}
	return nil
}
