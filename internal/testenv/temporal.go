package testenv

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/server/temporal"
	"go.temporal.io/server/temporaltest"

	"github.com/dsrengine/dsr/devserver"
	"github.com/dsrengine/dsr/engine"
	"github.com/dsrengine/dsr/keyring"
	"github.com/dsrengine/dsr/store"
)

// TestKey is the fixed master key of tests, so recorded histories replay.
var TestKey = bytes.Repeat([]byte{42}, keyring.MasterKeySize)

// Engine is a running engine on a real in-process Temporal server.
type Engine struct {
	Server    *temporaltest.TestServer
	Client    client.Client // with the encrypting data converter
	RawClient client.Client // without it: sees what the server stores
	Store     *store.Store
	Keys      *keyring.Keyring
	Gateway   string // base URL
	Namespace string
}

// StartEngine starts Temporal (temporaltest, tuned like dev mode), registers
// the search attributes and runs the worker and gateway on st until the test ends.
func StartEngine(t *testing.T, st *store.Store) *Engine {
	t.Helper()
	keys, err := keyring.New(TestKey)
	if err != nil {
		t.Fatal(err)
	}
	ts := temporaltest.NewServer(temporaltest.WithT(t),
		temporaltest.WithBaseServerOptions(temporal.WithDynamicConfigClient(devserver.DynamicConfig())))
	quiet := slog.New(slog.NewTextHandler(io.Discard, nil))
	c := ts.NewClientWithOptions(client.Options{DataConverter: keys.DataConverter()})
	raw := ts.NewClientWithOptions(client.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	if err := engine.EnsureSearchAttributes(ctx, c, ts.GetDefaultNamespace()); err != nil {
		t.Fatal(err)
	}
	e := &engine.Engine{Client: c, Store: st, Keys: keys, Log: quiet, GatewayAddr: "127.0.0.1:0"}
	ln, err := e.Listen()
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- e.Run(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("engine: %v", err)
			}
		case <-time.After(15 * time.Second):
			t.Error("engine did not stop")
		}
	})
	return &Engine{Server: ts, Client: c, RawClient: raw, Store: st, Keys: keys,
		Gateway: "http://" + ln.Addr().String(), Namespace: ts.GetDefaultNamespace()}
}
