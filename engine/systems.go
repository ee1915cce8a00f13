package engine

import (
	"context"
	"fmt"
	"maps"
	"slices"

	"go.temporal.io/sdk/activity"

	"github.com/dsrengine/dsr/activities"
	"github.com/dsrengine/dsr/config"
	"github.com/dsrengine/dsr/connectors"
	httpconn "github.com/dsrengine/dsr/connectors/http"
	dsrredis "github.com/dsrengine/dsr/connectors/redis"
	dsrsql "github.com/dsrengine/dsr/connectors/sql"
	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/keyring"
	"github.com/dsrengine/dsr/workflows"
)

// OpenSystems connects to every system of the data map. Connection strings
// come from the environment variables the map names; a missing one (all of
// them, checked first), an unreachable system or a table or column the map
// invents stops the start with a message naming the file, the system and
// the variable.
//
// keys gives each SQL system its key for the hmac erase strategy; with
// nil, a map that uses hmac is refused.
func OpenSystems(ctx context.Context, f *config.File, getenv func(string) string, keys *keyring.Keyring) ([]activities.System, func(), error) {
	if err := f.MissingVariables(getenv); err != nil {
		return nil, nil, err
	}
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
			Source: s.Source, AutomatedDecisions: s.AutomatedDecisions, PurposeKinds: f.KindsOf(s.Purposes),
		}}
		cats := s.FieldCategories()
		for _, name := range slices.Sorted(maps.Keys(cats)) {
			sys.Categories = append(sys.Categories, activities.Category{Name: name, Fields: cats[name]})
		}
		for _, t := range s.Transfers {
			sys.Transfers = append(sys.Transfers, activities.Transfer{To: t.To, Safeguard: t.Safeguard})
		}
		if s.Manual != nil {
			// People do the work; there is nothing to connect to.
			sys.Manual = &activities.ManualTask{Location: s.Manual.Location, Instructions: s.Manual.Instructions}
			out = append(out, sys)
			continue
		}
		sys.TaskQueue = SystemQueue(s)
		if s.RateLimit != "" {
			sys.Rate, _ = config.ParseRate(s.RateLimit) // validated at load
		}
		conn, closer, err := openConnector(ctx, s, getenv, keys)
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

// SystemQueue is the task queue of a system's activities: its connector
// class's (dsr-requests-sql, -http, -redis), or with a rate limit its own
// (dsr-requests-system-<name>), which Temporal holds to that rate across
// every worker.
func SystemQueue(s config.System) string {
	if s.RateLimit != "" {
		return workflows.TaskQueue + "-system-" + s.Name
	}
	return workflows.TaskQueue + "-" + s.Connector
}

// heartbeat keeps long connector calls alive inside activities; outside
// one (a command, a test) there is nothing to keep alive.
func heartbeat(ctx context.Context, progress string) {
	if activity.IsActivity(ctx) {
		activity.RecordHeartbeat(ctx, progress)
	}
}

// openConnector connects one system by its connector type.
func openConnector(ctx context.Context, s config.System, getenv func(string) string, keys *keyring.Keyring) (connectors.Connector, func() error, error) {
	switch s.Connector {
	case "redis":
		return openRedis(ctx, s, getenv)
	case "http":
		return openHTTP(s, getenv)
	}
	return openSQL(ctx, s, getenv, keys)
}

// openHTTP takes the base URL and credentials from the environment
// (OpenSystems checked that they are set).
func openHTTP(s config.System, getenv func(string) string) (connectors.Connector, func() error, error) {
	h := s.HTTP
	base := h.BaseURL
	if h.BaseURLEnv != "" {
		base = getenv(h.BaseURLEnv)
	}
	auth := httpconn.Auth{Type: h.Auth.Type, Header: h.Auth.Header, Query: h.Auth.Query}
	for _, secret := range []struct {
		env string
		dst *string
	}{{h.Auth.TokenEnv, &auth.Token}, {h.Auth.UsernameEnv, &auth.Username}, {h.Auth.PasswordEnv, &auth.Password}, {h.Auth.KeyEnv, &auth.Key}} {
		if secret.env != "" {
			*secret.dst = getenv(secret.env)
		}
	}
	conn, err := httpconn.Open(s.Name, base, auth, s.Objects)
	if err != nil {
		return nil, nil, err
	}
	conn.Heartbeat = heartbeat
	if h.MaxMiB > 0 {
		conn.MaxBytes = int64(h.MaxMiB) << 20
	}
	return conn, conn.Close, nil
}

func openRedis(ctx context.Context, s config.System, getenv func(string) string) (connectors.Connector, func() error, error) {
	url := getenv(s.Redis.URLEnv)
	patterns := make([]dsrredis.Pattern, len(s.Keys))
	for j, k := range s.Keys {
		patterns[j] = dsrredis.Pattern{Pattern: k.Pattern, Erase: k.Erase, LegalHold: k.LegalHold, Links: map[domain.IdentityKind]string{}, Correct: k.Correct}
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

func openSQL(ctx context.Context, s config.System, getenv func(string) string, keys *keyring.Keyring) (connectors.Connector, func() error, error) {
	dsn := getenv(s.SQL.DSNEnv)
	tables := make([]dsrsql.Table, len(s.Tables))
	for j, t := range s.Tables {
		tables[j] = SQLTable(t)
	}
	var opts []dsrsql.Option
	if keys != nil {
		opts = append(opts, dsrsql.WithHMACKey(keys.PseudonymKey(s.Name)))
	}
	conn, err := dsrsql.Open(ctx, s.SQL.Driver, dsn, tables, opts...)
	if err != nil {
		return nil, nil, err
	}
	conn.Heartbeat = heartbeat
	return conn, conn.Close, nil
}

// SQLTable is a data map table as the SQL connector takes it: null, mask
// and hmac become an update of each erase field with that strategy.
func SQLTable(t config.Table) dsrsql.Table {
	out := dsrsql.Table{Name: t.Name, Key: t.PrimaryKey, Identity: map[domain.IdentityKind][]string{}, Erase: t.Erase,
		LegalHold: t.LegalHold, Consent: t.Consent, Restriction: t.Restriction, Correct: t.Correct, Categories: t.Fields}
	for kind, cols := range t.Identity {
		out.Identity[domain.IdentityKind(kind)] = cols
	}
	fields := func(fs config.FieldStrategies, strategy string) []dsrsql.Field {
		var out []dsrsql.Field
		for _, f := range fs {
			st := f.Strategy
			if st == "" {
				st = strategy
			}
			out = append(out, dsrsql.Field{Column: f.Column, Strategy: st, Value: f.Value})
		}
		return out
	}
	if t.Erase != "delete" && t.Erase != "keep" {
		out.Erase, out.Fields = "update", fields(t.EraseFields, t.Erase)
	}
	out.Shared = fields(t.Shared, "")
	for _, kind := range t.Links {
		out.Links = append(out.Links, domain.IdentityKind(kind))
	}
	for _, v := range t.Via {
		l, _ := config.ParseLink(v) // validated at load
		out.Via = append(out.Via, dsrsql.Edge{Child: l.Child, ChildColumn: l.ChildColumn, Parent: l.Parent, ParentColumn: l.ParentColumn})
	}
	return out
}
