package workflows

import (
	"time"

	"go.temporal.io/sdk/temporal"
	"go.temporal.io/sdk/workflow"

	"github.com/dsrengine/dsr/activities"
	"github.com/dsrengine/dsr/domain"
)

// ConsentLookupInput asks for a subject's current consent per purpose.
type ConsentLookupInput struct {
	Identities []domain.Identity `json:"identities"`
	Actor      string            `json:"actor"`
}

// ConsentLookup answers "what has this person consented to?" from the
// consent ledger. It is a workflow, not a direct database read, so that
// compliance needs no database access and every lookup of a person is in
// Temporal's history with its actor.
func ConsentLookup(ctx workflow.Context, in ConsentLookupInput) ([]activities.ConsentState, error) {
	for _, id := range in.Identities {
		if _, err := domain.NewIdentity(id.Kind, id.Value); err != nil {
			return nil, temporal.NewNonRetryableApplicationError(err.Error(), "InvalidInput", err)
		}
	}
	var a *activities.Activities
	var out []activities.ConsentState
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, workflow.ActivityOptions{
		StartToCloseTimeout: 30 * time.Second,
		RetryPolicy:         &temporal.RetryPolicy{InitialInterval: time.Second, BackoffCoefficient: 2, MaximumAttempts: 5},
	}), a.CurrentConsents, activities.ConsentQuery{Identities: in.Identities, Actor: in.Actor}).Get(ctx, &out)
	return out, err
}
