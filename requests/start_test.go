package requests_test

import (
	"context"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"go.temporal.io/api/workflowservice/v1"
	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	"github.com/dsrengine/dsr/connect"
	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/internal/testengine"
	"github.com/dsrengine/dsr/requests"
	"github.com/dsrengine/dsr/store"
	"github.com/dsrengine/dsr/workflows"
)

// TestStartThatTimedOutIsRetried loses the first start call of a request
// to a client-side timeout, once before it reaches the server and once
// after the server started the workflow. Either way Start sends it again
// and answers that this call started the request, with the one run the
// server holds: a burst that outlasts the SDK's 10 s per call neither
// fails nor reports a request it started as one that already existed.
func TestStartThatTimedOutIsRetried(t *testing.T) {
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "dsr.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	e := testengine.StartEngine(t, st)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()

	for _, tt := range []struct {
		name    string
		reached bool // whether the lost call reached the server
	}{
		{"lost on the way", false},
		{"answer lost", true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			lose := func(ctx context.Context, method string, req, reply any, cc *grpc.ClientConn, invoker grpc.UnaryInvoker, opts ...grpc.CallOption) error {
				if _, ok := req.(*workflowservice.StartWorkflowExecutionRequest); !ok || calls.Add(1) > 1 {
					return invoker(ctx, method, req, reply, cc, opts...)
				}
				if tt.reached {
					if err := invoker(ctx, method, req, reply, cc, opts...); err != nil {
						return err
					}
				}
				return status.Error(codes.DeadlineExceeded, "context deadline exceeded")
			}
			opts := connect.ClientOptions(e.Keys)
			opts.ConnectionOptions.DialOptions = append(opts.ConnectionOptions.DialOptions, grpc.WithChainUnaryInterceptor(lose))
			c := e.Server.NewClientWithOptions(opts)
			defer c.Close()

			id := "LOST-" + map[bool]string{false: "1", true: "2"}[tt.reached]
			in := workflows.RequestInput{RequestID: id, Type: domain.Access, Regulation: domain.GDPR, Identities: []domain.Identity{ident(t, id)},
				ReceivedAt: time.Now().UTC().Truncate(time.Second), RequestedBy: "cli:alice", IdentityVerified: true}
			in.DueAt = domain.DueAt(domain.GDPR, in.ReceivedAt)
			res, err := requests.Start(ctx, c, in)
			if err != nil {
				t.Fatalf("start: %v", err)
			}
			if calls.Load() != 2 {
				t.Fatalf("%d start calls; want the lost one and its retry", calls.Load())
			}
			if res.Existing {
				t.Fatalf("answered that %s already existed, but this call started it", id)
			}
			desc, err := c.DescribeWorkflowExecution(ctx, domain.WorkflowID(id), "")
			if err != nil {
				t.Fatal(err)
			}
			if run := desc.GetWorkflowExecutionInfo().GetExecution().GetRunId(); res.RunID != run {
				t.Fatalf("answered run %s; the server holds %s", res.RunID, run)
			}
			// A later start of the same request is the existing one.
			again, err := requests.Start(ctx, e.Client, in)
			if err != nil || !again.Existing || again.RunID != res.RunID {
				t.Fatalf("started again: %+v, %v", again, err)
			}
		})
	}
}

func ident(t *testing.T, id string) domain.Identity {
	i, err := domain.NewIdentity(domain.Email, id+"@example.com")
	if err != nil {
		t.Fatal(err)
	}
	return i
}
