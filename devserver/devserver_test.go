package devserver

import (
	"context"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"go.temporal.io/server/common/config"
)

// TestTakenPortIsAnError: another process takes a port between its pick
// and the server's bind. Start says so, instead of starting a server with
// no listener that panics once it serves.
func TestTakenPortIsAnError(t *testing.T) {
	beforeBuild = func(cfg *config.Config) {
		taken, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(cfg.Services["history"].RPC.GRPCPort)))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { taken.Close() })
	}
	t.Cleanup(func() { beforeBuild = func(*config.Config) {} })
	front, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := front.Addr().(*net.TCPAddr).Port
	front.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := Start(ctx, Options{DataDir: filepath.Join(t.TempDir(), "temporal"), IP: "127.0.0.1", FrontendPort: port, Namespace: "dsr", Retention: 24 * time.Hour})
	if err == nil {
		s.Stop()
		t.Fatal("the server started on a taken port")
	}
	if !strings.Contains(err.Error(), "Failed to start gRPC listener") || !strings.Contains(err.Error(), "address already in use") {
		t.Fatalf("err = %v", err)
	}
}

// TestPicksDistinctPorts: no two services of one server get the same port.
func TestPicksDistinctPorts(t *testing.T) {
	calls := 0
	pickPort = func(ip string) (int, error) {
		calls++
		// The same port every other time: the second pick of it is refused
		// while the first is held.
		if calls%2 == 0 {
			return 29999, nil
		}
		return freePort(ip)
	}
	t.Cleanup(func() { pickPort = freePort })
	for range 20 {
		cfg, err := serverConfig(Options{IP: "127.0.0.1", FrontendPort: 7233}, nil)
		if err != nil {
			t.Fatal(err)
		}
		seen := map[int]string{7233: "frontend"}
		for name, svc := range cfg.Services {
			for _, p := range []int{svc.RPC.GRPCPort, svc.RPC.MembershipPort} {
				if p == 7233 && name == "frontend" && p == svc.RPC.GRPCPort {
					continue
				}
				if other, dup := seen[p]; dup {
					t.Fatalf("port %d for %s and %s", p, name, other)
				}
				seen[p] = name
			}
		}
	}
}
