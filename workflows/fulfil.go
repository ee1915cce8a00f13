package workflows

import (
	"fmt"
	"slices"
	"strings"

	"go.temporal.io/sdk/workflow"

	"github.com/dsrengine/dsr/activities"
	"github.com/dsrengine/dsr/connectors"
	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/records"
)

// fulfil carries out the request in every system that holds the subject's
// data: export for access and portability, erasure (then a verification
// pass and the suppression list) for erasure.
func (l *lifecycle) fulfil(ctx workflow.Context) error {
	l.here = place{Stage: stageFulfilment}
	switch l.in.Type {
	case domain.Access, domain.Portability:
		if err := l.startFulfilment(ctx, "exporting", true); err != nil {
			return err
		}
		return l.export(ctx)
	case domain.Erasure:
		if err := l.startFulfilment(ctx, "erasing", true); err != nil {
			return err
		}
		return l.erase(ctx)
	}
	if isRight(l.in.Type) {
		return l.fulfilRight(ctx)
	}
	if err := l.startFulfilment(ctx, "consent "+l.in.Consent.Purpose, false); err != nil {
		return err
	}
	return l.consent(ctx)
}

// startFulfilment records the status and, with tasks, opens the manual
// systems' tasks; a continued run did both already.
func (l *lifecycle) startFulfilment(ctx workflow.Context, note string, tasks bool) error {
	if l.resuming() {
		return nil
	}
	if err := advance(ctx, l.st, domain.StatusFulfilling, "engine", note); err != nil {
		return err
	}
	if tasks {
		return l.openTasks(ctx)
	}
	return nil
}

// holding lists the systems with an API that hold the subject's data,
// optionally without the exempted ones.
func (l *lifecycle) holding(withExempt bool) []activities.SystemRef {
	var out []activities.SystemRef
	for _, p := range l.st.Systems {
		if p.Found > 0 && !p.Manual && (withExempt || !p.Exempt) {
			out = append(out, l.systemRef(p.System))
		}
	}
	return out
}

func (l *lifecycle) progress(system string) *SystemProgress {
	for i := range l.st.Systems {
		if l.st.Systems[i].System == system {
			return &l.st.Systems[i]
		}
	}
	return nil
}

// export collects every holding system's data by reference and assembles
// the package that says, per system, what is held, why and who gets it.
func (l *lifecycle) export(ctx workflow.Context) error {
	var a *activities.Activities
	// Systems exported during discovery are done; before that change no
	// export existed at this point, so older histories replay as they ran.
	todo := slices.DeleteFunc(l.holding(true), func(s activities.SystemRef) bool { _, done := l.artifacts[s.Name]; return done })
	err := l.eachSystem(ctx, domain.StatusFulfilling, todo, func(ctx workflow.Context, s activities.SystemRef) workflow.Future {
		return workflow.ExecuteActivity(ctx, a.Export, activities.SystemInput{RequestID: l.in.RequestID, System: s.Name, Identities: l.ids})
	}, func(s activities.SystemRef, f workflow.Future) error {
		var out activities.Exported
		if err := f.Get(ctx, &out); err != nil {
			return err
		}
		l.artifacts[s.Name] = out.Artifact
		l.progress(s.Name).Done = exportedText(out.Result)
		return nil
	})
	if err != nil || l.closure != nil {
		return err
	}
	if err := l.awaitTasks(ctx); err != nil || l.closure != nil {
		return err
	}
	in := activities.PackageInput{RequestID: l.in.RequestID, Type: l.in.Type, Regulation: l.in.Regulation}
	for _, p := range l.st.Systems {
		if p.Found == 0 {
			continue
		}
		ref := l.systemRef(p.System)
		sum := activities.SystemSummary{System: p.System, Department: p.Department, Records: p.Found, Purposes: ref.Purposes,
			LegalBasis: ref.LegalBasis, Recipients: ref.Recipients, SoldOrShared: ref.SoldOrShared, Retention: ref.Retention,
			Categories: ref.Categories, Source: ref.Source, Transfers: ref.Transfers, AutomatedDecisions: ref.AutomatedDecisions}
		if art, ok := l.artifacts[p.System]; ok {
			sum.File = "systems/" + p.System + ".json"
			in.Artifacts = append(in.Artifacts, art)
		}
		if t := l.task(p.System); t != nil {
			sum.Note = fmt.Sprintf("held outside our systems (%s); %s confirmed: %s", t.Location, t.Department, t.Note)
		}
		in.Systems = append(in.Systems, sum)
	}
	var pkg records.Artifact
	if err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, discoveryActivity), a.AssemblePackage, in).Get(ctx, &pkg); err != nil {
		return fmt.Errorf("assemble package: %w", err)
	}
	l.st.Package = pkg.Location
	return nil
}

func exportedText(r connectors.Result) string {
	return fmt.Sprintf("exported %d records", r.Total()) + undeclared(r)
}

// erase erases in every holding system that was not exempted; after each
// erasure, discovery runs again and must find nothing (the verification
// pass). A system that fails either step needs attention, and a retry
// erases and verifies it again. Then the subject goes on the suppression list.
func (l *lifecycle) erase(ctx workflow.Context) error {
	var a *activities.Activities
	err := l.eachSystem(ctx, domain.StatusFulfilling, l.holding(false), func(ctx workflow.Context, s activities.SystemRef) workflow.Future {
		return workflow.ExecuteActivity(ctx, a.Erase, activities.SystemInput{RequestID: l.in.RequestID, System: s.Name, Identities: l.ids})
	}, func(s activities.SystemRef, f workflow.Future) error {
		var res connectors.Result
		if err := f.Get(ctx, &res); err != nil {
			return err
		}
		p := l.progress(s.Name)
		p.Done = describe(res)
		if found, changed := p.Evidence.Erasable(), res.Changed(); found != changed {
			// Not hidden: the data changed between discovery and erasure.
			l.note(ctx, fmt.Sprintf("%s: discovery found %d records to erase, erasure changed %d", s.Name, found, changed))
		}
		var left connectors.Result
		err := workflow.ExecuteActivity(onSystem(workflow.WithActivityOptions(ctx, discoveryActivity), s), a.Discover,
			activities.DiscoverInput{RequestID: l.in.RequestID, System: s.Name, Identities: l.ids}).Get(ctx, &left)
		if err != nil {
			return fmt.Errorf("verification: %w", err)
		}
		if n := left.Erasable(); n > 0 {
			return fmt.Errorf("verification found %d records left after erasure (%s)", n, describe(left))
		}
		l.progress(s.Name).Verified = true
		return nil
	})
	if err != nil || l.closure != nil {
		return err
	}
	if err := l.awaitTasks(ctx); err != nil || l.closure != nil {
		return err
	}
	err = workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, storeActivity), a.Suppress,
		activities.SuppressInput{RequestID: l.in.RequestID, Identities: l.ids}).Get(ctx, nil)
	if err != nil || workflow.GetVersion(ctx, changeCryptoShred, workflow.DefaultVersion, 1) == workflow.DefaultVersion {
		return err
	}
	// The engine's own copies go too: every export and package it made of
	// this person, for any request.
	var purged int
	if err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, storeActivity), a.PurgeSubjectExports,
		activities.PurgeInput{RequestID: l.in.RequestID}).Get(ctx, &purged); err != nil {
		return fmt.Errorf("purge earlier exports: %w", err)
	}
	if purged > 0 {
		l.note(ctx, fmt.Sprintf("deleted the engine's exports of this person from %d earlier requests", purged))
	}
	return nil
}

// undeclared names the exported columns the data map does not classify:
// they are in the package all the same, and the map's owner should say
// what they hold.
func undeclared(res connectors.Result) string {
	var cols []string
	for _, r := range res.Records {
		for _, c := range r.Undeclared {
			cols = append(cols, r.Location+"."+c)
		}
	}
	if len(cols) == 0 {
		return ""
	}
	return fmt.Sprintf("; %d columns the data map does not classify: %s", len(cols), strings.Join(cols, ", "))
}

// describe is the evidence in words. What was kept says why (the legal
// hold, or that other people's records still point at it), so the
// subject and the auditor read why a count is not zero.
func describe(res connectors.Result) string {
	var parts []string
	for _, r := range res.Records {
		part := fmt.Sprintf("%s %d in %s", r.Action, r.Count, r.Location)
		if r.Reason != "" && r.Count > 0 && (r.Action == "kept" || r.Action == connectors.ActionShared || strings.HasPrefix(r.Reason, "shared")) {
			part += " (" + r.Reason + ")"
		}
		parts = append(parts, part)
	}
	return strings.Join(parts, ", ")
}
