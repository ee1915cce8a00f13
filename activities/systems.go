package activities

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"go.temporal.io/sdk/temporal"

	"github.com/dsrengine/dsr/connectors"
	"github.com/dsrengine/dsr/domain"
)

// System is one system of the data map as the activities reach it.
type System struct {
	SystemRef
	Connector connectors.Connector
	// Rate bounds, in activities per second across every worker, the
	// system's own task queue (the data map's rate_limit); 0 is none.
	Rate float64
}

// SystemRef is what the workflow keeps of a system: no connection details.
type SystemRef struct {
	Name       string `json:"name"`
	Department string `json:"department"`
	// SignOffFor lists request kinds, besides erasure, for which the owning
	// department must sign off when the system holds the subject's data.
	SignOffFor []domain.RequestType `json:"signoff_for,omitempty"`
	// What the access package tells the subject about the system.
	Purposes     []string `json:"purposes,omitempty"`
	LegalBasis   string   `json:"legal_basis,omitempty"`
	Recipients   []string `json:"recipients,omitempty"`
	SoldOrShared bool     `json:"sold_or_shared,omitempty"`
	Retention    string   `json:"retention,omitempty"`
	// Categories are the kinds of data held, each with its fields.
	Categories         []Category `json:"categories,omitempty"`
	Source             string     `json:"source,omitempty"`
	Transfers          []Transfer `json:"transfers,omitempty"`
	AutomatedDecisions string     `json:"automated_decisions,omitempty"`
	// Manual is set for a system without an API: people do the work.
	Manual *ManualTask `json:"manual,omitempty"`
	// Links is set when the system can name the subject's other identities
	// (its connector has link fields): only then is it searched for them.
	Links bool `json:"links,omitempty"`
	// PurposeKinds gives the purposes of a kind their kinds (marketing,
	// sale, sharing, sensitive), as the data map's purpose_kinds says.
	PurposeKinds map[string][]string `json:"purpose_kinds,omitempty"`
	// Correctable are the fields a rectification can correct here, and
	// Restricts the purposes ("all") whose restriction the system records.
	Correctable []string `json:"correctable,omitempty"`
	Restricts   []string `json:"restricts,omitempty"`
	// TaskQueue is where the system's activities run: its connector
	// class's queue, so that a slow class cannot hold the others' work,
	// or its own when the data map bounds its rate. Empty (a request
	// begun before queues were split) is the requests' queue.
	TaskQueue string `json:"task_queue,omitempty"`
}

// PurposesOf lists the system's purposes of any of the kinds, in the
// system's order.
func (s SystemRef) PurposesOf(kinds ...string) []string {
	var out []string
	for _, p := range s.Purposes {
		if slices.ContainsFunc(s.PurposeKinds[p], func(k string) bool { return slices.Contains(kinds, k) }) {
			out = append(out, p)
		}
	}
	return out
}

// Category is one kind of data a system holds and the fields that hold it
// (none where the map names no field).
type Category struct {
	Name   string   `json:"name"`
	Fields []string `json:"fields,omitempty"`
}

// Transfer is one destination outside the subject's region and how the
// transfer is protected.
type Transfer struct {
	To        string `json:"to"`
	Safeguard string `json:"safeguard"`
}

// declaresLinks says whether a connector can name the subject's other
// identities. One that cannot tell is searched all the same.
func declaresLinks(c connectors.Connector) bool {
	l, ok := c.(connectors.Linker)
	if !ok {
		return false
	}
	if d, ok := l.(interface{ DeclaresLinks() bool }); ok {
		return d.DeclaresLinks()
	}
	return true
}

// ManualTask says where a manual system keeps the data and what to do
// there, per kind of work (access, erasure, consent).
type ManualTask struct {
	Location     string            `json:"location"`
	Instructions map[string]string `json:"instructions"`
}

// NeedsSignOff says whether the owning department decides on a request of
// this kind when the system holds data: erasure always.
func (s SystemRef) NeedsSignOff(t domain.RequestType) bool {
	return t == domain.Erasure || slices.Contains(s.SignOffFor, t)
}

// ListSystems snapshots the data map's systems, ordered by name, into the
// workflow's history, so a running request is not changed by a new map.
func (a *Activities) ListSystems(ctx context.Context) ([]SystemRef, error) {
	out := make([]SystemRef, 0, len(a.Systems))
	for _, s := range a.Systems {
		ref := s.SystemRef
		ref.Links = s.Connector != nil && declaresLinks(s.Connector)
		if c, ok := s.Connector.(connectors.Corrector); ok {
			ref.Correctable = c.Correctable()
		}
		if r, ok := s.Connector.(connectors.Restricter); ok {
			ref.Restricts = r.Restricts()
		}
		out = append(out, ref)
	}
	slices.SortFunc(out, func(x, y SystemRef) int {
		if x.Name < y.Name {
			return -1
		}
		if x.Name > y.Name {
			return 1
		}
		return 0
	})
	return out, nil
}

// DiscoverInput asks one system what it holds on a subject.
type DiscoverInput struct {
	RequestID  string            `json:"request_id"`
	System     string            `json:"system"`
	Identities []domain.Identity `json:"identities"`
}

// Discover asks one system whether and how much it holds on the subject.
// A system the map no longer has is a non-retryable configuration error.
func (a *Activities) Discover(ctx context.Context, in DiscoverInput) (connectors.Result, error) {
	sys, err := a.system(in.System)
	if err != nil {
		return connectors.Result{}, err
	}
	defer keepAlive(ctx, "discovering in "+in.System)()
	res, err := sys.Connector.Discover(ctx, in.Identities)
	if err != nil {
		return connectors.Result{}, connectorError("discover in "+in.System, err)
	}
	res.System = in.System
	return res, nil
}

// connectorError marks the errors no retry can fix as non-retryable, with
// the types the workflows' retry policies name.
func connectorError(op string, err error) error {
	err = fmt.Errorf("%s: %w", op, err)
	var later *connectors.RetryLaterError
	switch {
	case errors.As(err, &later):
		return temporal.NewApplicationErrorWithOptions(err.Error(), "RateLimited", temporal.ApplicationErrorOptions{NextRetryDelay: later.After, Cause: err})
	case errors.Is(err, connectors.ErrRefused):
		return temporal.NewNonRetryableApplicationError(err.Error(), "Refused", err)
	case errors.Is(err, connectors.ErrPermissionDenied):
		return temporal.NewNonRetryableApplicationError(err.Error(), "PermissionDenied", err)
	case errors.Is(err, connectors.ErrBadConfig):
		return temporal.NewNonRetryableApplicationError(err.Error(), "BadConfig", err)
	case errors.Is(err, connectors.ErrTooLarge):
		return temporal.NewNonRetryableApplicationError(err.Error(), "TooLarge", err)
	}
	return err
}

func (a *Activities) system(name string) (System, error) {
	for _, s := range a.Systems {
		if s.Name == name && s.Connector == nil {
			err := fmt.Errorf("system %q has no API: its department does the work as a manual task", name)
			return System{}, temporal.NewNonRetryableApplicationError(err.Error(), "BadConfig", err)
		}
		if s.Name == name {
			return s, nil
		}
	}
	err := fmt.Errorf("system %q is not in the data map", name)
	return System{}, temporal.NewNonRetryableApplicationError(err.Error(), "BadConfig", err)
}

// Approvers returns each department's approvers as the store has them from
// the data map, for the sign-off validator.
func (a *Activities) Approvers(ctx context.Context, departments []string) (map[string][]string, error) {
	deps, err := a.Store.Departments(ctx)
	if err != nil {
		return nil, err
	}
	out := make(map[string][]string, len(departments))
	for _, d := range deps {
		if slices.Contains(departments, d.Name) {
			out[d.Name] = d.Approvers
		}
	}
	return out, nil
}

// LinkInput asks the systems that hold the subject's data which other
// identities their records hold.
type LinkInput struct {
	RequestID  string            `json:"request_id"`
	Systems    []string          `json:"systems"`
	Identities []domain.Identity `json:"identities"`
}

// LinkedIdentities served requests started before links needed
// compliance's confirmation, which took every identity found as the
// subject's own. It now finds none for them: such a request goes on with
// the identities it was given, and never reaches another person's data
// through an unconfirmed link.
func (a *Activities) LinkedIdentities(ctx context.Context, in LinkInput) ([]domain.Identity, error) {
	return nil, nil
}

// ProposedLink is an identity found in the subject's records in a field
// the data map trusts, for compliance to confirm or reject.
type ProposedLink struct {
	Identity domain.Identity `json:"identity"`
	System   string          `json:"system"`
	Location string          `json:"location"`
}

// ProposeLinks returns the identities the systems' records hold in their
// declared link fields that the subject did not give (systems that cannot
// tell are skipped), each once, with where it was found first.
func (a *Activities) ProposeLinks(ctx context.Context, in LinkInput) ([]ProposedLink, error) {
	defer keepAlive(ctx, "looking for linked identities")()
	var out []ProposedLink
	for _, name := range in.Systems {
		sys, err := a.system(name)
		if err != nil {
			return nil, err
		}
		l, ok := sys.Connector.(connectors.Linker)
		if !ok {
			continue
		}
		found, err := l.Linked(ctx, in.Identities)
		if err != nil {
			return nil, connectorError("linked identities in "+name, err)
		}
		for _, l := range found {
			known := slices.Contains(in.Identities, l.Identity) ||
				slices.ContainsFunc(out, func(p ProposedLink) bool { return p.Identity == l.Identity })
			if !known {
				out = append(out, ProposedLink{Identity: l.Identity, System: name, Location: l.Location})
			}
		}
	}
	return out, nil
}
