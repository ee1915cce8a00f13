package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"maps"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/compose-spec/compose-go/v2/cli"
	"github.com/compose-spec/compose-go/v2/types"

	"github.com/dsrengine/dsr/config"
	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/engine"
	"github.com/dsrengine/dsr/internal/mailwave"
	"github.com/dsrengine/dsr/internal/testenv"
	"github.com/dsrengine/dsr/keyring"
)

// loadCompose loads the repository's docker-compose.yml as Docker Compose
// would, with .env.example as its .env and env over it; the process's own
// environment plays no part.
func loadCompose(t *testing.T, env ...string) (*types.Project, error) {
	t.Helper()
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	opts, err := cli.NewProjectOptions([]string{filepath.Join(root, "docker-compose.yml")},
		cli.WithName("dsr"), cli.WithWorkingDirectory(root),
		cli.WithEnvFiles(filepath.Join(root, ".env.example")), cli.WithDotEnv, cli.WithEnv(env))
	if err != nil {
		t.Fatal(err)
	}
	return opts.LoadProject(context.Background())
}

// testMasterKey is what an operator puts in .env; .env.example leaves it
// empty so that no one runs with a published key.
var testMasterKey = "DSR_MASTER_KEY=" + base64.StdEncoding.EncodeToString(testenv.TestKey)

// TestComposeFile checks docker-compose.yml without Docker: its services,
// their health checks and the conditions they wait on, and that the
// worker and the gateway pass the worker's own check (settings, the data
// map mounted into them, the map's variables) on exactly the environment
// and files compose gives each of them.
func TestComposeFile(t *testing.T) {
	p, err := loadCompose(t, testMasterKey)
	if err != nil {
		t.Fatal(err)
	}
	// Each service and the conditions it starts on.
	want := map[string]map[string]string{
		"postgres":           {},
		"temporal-schema":    {"postgres": types.ServiceConditionHealthy},
		"temporal":           {"temporal-schema": types.ServiceConditionCompletedSuccessfully},
		"temporal-namespace": {"temporal": types.ServiceConditionHealthy},
		"dsr-setup":          {"temporal-namespace": types.ServiceConditionCompletedSuccessfully},
		"temporal-ui":        {"temporal": types.ServiceConditionHealthy, "gateway": types.ServiceConditionHealthy},
		"worker": {"postgres": types.ServiceConditionHealthy, "dsr-setup": types.ServiceConditionCompletedSuccessfully,
			"company-postgres": types.ServiceConditionHealthy, "company-redis-seed": types.ServiceConditionCompletedSuccessfully,
			"mailwave": types.ServiceConditionHealthy},
		"gateway":            {"postgres": types.ServiceConditionHealthy, "dsr-setup": types.ServiceConditionCompletedSuccessfully},
		"company-postgres":   {},
		"company-redis":      {},
		"company-redis-seed": {"company-redis": types.ServiceConditionHealthy},
		"mailwave":           {},
	}
	oneShot := map[string]bool{"temporal-schema": true, "temporal-namespace": true, "dsr-setup": true, "company-redis-seed": true}
	if got, names := slices.Sorted(slices.Values(p.ServiceNames())), slices.Sorted(maps.Keys(want)); !slices.Equal(got, names) {
		t.Fatalf("services = %v, want %v", got, names)
	}
	for name, deps := range want {
		s := p.Services[name]
		got := map[string]string{}
		for dep, d := range s.DependsOn {
			got[dep] = d.Condition
		}
		if !maps.Equal(got, deps) {
			t.Errorf("%s depends on %v, want %v", name, got, deps)
		}
		// What runs is checked for health; what runs once is waited on
		// until it succeeded, by everything that needs it.
		hc := s.HealthCheck
		switch {
		case oneShot[name] && hc != nil && !hc.Disable:
			t.Errorf("%s runs once and finishes: a health check would never pass", name)
		case !oneShot[name] && (hc == nil || hc.Disable || len(hc.Test) < 2):
			t.Errorf("%s has no health check", name)
		case !oneShot[name] && hc.Interval == nil:
			t.Errorf("%s's health check has no interval", name)
		}
		if oneShot[name] && s.Restart != "" && s.Restart != "no" {
			t.Errorf("%s runs once but restarts %s", name, s.Restart)
		}
		for _, v := range s.Volumes {
			if v.Type == types.VolumeTypeVolume && p.Volumes[v.Source].Name == "" {
				t.Errorf("%s mounts %s, which is not a named volume", name, v.Source)
			}
			if v.Type == types.VolumeTypeBind {
				if _, err := os.Stat(v.Source); err != nil {
					t.Errorf("%s mounts %s, which the repository lacks: %v", name, v.Source, err)
				}
			}
		}
	}
	// Scaling: a worker has no fixed name and no published port.
	if w := p.Services["worker"]; w.ContainerName != "" || len(w.Ports) > 0 {
		t.Errorf("the worker cannot scale: container name %q, ports %v", w.ContainerName, w.Ports)
	}
	for _, name := range []string{"postgres", "temporal", "temporal-schema", "temporal-namespace"} {
		if img := p.Services[name].Image; strings.Contains(img, "auto-setup") {
			t.Errorf("%s runs %s: auto-setup is for trying Temporal out, not for production", name, img)
		}
	}
	if img := p.Services["temporal"].Image; !strings.HasPrefix(img, "temporalio/server:") {
		t.Errorf("temporal runs %s, not the official temporalio/server image", img)
	}
	if img := p.Services["temporal-schema"].Image; !strings.HasPrefix(img, "temporalio/admin-tools:") {
		t.Errorf("the schema is set up by %s, not the official admin-tools image", img)
	}

	// The engine's processes pass their own check on what compose gives,
	// with deploy/datamap.yaml mounted as their data map.
	mounted, _ := filepath.Abs("../deploy/datamap.yaml")
	for name, wantOut := range map[string]string{
		"worker":  "ok: role worker, data map " + mounted + " with 3 departments and 3 systems (3 connected by this role)",
		"gateway": "ok: role gateway, data map " + mounted + " with 3 departments and 3 systems (0 connected by this role)",
	} {
		t.Run(name, func(t *testing.T) {
			var out bytes.Buffer
			if err := check(nil, containerEnv(t, p, name), &out); err != nil {
				t.Fatalf("worker check on the %s's environment:\n%v", name, err)
			}
			if !strings.Contains(out.String(), wantOut) {
				t.Fatalf("worker check said %q, want %q", out.String(), wantOut)
			}
		})
	}

	// The services agree with each other: the engine's store and the
	// company's database are the PostgreSQL services with their users and
	// passwords, and the worker reaches the SaaS with the token it serves.
	worker := p.Services["worker"].Environment
	for _, tc := range []struct{ variable, service, user, password, db string }{
		{"DATABASE_URL", "postgres", "POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"},
		{"SHOP_DSN", "company-postgres", "POSTGRES_USER", "POSTGRES_PASSWORD", "POSTGRES_DB"},
	} {
		u, err := url.Parse(*worker[tc.variable])
		if err != nil {
			t.Fatalf("%s: %v", tc.variable, err)
		}
		db := p.Services[tc.service].Environment
		pw, _ := u.User.Password()
		if u.Hostname() != tc.service || u.User.Username() != *db[tc.user] || pw != *db[tc.password] || strings.TrimPrefix(u.Path, "/") != *db[tc.db] {
			t.Errorf("the worker's %s does not name %s's host, user, password and database", tc.variable, tc.service)
		}
	}
	mw := p.Services["mailwave"].Environment
	_, port, _ := net.SplitHostPort(*mw["MAILWAVE_ADDR"])
	if *worker["MAILWAVE_URL"] != "http://mailwave:"+port || *worker["MAILWAVE_TOKEN"] != *mw["MAILWAVE_TOKEN"] {
		t.Errorf("the worker reaches the SaaS at %s, which serves on %s with another token", *worker["MAILWAVE_URL"], *mw["MAILWAVE_ADDR"])
	}
	if u, _ := url.Parse(*worker["SESSIONS_URL"]); u == nil || u.Hostname() != "company-redis" {
		t.Errorf("SESSIONS_URL %q is not the company-redis service", *worker["SESSIONS_URL"])
	}
	ui := p.Services["temporal-ui"].Environment
	gw := p.Services["gateway"].Environment
	if *ui["TEMPORAL_CODEC_ENDPOINT"] != *gw["DSR_PUBLIC_URL"]+"/codec" || !strings.Contains(*gw["DSR_CODEC_ORIGINS"], "http://localhost:8233") {
		t.Errorf("the Web UI's codec %s is not the gateway's (%s), or the gateway does not serve the UI's origin (%s)",
			*ui["TEMPORAL_CODEC_ENDPOINT"], *gw["DSR_PUBLIC_URL"], *gw["DSR_CODEC_ORIGINS"])
	}
}

// TestComposeFileRefusesWhatIsMissing shows the checks fail: a variable
// the data map needs that the worker's service lacks, the master key that
// .env.example leaves empty, and a password .env does not give.
func TestComposeFileRefusesWhatIsMissing(t *testing.T) {
	p, err := loadCompose(t, testMasterKey)
	if err != nil {
		t.Fatal(err)
	}
	delete(p.Services["worker"].Environment, "SHOP_DSN")
	err = check(nil, containerEnv(t, p, "worker"), &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "deploy/datamap.yaml:31: systems[0] (shop): environment variable SHOP_DSN is not set (it holds the connection string), named by sql.dsn_env") {
		t.Fatalf("a worker without SHOP_DSN passed its check, or the error does not name the map's line: %v", err)
	}

	p, err = loadCompose(t)
	if err != nil {
		t.Fatal(err)
	}
	err = check(nil, containerEnv(t, p, "worker"), &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "--master-key-file (DSR_MASTER_KEY_FILE)") {
		t.Fatalf("a worker with .env.example's empty master key passed its check: %v", err)
	}

	if _, err := loadCompose(t, testMasterKey, "POSTGRES_PASSWORD="); err == nil || !strings.Contains(err.Error(), "set POSTGRES_PASSWORD in .env") {
		t.Fatalf("compose loaded without the database's password: %v", err)
	}
}

// containerEnv is a service's environment as its process sees it, for the
// worker's check on this machine: exactly the variables compose sets, with
// each path inside the container replaced by where it is here (a bind
// mount's source, a fresh folder for a named volume, a file holding a
// secret's value).
func containerEnv(t *testing.T, p *types.Project, service string) func(string) (string, bool) {
	t.Helper()
	s := p.Services[service]
	mounts := map[string]string{}
	for _, v := range s.Volumes {
		switch v.Type {
		case types.VolumeTypeBind:
			mounts[v.Target] = v.Source
		case types.VolumeTypeVolume:
			mounts[v.Target] = t.TempDir()
		}
	}
	for _, sec := range s.Secrets {
		target := sec.Target
		if target == "" {
			target = sec.Source
		}
		if !filepath.IsAbs(target) {
			target = "/run/secrets/" + target
		}
		def := p.Secrets[sec.Source]
		var value string
		switch {
		case def.Environment != "":
			value = p.Environment[def.Environment]
		case def.File != "":
			b, err := os.ReadFile(def.File)
			if err != nil {
				t.Fatalf("secret %s: %v", sec.Source, err)
			}
			value = string(b)
		}
		file := filepath.Join(t.TempDir(), sec.Source)
		if err := os.WriteFile(file, []byte(value), 0o600); err != nil {
			t.Fatal(err)
		}
		mounts[target] = file
	}
	return func(name string) (string, bool) {
		v, ok := s.Environment[name]
		if !ok || v == nil {
			return "", false
		}
		for target, host := range mounts {
			if *v == target || strings.HasPrefix(*v, target+"/") {
				return host + strings.TrimPrefix(*v, target), true
			}
		}
		return *v, true
	}
}

// TestComposeCompanySeeds runs the example company's seeds (the shop's
// SQL, the sessions' Redis commands, the SaaS's JSON) on this machine's
// PostgreSQL and Redis and on the SaaS, and connects the mounted data map
// to them: every table, column and call the map names exists, Jane is
// found in every system and Bob's rows are his own.
func TestComposeCompanySeeds(t *testing.T) {
	ctx := context.Background()
	sql, err := os.ReadFile("../deploy/company/shop.sql")
	if err != nil {
		t.Fatal(err)
	}
	var stmts []string
	for _, s := range strings.Split(string(sql), ";\n") {
		var lines []string
		for _, l := range strings.Split(s, "\n") {
			if !strings.HasPrefix(strings.TrimSpace(l), "--") {
				lines = append(lines, l)
			}
		}
		if s := strings.TrimSpace(strings.Join(lines, "\n")); s != "" {
			stmts = append(stmts, s)
		}
	}
	_, shop := testenv.PostgresWith(t, stmts...)

	// The sessions, under a prefix of this test's in the shared Redis.
	rdb, prefix := testenv.RedisClient(t, testenv.RedisURL()), ""
	_, prefix = testenv.RedisPrefix(t)
	f, err := os.Open("../deploy/company/sessions.redis")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		args := splitRedis(t, sc.Text())
		if len(args) == 0 {
			continue
		}
		args[1] = prefix + args[1]
		cmd := make([]any, len(args))
		for i, a := range args {
			cmd[i] = a
		}
		if err := rdb.Do(ctx, cmd...).Err(); err != nil {
			t.Fatalf("%s: %v", sc.Text(), err)
		}
	}

	b, err := os.ReadFile("../deploy/company/newsletter.json")
	if err != nil {
		t.Fatal(err)
	}
	seed, err := mailwave.ParseSeed("newsletter.json", b)
	if err != nil {
		t.Fatal(err)
	}
	const token = "a-token-of-the-saas-1234"
	saas, err := mailwave.New(token, "", seed.Contacts, seed.Events)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: saas}
	go hs.Serve(ln)
	defer hs.Close()

	m, err := config.Load("../deploy/datamap.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for i := range m.Systems {
		for j := range m.Systems[i].Keys {
			m.Systems[i].Keys[j].Pattern = prefix + m.Systems[i].Keys[j].Pattern
		}
	}
	env := map[string]string{"SHOP_DSN": shop, "SESSIONS_URL": testenv.RedisURL(), "MAILWAVE_URL": "http://" + ln.Addr().String(), "MAILWAVE_TOKEN": token}
	if err := m.MissingVariables(func(k string) string { return env[k] }); err != nil {
		t.Fatal(err)
	}
	keys, _ := keyring.New(testenv.TestKey)
	systems, closeAll, err := engine.OpenSystems(ctx, m, func(k string) string { return env[k] }, keys)
	if err != nil {
		t.Fatalf("the map does not fit the seeded systems: %v", err)
	}
	defer closeAll()
	for _, tc := range []struct {
		email string
		want  map[string]int64 // found per location
	}{
		// The orders are found by the customer number, once compliance
		// confirms the link the customers table declares.
		{"jane@example.com", map[string]int64{"customers": 1, "orders": 0, "session:{email}:*": 2, "contacts": 1, "email-events": 2}},
		{"bob@example.com", map[string]int64{"customers": 1, "session:{email}:*": 1, "contacts": 1, "email-events": 1}},
	} {
		id, _ := domain.NewIdentity(domain.Email, tc.email)
		got := map[string]int64{}
		for _, s := range systems {
			res, err := s.Connector.Discover(ctx, []domain.Identity{id})
			if err != nil {
				t.Fatalf("%s: discover %s: %v", s.Name, tc.email, err)
			}
			for _, r := range res.Records {
				got[strings.Replace(r.Location, prefix, "", 1)] += r.Count
			}
		}
		for loc, n := range tc.want {
			if got[loc] != n {
				t.Errorf("%s: %d found in %s, want %d (all: %v)", tc.email, got[loc], loc, n, got)
			}
		}
	}
}

// splitRedis splits a line of redis-cli input into its words, with
// double quotes as redis-cli reads them.
func splitRedis(t *testing.T, line string) []string {
	var out []string
	var cur strings.Builder
	quoted, inWord := false, false
	for _, r := range line {
		switch {
		case r == '"':
			quoted, inWord = !quoted, true
		case r == ' ' && !quoted:
			if inWord {
				out = append(out, cur.String())
				cur.Reset()
			}
			inWord = false
		default:
			cur.WriteRune(r)
			inWord = true
		}
	}
	if quoted {
		t.Fatalf("unbalanced quotes in %q", line)
	}
	if inWord {
		out = append(out, cur.String())
	}
	return out
}
