package workflows

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"go.temporal.io/sdk/workflow"

	"github.com/dsrengine/dsr/activities"
	"github.com/dsrengine/dsr/claims"
	"github.com/dsrengine/dsr/domain"
)

// A subject's records may hold other identities of theirs: the customer
// number the CRM gave the row found by e-mail. They may also hold someone
// else's: a phone number the user typed, a household's shared line. So a
// link is followed only from a field the data map declares authoritative,
// and only once compliance, shown where it was found, confirms it is the
// subject's. A rejected or unanswered link is never used: no later step,
// access or erasure, acts on an identity that was neither given nor
// confirmed.

// UpdateConfirmIdentities is compliance's answer to the linked
// identities a request proposes.
const UpdateConfirmIdentities = "confirm-identities"

// IdentityConfirmation confirms the proposed identities numbered in
// Confirm; every other pending one is rejected.
type IdentityConfirmation struct {
	claims.Signed
	Confirm []int  `json:"confirm"`
	Note    string `json:"note,omitempty"`
}

// ProposedIdentity is one linked identity as compliance sees it: masked,
// with where it was found and what became of it.
type ProposedIdentity struct {
	N        int                 `json:"n"`
	Kind     domain.IdentityKind `json:"kind"`
	Masked   string              `json:"masked"`
	System   string              `json:"system"`
	Location string              `json:"location"`
	// Decision is "" while pending, then confirmed or rejected.
	Decision string `json:"decision,omitempty"`
	Actor    string `json:"actor,omitempty"`
}

// confirmLinks proposes the identities the subject's records hold in
// their link fields, waits for compliance to confirm them (with reminders,
// as for a sign-off), and looks for the subject again with those
// confirmed, until none turns up (at most three rounds).
func (l *lifecycle) confirmLinks(ctx workflow.Context, systems []activities.SystemRef) error {
	capNoted := false
	for round := 0; round < 3; round++ {
		first := len(l.proposed)
		// A continued run resumes in the round it left: waiting for the
		// confirmation, or for a retry of the search with those confirmed.
		retrying := false
		if r := l.resume; r != nil {
			round, first, capNoted, retrying = r.Round, r.First, r.CapNoted, r.Retry != nil
		} else {
			more, err := l.proposeLinks(ctx, &capNoted)
			if err != nil || !more {
				return err
			}
		}
		l.here = place{Stage: stageLinks, Round: round, First: first, CapNoted: capNoted}
		if !retrying {
			l.resume = nil
			err := l.await(ctx, "compliance's confirmation of linked identities", func() []string { return []string{ToCompliance} },
				func() bool { return !l.linksOpen })
			if err != nil || l.closure != nil {
				return err
			}
			var confirmed []domain.Identity
			for i := first; i < len(l.proposed); i++ {
				if l.st.ProposedIdentities[i].Decision == "confirmed" {
					confirmed = append(confirmed, l.proposed[i].Identity)
				}
			}
			if len(confirmed) == 0 {
				return nil
			}
			l.ids = append(l.ids, confirmed...)
		}
		if err := l.discoverIn(ctx, systems); err != nil || l.closure != nil {
			return err
		}
	}
	return nil
}

// proposeLinks asks the holding systems for the identities in their link
// fields, and proposes those not given, confirmed or rejected yet. It
// says whether there is anything to confirm.
func (l *lifecycle) proposeLinks(ctx workflow.Context, capNoted *bool) (bool, error) {
	var a *activities.Activities
	holding := l.holdingNames()
	if lean(ctx) {
		// Only systems with link fields can name another identity.
		holding = slices.DeleteFunc(holding, func(name string) bool { return !l.systemRef(name).Links })
	}
	if len(holding) == 0 {
		return false, nil
	}
	var found []activities.ProposedLink
	err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, discoveryActivity), a.ProposeLinks,
		activities.LinkInput{RequestID: l.in.RequestID, Systems: holding, Identities: l.ids}).Get(ctx, &found)
	if err != nil {
		l.note(ctx, fmt.Sprintf("could not look for further identities in the subject's records: %v", err))
		return false, nil
	}
	var fresh []activities.ProposedLink
	for _, f := range found {
		if slices.Contains(l.ids, f.Identity) || slices.ContainsFunc(l.proposed, func(p activities.ProposedLink) bool { return p.Identity == f.Identity }) {
			continue // given, confirmed, or already rejected
		}
		if len(l.ids)+len(fresh) >= maxIdentities {
			if !*capNoted {
				l.note(ctx, fmt.Sprintf("stopped proposing linked identities at %d; check the subject's records by hand", maxIdentities))
				*capNoted = true
			}
			break
		}
		fresh = append(fresh, f)
	}
	if len(fresh) == 0 {
		return false, nil
	}
	// Open before anything else runs, so an answer to what the state
	// already shows is never refused.
	l.linksOpen = true
	var kinds []string
	for _, f := range fresh {
		l.proposed = append(l.proposed, f)
		l.st.ProposedIdentities = append(l.st.ProposedIdentities, ProposedIdentity{N: len(l.proposed), Kind: f.Identity.Kind,
			Masked: f.Identity.Masked(), System: f.System, Location: f.Location})
		kinds = append(kinds, fmt.Sprintf("%d: %s in %s %s", len(l.proposed), f.Identity.Kind, f.System, f.Location))
	}
	l.note(ctx, fmt.Sprintf("the subject's records hold %d more identities, for compliance to confirm (%s)", len(fresh), strings.Join(kinds, "; ")))
	l.notify(ctx, activities.Notice{RequestID: l.in.RequestID, To: ToCompliance, Kind: "confirm-identities", Facts: l.facts(),
		Text: fmt.Sprintf("Request %s: the subject's records hold %d more identities (%s). Confirm those that are the subject's (starter confirm-identities %s --confirm N,...); the others are not used.",
			l.in.RequestID, len(fresh), strings.Join(kinds, "; "), l.in.RequestID)})
	return true, nil
}

func (l *lifecycle) validateConfirmIdentities(ctx workflow.Context, c IdentityConfirmation) error {
	if err := l.open(); err != nil {
		return err
	}
	if !l.linksOpen {
		return fmt.Errorf("request %s has no linked identities waiting for confirmation", l.in.RequestID)
	}
	if _, err := l.claimFor(ctx, UpdateConfirmIdentities); err != nil {
		return err
	}
	seen := map[int]bool{}
	for _, n := range c.Confirm {
		if n < 1 || n > len(l.st.ProposedIdentities) || l.st.ProposedIdentities[n-1].Decision != "" {
			return fmt.Errorf("%d is not a linked identity waiting for confirmation (see the request's proposed identities)", n)
		}
		if seen[n] {
			return fmt.Errorf("%d is confirmed twice", n)
		}
		seen[n] = true
	}
	if len(c.Confirm) == 0 && strings.TrimSpace(c.Note) == "" {
		return errors.New("rejecting every linked identity needs a note saying why, for the record")
	}
	return nil
}

// confirmIdentities records compliance's answer; the request goes on with
// the confirmed identities only.
func (l *lifecycle) confirmIdentities(ctx workflow.Context, c IdentityConfirmation) error {
	l.accepted(ctx)
	who := c.Author("")
	var yes, no []string
	for i := range l.st.ProposedIdentities {
		p := &l.st.ProposedIdentities[i]
		if p.Decision != "" {
			continue
		}
		p.Decision, p.Actor = "rejected", who
		if slices.Contains(c.Confirm, p.N) {
			p.Decision = "confirmed"
			yes = append(yes, fmt.Sprint(p.N))
		} else {
			no = append(no, fmt.Sprint(p.N))
		}
	}
	note := fmt.Sprintf("linked identities confirmed: %s; rejected: %s", list(yes), list(no))
	if c.Note != "" {
		note += " (" + c.Note + ")"
	}
	l.st.Timeline = append(l.st.Timeline, StatusChange{Status: l.st.Status, At: workflow.Now(ctx).UTC(), Actor: who, Note: note})
	l.linksOpen = false
	return nil
}

func list(ns []string) string {
	if len(ns) == 0 {
		return "none"
	}
	return strings.Join(ns, ", ")
}
