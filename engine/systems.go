package engine

import (
	"context"
	"fmt"

	"go.temporal.io/sdk/activity"

	"github.com/dsrengine/dsr/activities"
	"github.com/dsrengine/dsr/config"
	"github.com/dsrengine/dsr/connectors"
	httpconn "github.com/dsrengine/dsr/connectors/http"
	dsrredis "github.com/dsrengine/dsr/connectors/redis"
	dsrsql "github.com/dsrengine/dsr/connectors/sql"
	"github.com/dsrengine/dsr/domain"
)

// OpenSystems connects to every system of the data map. Connection strings
// come from the environment variables the map names; a missing one, an
// unreachable system or a table or column the map invents stops the start
// with a message naming the file, the system and the variable.
func OpenSystems(ctx context.Context, f *config.File, getenv func(string) string) ([]activities.System, func(), error) {
	var out []activities.System
	var closers []func() error
	closeAll := func() {
		for _, c := range closers {
			c()
		}
	}
	for i, s := range f.Systems {
		where := fmt.Sprintf("%s:%d: systems[%d] (%s)", f.Path(), s.Line(), i, s.Name)
		kinds := make([]domain.RequestType, len(s.SignOffFor))
		for j, k := range s.SignOffFor {
			kinds[j] = domain.RequestType(k)
		}
		sys := activities.System{SystemRef: activities.SystemRef{
			Name: s.Name, Department: s.Department, SignOffFor: kinds, Purposes: s.Purposes, LegalBasis: s.LegalBasis,
			Recipients: s.Recipients, SoldOrShared: s.SoldOrShared, Retention: s.Retention,
		}}
		if s.Manual != nil {
			// People do the work; there is nothing to connect to.
			sys.Manual = &activities.ManualTask{Location: s.Manual.Location, Instructions: s.Manual.Instructions}
			out = append(out, sys)
			continue
		}
		conn, closer, err := openConnector(ctx, s, getenv)
		if err != nil {
			closeAll()
			return nil, nil, fmt.Errorf("%s: %w", where, err)
		}
		closers = append(closers, closer)
		sys.Connector = conn
		out = append(out, sys)
	}
	return out, closeAll, nil
}

// heartbeat keeps long connector calls alive; connectors call it only
// from inside activities.
func heartbeat(ctx context.Context, progress string) { activity.RecordHeartbeat(ctx, progress) }

// openConnector connects one system by its connector type.
func openConnector(ctx context.Context, s config.System, getenv func(string) string) (connectors.Connector, func() error, error) {
	switch s.Connector {
	case "redis":
		return openRedis(ctx, s, getenv)
	case "http":
		return openHTTP(s, getenv)
	}
	return openSQL(ctx, s, getenv)
}

// openHTTP resolves the base URL and credentials from the environment.
func openHTTP(s config.System, getenv func(string) string) (connectors.Connector, func() error, error) {
	h := s.HTTP
	lookup := func(name, what string) (string, error) {
		v := getenv(name)
		if v == "" {
			return "", fmt.Errorf("environment variable %s is not set (it holds the %s)", name, what)
		}
		return v, nil
	}
	base := h.BaseURL
	var err error
	if h.BaseURLEnv != "" {
		if base, err = lookup(h.BaseURLEnv, "API's base URL"); err != nil {
			return nil, nil, err
		}
	}
	auth := httpconn.Auth{Type: h.Auth.Type, Header: h.Auth.Header, Query: h.Auth.Query}
	for _, secret := range []struct {
		env  string
		dst  *string
		what string
	}{
		{h.Auth.TokenEnv, &auth.Token, "bearer token"},
		{h.Auth.UsernameEnv, &auth.Username, "user name"},
		{h.Auth.PasswordEnv, &auth.Password, "password"},
		{h.Auth.KeyEnv, &auth.Key, "API key"},
	} {
		if secret.env == "" {
			continue
		}
		if *secret.dst, err = lookup(secret.env, secret.what); err != nil {
			return nil, nil, err
		}
	}
	conn, err := httpconn.Open(s.Name, base, auth, s.Objects)
	if err != nil {
		return nil, nil, err
	}
	conn.Heartbeat = heartbeat
	return conn, conn.Close, nil
}

func openRedis(ctx context.Context, s config.System, getenv func(string) string) (connectors.Connector, func() error, error) {
	url := getenv(s.Redis.URLEnv)
	if url == "" {
		return nil, nil, fmt.Errorf("environment variable %s is not set (it holds the redis:// URL)", s.Redis.URLEnv)
	}
	patterns := make([]dsrredis.Pattern, len(s.Keys))
	for j, k := range s.Keys {
		patterns[j] = dsrredis.Pattern{Pattern: k.Pattern, Erase: k.Erase, LegalHold: k.LegalHold, Links: map[domain.IdentityKind]string{}}
		for kind, field := range k.Links {
			patterns[j].Links[domain.IdentityKind(kind)] = field
		}
	}
	conn, err := dsrredis.Open(ctx, url, patterns)
	if err != nil {
		return nil, nil, err
	}
	conn.Heartbeat = heartbeat
	return conn, conn.Close, nil
}

func openSQL(ctx context.Context, s config.System, getenv func(string) string) (connectors.Connector, func() error, error) {
	dsn := getenv(s.SQL.DSNEnv)
	if dsn == "" {
		return nil, nil, fmt.Errorf("environment variable %s is not set (it holds the connection string)", s.SQL.DSNEnv)
	}
	tables := make([]dsrsql.Table, len(s.Tables))
	for j, t := range s.Tables {
		ids := map[domain.IdentityKind]string{}
		for kind, col := range t.Identity {
			ids[domain.IdentityKind(kind)] = col
		}
		tables[j] = dsrsql.Table{Name: t.Name, Key: t.PrimaryKey, Identity: ids, Erase: t.Erase,
			EraseFields: t.EraseFields, LegalHold: t.LegalHold, Consent: t.Consent}
		for _, kind := range t.Links {
			tables[j].Links = append(tables[j].Links, domain.IdentityKind(kind))
		}
		if r := t.Reference; r != nil {
			tables[j].Reference = &dsrsql.Reference{Table: r.Table, Column: r.Column, References: r.References}
		}
	}
	conn, err := dsrsql.Open(ctx, s.SQL.Driver, dsn, tables)
	if err != nil {
		return nil, nil, err
	}
	conn.Heartbeat = heartbeat
	return conn, conn.Close, nil
}
