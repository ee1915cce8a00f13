package claims

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"time"

	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/interceptor"
	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"
)

type actorKey struct{}

// As returns a context whose Updates are signed as made by a.
func As(ctx context.Context, a Actor) context.Context { return context.WithValue(ctx, actorKey{}, a) }

// ActorOf returns the actor that As put in ctx.
func ActorOf(ctx context.Context) (Actor, bool) {
	a, ok := ctx.Value(actorKey{}).(Actor)
	return a, ok
}

// ErrNoActor is returned for an Update sent without an actor in its context.
var ErrNoActor = errors.New("no authenticated actor: the change is not sent")

// Client returns the client interceptor that signs every Update whose
// argument embeds Signed, as the actor in the call's context.
func Client(k Keys) interceptor.ClientInterceptor { return &clientInterceptor{k: k} }

type clientInterceptor struct {
	interceptor.ClientInterceptorBase
	k Keys
}

func (c *clientInterceptor) InterceptClient(next interceptor.ClientOutboundInterceptor) interceptor.ClientOutboundInterceptor {
	i := &clientOutbound{k: c.k}
	i.Next = next
	return i
}

type clientOutbound struct {
	interceptor.ClientOutboundInterceptorBase
	k Keys
}

func (c *clientOutbound) UpdateWorkflow(ctx context.Context, in *interceptor.ClientUpdateWorkflowInput) (client.WorkflowUpdateHandle, error) {
	for i, arg := range in.Args {
		if _, ok := arg.(claimed); !ok {
			continue
		}
		a, ok := ActorOf(ctx)
		if !ok {
			return nil, fmt.Errorf("%s: %w", in.UpdateName, ErrNoActor)
		}
		signed, err := Sign(c.k, a, in.UpdateName, in.WorkflowID, in.UpdateID, time.Now(), arg)
		if err != nil {
			return nil, err
		}
		args := slices.Clone(in.Args)
		args[i] = signed
		in.Args = args
	}
	return c.Next.UpdateWorkflow(ctx, in)
}

// Worker returns the worker interceptor that checks the claim of every
// Update but those named in unsigned (which change nothing), before the
// workflow's validator runs. A refused claim rejects the Update, so
// nothing of it reaches the history.
func Worker(k Keys, unsigned ...string) interceptor.WorkerInterceptor {
	return &workerInterceptor{k: k, unsigned: unsigned}
}

type workerInterceptor struct {
	interceptor.WorkerInterceptorBase
	k        Keys
	unsigned []string
}

func (w *workerInterceptor) InterceptWorkflow(ctx workflow.Context, next interceptor.WorkflowInboundInterceptor) interceptor.WorkflowInboundInterceptor {
	i := &workflowInbound{w: w}
	i.Next = next
	return i
}

type workflowInbound struct {
	interceptor.WorkflowInboundInterceptorBase
	w *workerInterceptor
}

type verifiedKey struct{}

func (i *workflowInbound) ValidateUpdate(ctx workflow.Context, in *interceptor.UpdateInput) error {
	if slices.Contains(i.w.unsigned, in.Name) {
		return i.Next.ValidateUpdate(ctx, in)
	}
	var found []Claim
	for _, arg := range in.Args {
		if _, ok := arg.(claimed); !ok {
			continue
		}
		c, err := Check(i.w.k, in.Name, workflow.GetInfo(ctx).WorkflowExecution.ID, workflow.GetCurrentUpdateInfo(ctx).ID, workflow.Now(ctx), arg)
		if err != nil {
			return temporal.NewApplicationError(err.Error(), "claim")
		}
		found = append(found, c)
	}
	if len(found) != 1 {
		return temporal.NewApplicationError(fmt.Sprintf("%s: %v", in.Name, ErrMissing), "claim")
	}
	return i.Next.ValidateUpdate(workflow.WithValue(ctx, verifiedKey{}, found[0]), in)
}

// Verified returns the claim the worker checked for the Update being
// validated. Validators refuse a change without one, so a worker that
// runs without the interceptor refuses every change.
func Verified(ctx workflow.Context) (Claim, bool) {
	c, ok := ctx.Value(verifiedKey{}).(Claim)
	return c, ok
}
