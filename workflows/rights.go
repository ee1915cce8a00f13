package workflows

import (
	"fmt"
	"slices"
	"strings"

	"go.temporal.io/sdk/workflow"

	"github.com/dsrengine/dsr/activities"
	"github.com/dsrengine/dsr/connectors"
	"github.com/dsrengine/dsr/domain"
)

// The rights that change how the subject's data is used rather than
// export or erase it: rectification, restriction, objection, opt-out of
// sale and sharing, and the limit of sensitive data. None of them existed
// before these request types, so their paths need no workflow version.

// withdrawnKinds are the purpose kinds a right withdraws, if it is one
// that withdraws purposes.
func (l *lifecycle) withdrawnKinds() []string {
	switch {
	case l.in.Type == domain.OptOut:
		return []string{"sale", "sharing"}
	case l.in.Type == domain.LimitSensitive:
		return []string{"sensitive"}
	case l.in.Type == domain.Objection && l.in.Scope.DirectMarketing:
		return []string{"marketing"}
	}
	return nil
}

// needsSignOff says whether a system's department decides on this
// request. A rectification asks the departments whose systems can correct
// a field it names; an objection on other grounds those whose systems use
// a purpose it names; an opt-out, a limit and an objection to direct
// marketing nobody, since the law lets nobody refuse them.
func (l *lifecycle) needsSignOff(ref activities.SystemRef) bool {
	switch l.in.Type {
	case domain.Rectification:
		return len(l.fieldsIn(ref)) > 0
	case domain.Objection:
		return !l.in.Scope.DirectMarketing && len(l.namedPurposesOf(ref)) > 0
	case domain.OptOut, domain.LimitSensitive:
		return false
	}
	return ref.NeedsSignOff(l.in.Type)
}

// fieldsIn lists the corrections the system can apply.
func (l *lifecycle) fieldsIn(ref activities.SystemRef) []domain.Correction {
	var out []domain.Correction
	for _, c := range l.in.Corrections {
		if slices.Contains(ref.Correctable, c.Field) {
			out = append(out, c)
		}
	}
	return out
}

// namedPurposesOf lists the purposes of the request's scope the system
// uses, all of them for "all".
func (l *lifecycle) namedPurposesOf(ref activities.SystemRef) []string {
	if slices.Contains(l.in.Scope.Purposes, domain.AllPurposes) {
		return slices.Clone(ref.Purposes)
	}
	var out []string
	for _, p := range ref.Purposes {
		if slices.Contains(l.in.Scope.Purposes, p) {
			out = append(out, p)
		}
	}
	return out
}

// fulfilRight carries out one of the new rights.
func (l *lifecycle) fulfilRight(ctx workflow.Context) error {
	if kinds := l.withdrawnKinds(); kinds != nil {
		if err := l.startFulfilment(ctx, "withdrawing "+strings.Join(kinds, " and ")+" purposes", true); err != nil {
			return err
		}
		return l.withdrawKinds(ctx, kinds)
	}
	switch l.in.Type {
	case domain.Rectification:
		if err := l.startFulfilment(ctx, "correcting", true); err != nil {
			return err
		}
		return l.correct(ctx)
	default: // a restriction, or an objection on other grounds upheld
		note := "restricting"
		if l.in.Scope.Lift {
			note = "lifting the restriction"
		}
		if err := l.startFulfilment(ctx, note, true); err != nil {
			return err
		}
		return l.restrict(ctx)
	}
}

// withdrawKinds withdraws every purpose of the kinds in every system with
// an API that processes data for one, as a withdrawal of consent does:
// the ledger first, as the evidence, then the systems.
func (l *lifecycle) withdrawKinds(ctx workflow.Context, kinds []string) error {
	var a *activities.Activities
	var targets []activities.SystemRef
	var purposes []string
	for _, s := range l.systems {
		ps := s.PurposesOf(kinds...)
		for _, p := range ps {
			if !slices.Contains(purposes, p) {
				purposes = append(purposes, p)
			}
		}
		if len(ps) > 0 && s.Manual == nil {
			targets = append(targets, s)
		}
	}
	if !l.resuming() {
		// A map with no purpose of the kinds sells, shares or uses nothing
		// of them today: the ledger records the kinds themselves, so the
		// subject's choice holds when a purpose of that kind is added.
		recorded := purposes
		if len(recorded) == 0 {
			recorded = kinds
		}
		for _, p := range recorded {
			err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, storeActivity), a.RecordConsent, activities.ConsentRecord{
				RequestID: l.in.RequestID, Purpose: p, State: "withdrawn", Channel: l.in.Scope.Channel, WordingVersion: string(l.in.Type),
				At: workflow.Now(ctx).UTC()}).Get(ctx, nil)
			if err != nil {
				return fmt.Errorf("record the withdrawal of %s: %w", p, err)
			}
		}
		l.st.Consent = "withdrawn"
		if l.in.Type == domain.Objection {
			err := workflow.ExecuteActivity(workflow.WithActivityOptions(ctx, storeActivity), a.SuppressMarketing,
				activities.SuppressInput{RequestID: l.in.RequestID, Identities: l.ids}).Get(ctx, nil)
			if err != nil {
				return fmt.Errorf("suppress for marketing: %w", err)
			}
		}
	}
	err := l.eachSystem(ctx, domain.StatusFulfilling, targets, func(ctx workflow.Context, s activities.SystemRef) workflow.Future {
		return workflow.ExecuteActivity(ctx, a.WithdrawPurposes, activities.WithdrawInput{RequestID: l.in.RequestID, System: s.Name,
			Identities: l.ids, Purposes: s.PurposesOf(kinds...)})
	}, func(s activities.SystemRef, f workflow.Future) error {
		var res connectors.Result
		if err := f.Get(ctx, &res); err != nil {
			return err
		}
		l.progressOf(s).Done = describe(res)
		return nil
	})
	if err != nil || l.closure != nil {
		return err
	}
	return l.awaitTasks(ctx)
}

// progressOf is the system's progress, added if discovery did not list it.
func (l *lifecycle) progressOf(s activities.SystemRef) *SystemProgress {
	if p := l.progress(s.Name); p != nil {
		return p
	}
	l.st.Systems = append(l.st.Systems, SystemProgress{System: s.Name, Department: s.Department})
	return &l.st.Systems[len(l.st.Systems)-1]
}

// correct applies the corrections each holding system can take, unless
// its department refused them, then checks that nothing still differs
// and asks the departments to tell the system's recipients (GDPR Art. 19).
func (l *lifecycle) correct(ctx workflow.Context) error {
	var a *activities.Activities
	var targets []activities.SystemRef
	for _, s := range l.holding(false) {
		if len(l.fieldsIn(s)) > 0 {
			targets = append(targets, s)
		}
	}
	var changed []activities.SystemRef
	err := l.eachSystem(ctx, domain.StatusFulfilling, targets, func(ctx workflow.Context, s activities.SystemRef) workflow.Future {
		return workflow.ExecuteActivity(ctx, a.CorrectAll, activities.CorrectAllInput{RequestID: l.in.RequestID, System: s.Name,
			Identities: l.ids, Corrections: l.fieldsIn(s)})
	}, func(s activities.SystemRef, f workflow.Future) error {
		var res connectors.Result
		if err := f.Get(ctx, &res); err != nil {
			return err
		}
		p := l.progress(s.Name)
		p.Done = describe(res)
		if res.Total() > 0 && !slices.ContainsFunc(changed, func(c activities.SystemRef) bool { return c.Name == s.Name }) {
			changed = append(changed, s)
		}
		var left connectors.Result
		err := workflow.ExecuteActivity(onSystem(workflow.WithActivityOptions(ctx, discoveryActivity), s), a.CorrectAll, activities.CorrectAllInput{
			RequestID: l.in.RequestID, System: s.Name, Identities: l.ids, Corrections: l.fieldsIn(s), DryRun: true}).Get(ctx, &left)
		if err != nil {
			return fmt.Errorf("verification: %w", err)
		}
		if n := left.Total(); n > 0 {
			return fmt.Errorf("verification found %d records still differing after the correction (%s)", n, describe(left))
		}
		p.Verified = true
		return nil
	})
	if err != nil || l.closure != nil {
		return err
	}
	// Art. 19 asks for the recipients of what was corrected: a system
	// that held the values already changed nothing to pass on.
	for _, s := range changed {
		if len(s.Recipients) == 0 {
			continue
		}
		var fields []string
		for _, c := range l.fieldsIn(s) {
			fields = append(fields, c.Field)
		}
		text := fmt.Sprintf("Request %s: %s corrected in %s. Tell its recipients to correct it too (GDPR Art. 19): %s.",
			l.in.RequestID, strings.Join(fields, ", "), s.Name, strings.Join(s.Recipients, "; "))
		l.notify(ctx, activities.Notice{RequestID: l.in.RequestID, To: s.Department, Kind: "recipients", Text: text, Facts: l.facts()})
		l.note(ctx, fmt.Sprintf("%s asked to tell the recipients of %s: %s", s.Department, s.Name, strings.Join(s.Recipients, "; ")))
	}
	return l.awaitTasks(ctx)
}

// restrict sets (or lifts) the restriction of the purposes named in every
// holding system that uses one and was not exempted by its department.
// A restriction sets the flags of those purposes and a system's flag for
// every purpose ("all"); a lift clears only what it names, so a flag for
// every purpose stays set until every purpose is lifted, and another
// restriction still in force is never lifted with it. What a system
// cannot record is its department's to handle: it is told, and the
// timeline says so.
func (l *lifecycle) restrict(ctx workflow.Context) error {
	var a *activities.Activities
	var targets []activities.SystemRef
	lifting, every := l.in.Scope.Lift, slices.Contains(l.in.Scope.Purposes, domain.AllPurposes)
	for _, s := range l.holding(false) {
		named := l.namedPurposesOf(s)
		if len(named) == 0 {
			continue
		}
		allFlag := slices.Contains(s.Restricts, domain.AllPurposes)
		var uncovered []string
		for _, p := range named {
			if !slices.Contains(s.Restricts, p) && !(allFlag && (!lifting || every)) {
				uncovered = append(uncovered, p)
			}
		}
		if len(uncovered) < len(named) {
			targets = append(targets, s)
		}
		if len(uncovered) == 0 || l.resuming() {
			continue
		}
		what := "records no restriction"
		if len(uncovered) < len(named) {
			what += " of " + strings.Join(uncovered, ", ")
		}
		if lifting && allFlag {
			what = "keeps its restriction of every purpose until every purpose (all) is lifted"
		}
		l.note(ctx, fmt.Sprintf("%s holds the subject's data for %s but %s; %s is told", s.Name, strings.Join(named, ", "), what, s.Department))
		l.notify(ctx, activities.Notice{RequestID: l.in.RequestID, To: s.Department, Kind: "restriction", Facts: l.facts(),
			Text: fmt.Sprintf("Request %s (%s): %s holds the subject's data for %s but %s; handle that by hand, or declare a restriction flag per purpose in the data map.",
				l.in.RequestID, l.in.Type, s.Name, strings.Join(named, ", "), what)})
	}
	purposes := func(s activities.SystemRef) []string {
		if every {
			return []string{domain.AllPurposes}
		}
		return l.namedPurposesOf(s)
	}
	err := l.eachSystem(ctx, domain.StatusFulfilling, targets, func(ctx workflow.Context, s activities.SystemRef) workflow.Future {
		return workflow.ExecuteActivity(ctx, a.Restrict, activities.RestrictInput{RequestID: l.in.RequestID, System: s.Name,
			Identities: l.ids, Purposes: purposes(s), Restricted: !lifting})
	}, func(s activities.SystemRef, f workflow.Future) error {
		var res connectors.Result
		if err := f.Get(ctx, &res); err != nil {
			return err
		}
		p := l.progress(s.Name)
		p.Done = describe(res)
		p.Verified = true
		return nil
	})
	if err != nil || l.closure != nil {
		return err
	}
	return l.awaitTasks(ctx)
}

// rightAnswer is the answer to the subject for the new rights: what was
// done where, and what was refused and why.
func (l *lifecycle) rightAnswer() string {
	var done, refused []string
	for _, p := range l.st.Systems {
		switch {
		case p.Exempt:
			refused = append(refused, fmt.Sprintf("%s (%s)", p.System, p.Basis))
		case p.Done != "":
			done = append(done, fmt.Sprintf("%s: %s", p.System, p.Done))
		}
	}
	var b strings.Builder
	switch l.in.Type {
	case domain.Rectification:
		var fields []string
		for _, c := range l.in.Corrections {
			fields = append(fields, c.Field)
		}
		fmt.Fprintf(&b, "Your request to correct %s is answered.", strings.Join(fields, ", "))
		var nowhere []string
		for _, c := range l.in.Corrections {
			if !slices.ContainsFunc(l.st.Systems, func(p SystemProgress) bool {
				return p.Found > 0 && slices.ContainsFunc(l.fieldsIn(l.systemRef(p.System)), func(x domain.Correction) bool { return x.Field == c.Field })
			}) {
				nowhere = append(nowhere, c.Field)
			}
		}
		if len(nowhere) > 0 {
			fmt.Fprintf(&b, " We hold no %s of yours that we can correct.", strings.Join(nowhere, " or "))
		}
	case domain.Restriction:
		if l.in.Scope.Lift {
			fmt.Fprintf(&b, "The restriction of %s is lifted.", strings.Join(l.in.Scope.Purposes, ", "))
		} else {
			fmt.Fprintf(&b, "We restricted the processing of your data for %s until you ask us to lift it.", strings.Join(l.in.Scope.Purposes, ", "))
		}
	case domain.Objection:
		if l.in.Scope.DirectMarketing {
			b.WriteString("We no longer use your data for direct marketing, and keep your details on our do-not-market list.")
		} else {
			fmt.Fprintf(&b, "Your objection to %s is answered.", strings.Join(l.in.Scope.Purposes, ", "))
		}
	case domain.OptOut:
		b.WriteString("You are opted out of the sale and sharing of your personal information.")
	case domain.LimitSensitive:
		b.WriteString("We limited the use of your sensitive personal information to what the law allows.")
	}
	if len(done) > 0 {
		fmt.Fprintf(&b, " Done: %s.", strings.Join(done, "; "))
	}
	if len(refused) > 0 {
		fmt.Fprintf(&b, " Refused: %s.", strings.Join(refused, "; "))
	}
	return b.String()
}

// isRight says whether the request is one of the rights in this file.
func isRight(t domain.RequestType) bool {
	return t == domain.Rectification || t.Scoped()
}
