package workflows_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dsrengine/dsr/activities"
	"github.com/dsrengine/dsr/claims"
	"github.com/dsrengine/dsr/connectors"
	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/records"
	"github.com/dsrengine/dsr/workflows"
)

// linker is a system whose rows hold further identities in a link field:
// each call of Linked answers what next makes of the identities it is
// given. It records what every call saw.
type linker struct {
	tableConnector
	next func(ids []domain.Identity) ([]domain.Identity, error)

	mu       sync.Mutex
	linked   []int // identities given to each Linked call
	searched []int // identities given to each Discover call
	erased   [][]domain.Identity
}

func (l *linker) Linked(_ context.Context, ids []domain.Identity) ([]connectors.Link, error) {
	l.mu.Lock()
	l.linked = append(l.linked, len(ids))
	l.mu.Unlock()
	found, err := l.next(ids)
	var out []connectors.Link
	for _, id := range found {
		out = append(out, connectors.Link{Identity: id, Location: "customers.customer_no"})
	}
	return out, err
}

func (l *linker) Discover(ctx context.Context, ids []domain.Identity) (connectors.Result, error) {
	l.mu.Lock()
	l.searched = append(l.searched, len(ids))
	l.mu.Unlock()
	return l.tableConnector.Discover(ctx, ids)
}

func (l *linker) Erase(ctx context.Context, ids []domain.Identity, opts connectors.EraseOptions) (connectors.Result, error) {
	l.mu.Lock()
	if !opts.DryRun {
		l.erased = append(l.erased, slices.Clone(ids))
	}
	l.mu.Unlock()
	return l.tableConnector.Erase(ctx, ids, opts)
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

// confirmation is compliance's answer to the proposed identities, sent
// after the given number of hours.
type confirmation struct {
	hours   int
	confirm []int
	note    string
}

// runLinked runs in against one linking system, with compliance's answers,
// and returns the result and the answers' outcomes.
func runLinked(t *testing.T, l *linker, in workflows.RequestInput, answers ...confirmation) (workflows.RequestState, []*outcome) {
	t.Helper()
	e, st, keys, sent := envWithNotices(t)
	e.RegisterActivity(&activities.Activities{Store: st, Keys: keys, Notifier: sent, ExportDir: t.TempDir(), Systems: []activities.System{
		{SystemRef: activities.SystemRef{Name: "crm", Department: "Sales"}, Connector: l}}})
	if err := st.SyncDepartments(context.Background(), []records.Department{{Name: "Sales", Approvers: []string{"sales.lead@acme.example"}}}); err != nil {
		t.Fatal(err)
	}
	if in.Type == domain.Erasure {
		update(e, 12*time.Hour, workflows.UpdateDecide, approve("Sales", "sales.lead@acme.example"))
	}
	var outs []*outcome
	for _, a := range answers {
		outs = append(outs, update(e, time.Duration(a.hours)*time.Hour, workflows.UpdateConfirmIdentities,
			workflows.IdentityConfirmation{Confirm: a.confirm, Note: a.note}))
	}
	e.ExecuteWorkflow(workflows.Request, in)
	res := result(t, e)
	if res.Status != domain.StatusCompleted {
		t.Fatalf("ended %s: %+v", res.Status, res.Timeline)
	}
	return res, outs
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
// identity are proposed, confirmed and followed three times, then the
// request goes on.
func TestLinksAreFollowedThreeRoundsAtMost(t *testing.T) {
	l := &linker{tableConnector: tableConnector{rows: 1}, next: func(ids []domain.Identity) ([]domain.Identity, error) {
		return []domain.Identity{customer(len(ids))}, nil
	}}
	res, outs := runLinked(t, l, subjectWith("LINK-3", 1), confirmation{1, []int{1}, ""}, confirmation{2, []int{2}, ""}, confirmation{3, []int{3}, ""})
	for i, o := range outs {
		if o.rejected != nil || o.err != nil {
			t.Fatalf("confirmation %d: %+v", i+1, o)
		}
	}
	if !slices.Equal(l.linked, []int{1, 2, 3}) || !slices.Equal(l.searched, []int{1, 2, 3, 4}) {
		t.Fatalf("linked calls saw %v identities, discovery saw %v", l.linked, l.searched)
	}
	if n := notes(res, "for compliance to confirm"); n != 3 {
		t.Fatalf("%d rounds noted: %+v", n, res.Timeline)
	}
	if len(res.ProposedIdentities) != 3 || res.ProposedIdentities[2].Decision != "confirmed" || res.ProposedIdentities[2].Masked != "***" ||
		res.ProposedIdentities[0].Location != "customers.customer_no" || res.ProposedIdentities[0].Actor != "cli:test via test" {
		t.Fatalf("proposed identities: %+v", res.ProposedIdentities)
	}
}

// TestRejectedLinksAreNeverUsed: an identity compliance rejects (someone
// else's phone in the subject's row) is neither searched nor erased, and
// is not proposed again.
func TestRejectedLinksAreNeverUsed(t *testing.T) {
	other, _ := domain.NewIdentity(domain.Phone, "+44 20 7946 0999")
	l := &linker{tableConnector: tableConnector{rows: 1}, next: func(ids []domain.Identity) ([]domain.Identity, error) {
		return []domain.Identity{other, customer(1)}, nil
	}}
	in := subjectWith("LINK-NO", 1)
	in.Type = domain.Erasure
	res, outs := runLinked(t, l, in, confirmation{1, []int{2}, ""})
	if outs[0].rejected != nil {
		t.Fatalf("confirmation: %+v", outs[0])
	}
	// The last three searches: with the confirmed identity, the erasure's
	// baseline, and the verification after it.
	if !slices.Equal(l.searched, []int{1, 2, 2, 2}) || !slices.Equal(l.linked, []int{1, 2}) {
		t.Fatalf("linked calls saw %v identities, discovery saw %v", l.linked, l.searched)
	}
	for _, ids := range l.erased {
		if slices.Contains(ids, other) || len(ids) != 2 {
			t.Fatalf("erasure acted on %v", ids)
		}
	}
	if len(l.erased) == 0 || len(res.ProposedIdentities) != 2 || res.ProposedIdentities[0].Decision != "rejected" {
		t.Fatalf("erased %v, proposed %+v", l.erased, res.ProposedIdentities)
	}
	if notes(res, "linked identities confirmed: 2; rejected: 1") != 1 {
		t.Fatalf("timeline: %+v", res.Timeline)
	}
}

// TestUnconfirmedLinksHoldTheRequest: without compliance's answer the
// request waits, reminding, and a refused answer changes nothing.
func TestUnconfirmedLinksHoldTheRequest(t *testing.T) {
	l := &linker{tableConnector: tableConnector{rows: 1}, next: func(ids []domain.Identity) ([]domain.Identity, error) {
		return []domain.Identity{customer(9)}, nil
	}}
	e, st, keys, sent := envWithNotices(t)
	e.RegisterActivity(&activities.Activities{Store: st, Keys: keys, Notifier: sent, ExportDir: t.TempDir(), Systems: []activities.System{
		{SystemRef: activities.SystemRef{Name: "crm", Department: "Sales"}, Connector: l}}})
	approver := claims.Actor{Name: "sales.lead@acme.example", Role: claims.RoleApprover, Channel: "slack:U1"}
	refused := []*outcome{
		update(e, time.Hour, workflows.UpdateConfirmIdentities, workflows.IdentityConfirmation{Confirm: []int{2}}),
		update(e, time.Hour, workflows.UpdateConfirmIdentities, workflows.IdentityConfirmation{Confirm: []int{1, 1}}),
		update(e, time.Hour, workflows.UpdateConfirmIdentities, workflows.IdentityConfirmation{}),
		updateAs(e, time.Hour, workflows.UpdateConfirmIdentities, workflows.IdentityConfirmation{Confirm: []int{1}}, signAs(testKeys, &approver)),
	}
	var waiting workflows.RequestState
	e.RegisterDelayedCallback(func() {
		v, err := e.QueryWorkflow(workflows.QueryStatus)
		if err == nil {
			err = v.Get(&waiting)
		}
		if err != nil {
			t.Error(err)
		}
	}, 20*day)
	update(e, 25*day, workflows.UpdateCancel, workflows.Closure{Actor: "test", Reason: "end of test"})
	e.ExecuteWorkflow(workflows.Request, subjectWith("LINK-WAIT", 1))
	res := result(t, e)
	for i, want := range []string{"2 is not a linked identity waiting", "1 is confirmed twice", "needs a note", "approver sales.lead@acme.example may not"} {
		if refused[i].rejected == nil || !strings.Contains(refused[i].rejected.Error(), want) {
			t.Errorf("refusal %d: %+v, want %q", i, refused[i], want)
		}
	}
	if waiting.Status != domain.StatusDiscovery || waiting.WaitingFor != "compliance's confirmation of linked identities" || len(waiting.Alerts) == 0 ||
		waiting.ProposedIdentities[0].Decision != "" {
		t.Fatalf("while waiting: %+v", waiting)
	}
	if res.Status != domain.StatusCancelled || !slices.Equal(l.searched, []int{1}) {
		t.Fatalf("ended %s, discovery saw %v", res.Status, l.searched)
	}
	if got := strings.Join(sent.kinds(), " "); !strings.Contains(got, "compliance:confirm-identities") || !strings.Contains(got, "compliance:reminder") {
		t.Fatalf("notices: %s", got)
	}
}

// TestLinkedIdentitiesStopAtTheCap: a request that reaches the cap is
// proposed only up to it, says so once, and follows no further.
func TestLinkedIdentitiesStopAtTheCap(t *testing.T) {
	l := &linker{tableConnector: tableConnector{rows: 1}, next: func(ids []domain.Identity) ([]domain.Identity, error) {
		return []domain.Identity{customer(100), customer(101), customer(102), customer(103), customer(104)}, nil
	}}
	res, _ := runLinked(t, l, subjectWith("LINK-CAP", 18), confirmation{1, []int{1, 2}, ""})
	if !slices.Equal(l.linked, []int{18, 20}) || !slices.Equal(l.searched, []int{18, 20}) {
		t.Fatalf("linked calls saw %v identities, discovery saw %v", l.linked, l.searched)
	}
	if notes(res, "stopped proposing linked identities at 20") != 1 || notes(res, "hold 2 more identities") != 1 {
		t.Fatalf("timeline: %+v", res.Timeline)
	}
}

// TestRequestAboveTheCapAddsNothing: a request that arrives with more
// identities than the cap is proposed none of its records' links.
func TestRequestAboveTheCapAddsNothing(t *testing.T) {
	l := &linker{tableConnector: tableConnector{rows: 1}, next: func(ids []domain.Identity) ([]domain.Identity, error) {
		return []domain.Identity{ids[0], customer(7)}, nil
	}}
	res, _ := runLinked(t, l, subjectWith("LINK-22", 22))
	if !slices.Equal(l.linked, []int{22}) || !slices.Equal(l.searched, []int{22}) {
		t.Fatalf("linked calls saw %v identities, discovery saw %v", l.linked, l.searched)
	}
	if notes(res, "stopped proposing linked identities at 20") != 1 || len(res.ProposedIdentities) != 0 {
		t.Fatalf("timeline: %+v", res.Timeline)
	}
}

// TestLinkSearchFailureIsNoted: when the search for further identities
// fails, the request goes on with those it has, and the timeline says so.
func TestLinkSearchFailureIsNoted(t *testing.T) {
	l := &linker{tableConnector: tableConnector{rows: 1}, next: func([]domain.Identity) ([]domain.Identity, error) {
		return nil, fmt.Errorf("%w: no column customer_no in customers", connectors.ErrBadConfig)
	}}
	res, _ := runLinked(t, l, subjectWith("LINK-FAIL", 1))
	if !slices.Equal(l.linked, []int{1}) || !slices.Equal(l.searched, []int{1}) {
		t.Fatalf("linked calls saw %v identities, discovery saw %v", l.linked, l.searched)
	}
	if notes(res, "could not look for further identities in the subject's records") != 1 || res.Package == "" {
		t.Fatalf("result: %+v", res)
	}
}
