package workflows_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/dsrengine/dsr/activities"
	"github.com/dsrengine/dsr/connectors"
	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/workflows"
)

// linker is a system whose rows hold further identities of the subject:
// each call of Linked answers what next makes of the identities it is
// given. It records what every call saw.
type linker struct {
	tableConnector
	next func(ids []domain.Identity) ([]domain.Identity, error)

	mu       sync.Mutex
	linked   []int // identities given to each Linked call
	searched []int // identities given to each Discover call
}

func (l *linker) Linked(_ context.Context, ids []domain.Identity) ([]domain.Identity, error) {
	l.mu.Lock()
	l.linked = append(l.linked, len(ids))
	l.mu.Unlock()
	return l.next(ids)
}

func (l *linker) Discover(ctx context.Context, ids []domain.Identity) (connectors.Result, error) {
	l.mu.Lock()
	l.searched = append(l.searched, len(ids))
	l.mu.Unlock()
	return l.tableConnector.Discover(ctx, ids)
}

func customer(n int) domain.Identity {
	id, _ := domain.NewIdentity(domain.CustomerID, fmt.Sprintf("C-%d", n))
	return id
}

// subjectWith is an access request given n e-mail addresses.
func subjectWith(id string, n int) workflows.RequestInput {
	in := input(id)
	in.Identities = nil
	for i := range n {
		e, _ := domain.NewIdentity(domain.Email, fmt.Sprintf("p%d@example.com", i))
		in.Identities = append(in.Identities, e)
	}
	return in
}

// runLinked runs in against one linking system and returns the result.
func runLinked(t *testing.T, l *linker, in workflows.RequestInput) workflows.RequestState {
	t.Helper()
	e, st, keys, sent := envWithNotices(t)
	e.RegisterActivity(&activities.Activities{Store: st, Keys: keys, Notifier: sent, ExportDir: t.TempDir(), Systems: []activities.System{
		{SystemRef: activities.SystemRef{Name: "crm", Department: "Sales"}, Connector: l}}})
	e.ExecuteWorkflow(workflows.Request, in)
	res := result(t, e)
	if res.Status != domain.StatusCompleted {
		t.Fatalf("ended %s: %+v", res.Status, res.Timeline)
	}
	return res
}

func notes(res workflows.RequestState, containing string) int {
	n := 0
	for _, c := range res.Timeline {
		if strings.Contains(c.Note, containing) {
			n++
		}
	}
	return n
}

// TestLinksAreFollowedThreeRoundsAtMost: records that keep naming a new
// identity are followed three times, then the request goes on.
func TestLinksAreFollowedThreeRoundsAtMost(t *testing.T) {
	l := &linker{tableConnector: tableConnector{rows: 1}, next: func(ids []domain.Identity) ([]domain.Identity, error) {
		return []domain.Identity{customer(len(ids))}, nil
	}}
	res := runLinked(t, l, subjectWith("LINK-3", 1))
	if !slices.Equal(l.linked, []int{1, 2, 3}) || !slices.Equal(l.searched, []int{1, 2, 3, 4}) {
		t.Fatalf("linked calls saw %v identities, discovery saw %v", l.linked, l.searched)
	}
	if n := notes(res, "looking again with them"); n != 3 {
		t.Fatalf("%d rounds noted: %+v", n, res.Timeline)
	}
}

// TestLinkedIdentitiesStopAtTheCap: a request that reaches the cap adds
// only up to it, looks once more, says so, and follows no further.
func TestLinkedIdentitiesStopAtTheCap(t *testing.T) {
	l := &linker{tableConnector: tableConnector{rows: 1}, next: func(ids []domain.Identity) ([]domain.Identity, error) {
		return []domain.Identity{customer(100), customer(101), customer(102), customer(103), customer(104)}, nil
	}}
	res := runLinked(t, l, subjectWith("LINK-CAP", 18))
	if !slices.Equal(l.linked, []int{18}) || !slices.Equal(l.searched, []int{18, 20}) {
		t.Fatalf("linked calls saw %v identities, discovery saw %v", l.linked, l.searched)
	}
	if notes(res, "stopped following linked identities at 20") != 1 || notes(res, "hold 2 more identities") != 1 {
		t.Fatalf("timeline: %+v", res.Timeline)
	}
}

// TestRequestAboveTheCapAddsNothing: a request that arrives with more
// identities than the cap follows none of its records' links.
func TestRequestAboveTheCapAddsNothing(t *testing.T) {
	l := &linker{tableConnector: tableConnector{rows: 1}, next: func(ids []domain.Identity) ([]domain.Identity, error) {
		return []domain.Identity{ids[0], customer(7)}, nil
	}}
	res := runLinked(t, l, subjectWith("LINK-22", 22))
	if !slices.Equal(l.linked, []int{22}) || !slices.Equal(l.searched, []int{22}) {
		t.Fatalf("linked calls saw %v identities, discovery saw %v", l.linked, l.searched)
	}
	if notes(res, "stopped following linked identities at 20") != 1 || notes(res, "looking again") != 0 {
		t.Fatalf("timeline: %+v", res.Timeline)
	}
}

// TestLinkSearchFailureIsNoted: when the search for further identities
// fails, the request goes on with those it has, and the timeline says so.
func TestLinkSearchFailureIsNoted(t *testing.T) {
	l := &linker{tableConnector: tableConnector{rows: 1}, next: func([]domain.Identity) ([]domain.Identity, error) {
		return nil, fmt.Errorf("%w: no column customer_no in customers", connectors.ErrBadConfig)
	}}
	res := runLinked(t, l, subjectWith("LINK-FAIL", 1))
	if !slices.Equal(l.linked, []int{1}) || !slices.Equal(l.searched, []int{1}) {
		t.Fatalf("linked calls saw %v identities, discovery saw %v", l.linked, l.searched)
	}
	if notes(res, "could not look for further identities in the subject's records") != 1 || res.Package == "" {
		t.Fatalf("result: %+v", res)
	}
}
