// Package connect dials Temporal as every client and worker of the engine
// must: with the encrypting data and failure converters, and TLS or an API
// key where the cluster asks for them. It is small on purpose: starter
// imports it alone, and so links none of the engine's server side.
package connect

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"log/slog"
	"os"

	"go.temporal.io/api/workflowservice/v1"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	tlog "go.temporal.io/sdk/log"
	"google.golang.org/grpc"

	"github.com/dsrengine/dsr/claims"
	"github.com/dsrengine/dsr/keyring"
)

// Options say how to reach Temporal.
type Options struct {
	Address   string
	Namespace string
	TLSCert   string
	TLSKey    string
	TLSCA     string
	TLSName   string
	APIKey    string
	Keys      *keyring.Keyring
	Log       *slog.Logger
}

// Dial connects to Temporal with the encrypting data converter; every
// client and worker of the engine must use it.
func Dial(ctx context.Context, o Options) (client.Client, error) {
	opts := ClientOptions(o.Keys)
	opts.HostPort, opts.Namespace = o.Address, o.Namespace
	opts.Logger = tlog.NewStructuredLogger(quiet(o.Log))
	if o.TLSCert != "" || o.TLSCA != "" || o.APIKey != "" {
		cfg := &tls.Config{ServerName: o.TLSName, MinVersion: tls.VersionTLS12}
		if o.TLSCert != "" {
			cert, err := tls.LoadX509KeyPair(o.TLSCert, o.TLSKey)
			if err != nil {
				return nil, fmt.Errorf("temporal TLS client certificate: %w", err)
			}
			cfg.Certificates = []tls.Certificate{cert}
		}
		if o.TLSCA != "" {
			pem, err := os.ReadFile(o.TLSCA)
			if err != nil {
				return nil, fmt.Errorf("temporal TLS CA: %w", err)
			}
			pool := x509.NewCertPool()
			if !pool.AppendCertsFromPEM(pem) {
				return nil, fmt.Errorf("temporal TLS CA %s: no PEM certificate found", o.TLSCA)
			}
			cfg.RootCAs = pool
		}
		opts.ConnectionOptions.TLS = cfg
	}
	if o.APIKey != "" {
		opts.Credentials = client.NewAPIKeyStaticCredentials(o.APIKey)
	}
	c, err := client.DialContext(ctx, opts)
	if err != nil {
		return nil, fmt.Errorf("connect to Temporal at %s (namespace %s): %w", o.Address, o.Namespace, err)
	}
	return c, nil
}

// ClientOptions are what every client of the engine needs, wherever it
// connects: the encrypting converters, the interceptor that signs every
// change as the actor its caller authenticated, and the one that keeps a
// start's request id across its retries (WithStartID).
func ClientOptions(keys *keyring.Keyring) client.Options {
	return client.Options{
		DataConverter:    keys.DataConverter(),
		FailureConverter: keys.FailureConverter(),
		Interceptors:     []interceptor.ClientInterceptor{claims.Client(keys)},
		ConnectionOptions: client.ConnectionOptions{
			DialOptions: []grpc.DialOption{grpc.WithChainUnaryInterceptor(stableStartID)},
		},
	}
}

// quiet keeps the SDK's chatty info logs out of the engine's output.
func quiet(l *slog.Logger) *slog.Logger {
	return slog.New(levelFloor{l.Handler(), slog.LevelWarn})
}

type levelFloor struct {
	slog.Handler
	min slog.Level
}

func (h levelFloor) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= h.min && h.Handler.Enabled(ctx, l)
}

// WithAttrs and WithGroup keep the floor on derived loggers, which the SDK
// creates for every worker and workflow.
func (h levelFloor) WithAttrs(attrs []slog.Attr) slog.Handler {
	return levelFloor{h.Handler.WithAttrs(attrs), h.min}
}

func (h levelFloor) WithGroup(name string) slog.Handler {
	return levelFloor{h.Handler.WithGroup(name), h.min}
}

// NewLogger is the engine's text logger, for the engine's processes and
// for Dial's Log at the given level.
func NewLogger(level string) *slog.Logger {
	var l slog.Level
	if err := l.UnmarshalText([]byte(level)); err != nil {
		l = slog.LevelInfo
	}
	return slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: l}))
}

type startIDKey struct{}

// WithStartID makes every StartWorkflowExecution call made with ctx carry
// id as its request id. The SDK draws a new one for each ExecuteWorkflow,
// so a start retried after a client-side timeout looked to the server like
// a second start of an id already taken; with one id across the retries,
// the server recognises its own earlier start and answers with that run.
func WithStartID(ctx context.Context, id string) context.Context {
	return context.WithValue(ctx, startIDKey{}, id)
}

func stableStartID(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
	if id, ok := ctx.Value(startIDKey{}).(string); ok && id != "" {
		if r, ok := req.(*workflowservice.StartWorkflowExecutionRequest); ok {
			r.RequestId = id
		}
	}
	return invoker(ctx, method, req, reply, cc, opts...)
}
