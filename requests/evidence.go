package requests

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"runtime"
	"slices"
	"strings"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	enumspb "go.temporal.io/api/enums/v1"
	historypb "go.temporal.io/api/history/v1"
	"go.temporal.io/api/serviceerror"
	"go.temporal.io/sdk/client"
	"go.temporal.io/sdk/converter"

	"github.com/dsrengine/dsr/activities"
	"github.com/dsrengine/dsr/connectors"
	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/records"
	"github.com/dsrengine/dsr/workflows"
)

// Evidence is a request's audit record: what happened, when and by whom,
// read from its Temporal history (each entry names its event), with the
// store's audit log entries and the state of the log's hash chain. It
// names no subject: identities, notes and exported data stay out.
type Evidence struct {
	RequestID  string `json:"request_id"`
	WorkflowID string `json:"workflow_id"`
	RunID      string `json:"run_id"`
	// Runs are every run of the request's workflow, first to last: a
	// request that waits long continues as new, and its evidence is the
	// histories of all its runs.
	Runs       []string              `json:"runs"`
	Type       domain.RequestType    `json:"type"`
	Regulation domain.Regulation     `json:"regulation"`
	Status     domain.Status         `json:"status"`
	ReceivedAt time.Time             `json:"received_at"`
	DueAt      time.Time             `json:"due_at"`
	Timeline   []Event               `json:"timeline"`
	AuditLog   []records.AuditEntry  `json:"audit_log"`
	Chain      activities.AuditCheck `json:"audit_chain"`
	ExportedAt time.Time             `json:"exported_at"`
	ExportedBy string                `json:"exported_by"`
}

// Event is one step of the timeline.
type Event struct {
	At time.Time `json:"at"`
	// Run (counted from 1), RunID and EventID name the history event:
	// event ids count from 1 in each run.
	Run     int    `json:"run,omitempty"`
	RunID   string `json:"run_id,omitempty"`
	EventID int64  `json:"history_event_id"`
	What    string `json:"what"` // received, status, discovered, decision, ...
	Actor   string `json:"actor,omitempty"`
	Detail  string `json:"detail"`
}

// Codecs decode a history's encrypted payloads and failures.
type Codecs struct {
	Data    converter.DataConverter
	Failure converter.FailureConverter
}

// GetEvidence builds a request's audit record. The audit log part comes
// through an audited lookup workflow, so exporting evidence is itself on
// the record.
func GetEvidence(ctx context.Context, c client.Client, codecs Codecs, requestID, actor string) (Evidence, error) {
	if err := domain.ValidateRequestID(requestID); err != nil {
		return Evidence{}, err
	}
	wid := domain.WorkflowID(requestID)
	v, err := Show(ctx, c, requestID)
	if err != nil {
		return Evidence{}, err
	}
	ev := Evidence{RequestID: requestID, WorkflowID: wid, RunID: v.RunID, Type: v.Type, Regulation: v.Regulation, Status: v.Status,
		ReceivedAt: v.ReceivedAt, DueAt: v.DueAt, ExportedAt: time.Now().UTC(), ExportedBy: actor}
	runs, err := Runs(ctx, c, wid, v.RunID)
	if err != nil {
		return Evidence{}, err
	}
	for i, r := range runs {
		ev.Runs = append(ev.Runs, r.RunID)
		for _, e := range Timeline(r.History.Events, codecs) {
			e.Run, e.RunID = i+1, r.RunID
			ev.Timeline = append(ev.Timeline, e)
		}
	}
	if ev.AuditLog, err = lookup[[]records.AuditEntry](ctx, c, "audit-export-", workflows.AuditExport, activities.AuditQuery{RequestID: requestID, Actor: actor}); err != nil {
		return Evidence{}, err
	}
	if ev.Chain, err = VerifyAudit(ctx, c, actor); err != nil {
		return Evidence{}, err
	}
	return ev, nil
}

// History reads a workflow run's whole history as the server stores it,
// payloads still encrypted.
func History(ctx context.Context, c client.Client, workflowID, runID string) (*historypb.History, error) {
	h := &historypb.History{}
	it := c.GetWorkflowHistory(ctx, workflowID, runID, false, enumspb.HISTORY_EVENT_FILTER_TYPE_ALL_EVENT)
	for it.HasNext() {
		e, err := it.Next()
		var nf *serviceerror.NotFound
		if errors.As(err, &nf) {
			return nil, fmt.Errorf("%w: %s", ErrNotFound, workflowID)
		}
		if err != nil {
			return nil, fmt.Errorf("history of %s: %w", workflowID, err)
		}
		h.Events = append(h.Events, e)
	}
	return h, nil
}

// localActivityMarker names the marker a local activity's result is
// recorded in; its details hold the activity's type ("data") and result.
const localActivityMarker = "LocalActivity"

// Run is one run of a workflow with its history.
type Run struct {
	RunID   string
	History *historypb.History
}

// maxRuns bounds how far back Runs follows a chain of runs.
const maxRuns = 10000

// Runs reads the histories of a workflow's runs up to runID, following
// each run back to the one it continued: first run first.
func Runs(ctx context.Context, c client.Client, workflowID, runID string) ([]Run, error) {
	var out []Run
	for runID != "" {
		if len(out) == maxRuns {
			return nil, fmt.Errorf("history of %s: more than %d runs", workflowID, maxRuns)
		}
		h, err := History(ctx, c, workflowID, runID)
		if err != nil {
			return nil, err
		}
		out = append(out, Run{RunID: runID, History: h})
		runID = ""
		if evs := h.GetEvents(); len(evs) > 0 {
			runID = evs[0].GetWorkflowExecutionStartedEventAttributes().GetContinuedExecutionRunId()
		}
	}
	slices.Reverse(out)
	return out, nil
}

// Timeline reads the steps of a request from its history events.
func Timeline(events []*historypb.HistoryEvent, codecs Codecs) []Event {
	var out []Event
	scheduled := map[int64]*historypb.ActivityTaskScheduledEventAttributes{}
	add := func(e *historypb.HistoryEvent, what, actor, detail string) {
		out = append(out, Event{At: e.GetEventTime().AsTime().UTC(), EventID: e.GetEventId(), What: what, Actor: actor, Detail: detail})
	}
	decode := func(p *commonpb.Payloads, into any) bool {
		return p != nil && codecs.Data.FromPayloads(p, into) == nil
	}
	for _, e := range events {
		switch e.GetEventType() {
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_STARTED:
			if from := e.GetWorkflowExecutionStartedEventAttributes().GetContinuedExecutionRunId(); from != "" {
				add(e, "continued", "engine", "this run continues run "+from+", with its state")
				continue
			}
			var in workflows.RequestInput
			if decode(e.GetWorkflowExecutionStartedEventAttributes().GetInput(), &in) {
				verified := "identity to be verified"
				if in.IdentityVerified {
					verified = "identity verified before the start"
				}
				add(e, "received", in.RequestedBy, fmt.Sprintf("%s request under %s, received %s, due %s; %d identities; %s",
					in.Type, in.Regulation, in.ReceivedAt.Format(time.RFC3339), in.DueAt.Format("2006-01-02"), len(in.Identities), verified))
			}
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_UPDATE_ACCEPTED:
			req := e.GetWorkflowExecutionUpdateAcceptedEventAttributes().GetAcceptedRequest().GetInput()
			if what, actor, detail, ok := describeUpdate(req.GetName(), req.GetArgs(), decode); ok {
				add(e, what, actor, detail)
			}
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_SCHEDULED:
			scheduled[e.GetEventId()] = e.GetActivityTaskScheduledEventAttributes()
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_COMPLETED:
			a := e.GetActivityTaskCompletedEventAttributes()
			s := scheduled[a.GetScheduledEventId()]
			for _, d := range describeSteps(s.GetActivityType().GetName(), s.GetInput(), a.GetResult(), decode) {
				add(e, d.what, d.actor, d.detail)
			}
		case enumspb.EVENT_TYPE_MARKER_RECORDED:
			m := e.GetMarkerRecordedEventAttributes()
			if m.GetMarkerName() != localActivityMarker || m.GetFailure() != nil {
				continue
			}
			var la struct{ ActivityType string }
			if !decode(m.GetDetails()["data"], &la) {
				continue
			}
			for _, d := range describeSteps(la.ActivityType, nil, m.GetDetails()["result"], decode) {
				add(e, d.what, d.actor, d.detail)
			}
		case enumspb.EVENT_TYPE_ACTIVITY_TASK_FAILED:
			a := e.GetActivityTaskFailedEventAttributes()
			s := scheduled[a.GetScheduledEventId()]
			var in struct {
				System string `json:"system"`
			}
			decode(s.GetInput(), &in)
			msg := "failed"
			if codecs.Failure != nil {
				msg = codecs.Failure.FailureToError(a.GetFailure()).Error()
			}
			add(e, "failure", "engine", strings.TrimSpace(fmt.Sprintf("%s %s: %s", s.GetActivityType().GetName(), in.System, msg)))
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_COMPLETED:
			var st workflows.RequestState
			decode(e.GetWorkflowExecutionCompletedEventAttributes().GetResult(), &st)
			add(e, "closed", "engine", "workflow completed: "+string(st.Status))
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_CONTINUED_AS_NEW:
			add(e, "continued as new", "engine", "the request waits on in run "+e.GetWorkflowExecutionContinuedAsNewEventAttributes().GetNewExecutionRunId()+
				", so that no history grows large")
		case enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_FAILED, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_TERMINATED, enumspb.EVENT_TYPE_WORKFLOW_EXECUTION_TIMED_OUT:
			add(e, "closed", "temporal", "workflow "+strings.ToLower(strings.TrimPrefix(e.GetEventType().String(), "EVENT_TYPE_WORKFLOW_EXECUTION_")))
		}
	}
	return out
}

func describeUpdate(name string, args *commonpb.Payloads, decode func(*commonpb.Payloads, any) bool) (what, actor, detail string, ok bool) {
	switch name {
	case workflows.UpdateVerifyIdentity:
		var v workflows.Verification
		ok = decode(args, &v)
		return "identity verified", v.Author(v.Actor), "method: " + v.Method, ok
	case workflows.UpdateExtend:
		var x workflows.ExtensionRequest
		ok = decode(args, &x)
		return "extension", x.Author(x.Actor), fmt.Sprintf("by %s: %s", x.By, x.Reason), ok
	case workflows.UpdateCancel, workflows.UpdateDeny:
		var c workflows.Closure
		ok = decode(args, &c)
		return map[string]string{workflows.UpdateCancel: "cancelled", workflows.UpdateDeny: "denied"}[name], c.Author(c.Actor), c.Reason, ok
	case workflows.UpdateDecide:
		var d workflows.Decision
		ok = decode(args, &d)
		detail = fmt.Sprintf("%s: %s", d.Department, d.Decision)
		if d.LegalBasis != "" {
			detail += " (legal basis: " + d.LegalBasis + ")"
		}
		return "sign-off", d.Author(d.Approver + " via " + d.Via), detail, ok
	case workflows.UpdateCompleteTask:
		var t workflows.TaskCompletion
		ok = decode(args, &t)
		detail = fmt.Sprintf("manual task in %s: %s, %d records", t.System, t.Outcome, t.Records)
		if t.Basis != "" {
			detail += " (legal basis: " + t.Basis + ")"
		}
		return "manual task", t.Author(t.Approver + " via " + t.Via), detail, ok
	case workflows.UpdateReadTask:
		var r workflows.TaskRead
		ok = decode(args, &r)
		return "task read", r.Author(""), "the subject's identities for the manual task in " + r.System, ok
	case workflows.UpdateRetry:
		var r workflows.Retry
		ok = decode(args, &r)
		return "retry", r.Author(r.Actor), "operator resumed the failed systems", ok
	case workflows.UpdateEraseAgain:
		var r workflows.EraseAgain
		ok = decode(args, &r)
		return "erase again", r.Author(r.Actor), "compliance erased again the data found after the erasure", ok
	case workflows.UpdateConfirmConsent:
		var c workflows.Confirmation
		ok = decode(args, &c)
		detail = "via " + c.Channel
		if c.Claim != nil {
			detail += ", recorded by " + c.Author("")
		}
		return "consent confirmed", "subject", detail, ok
	case workflows.UpdateConfirmIdentities:
		var c workflows.IdentityConfirmation
		ok = decode(args, &c)
		detail = fmt.Sprintf("linked identities confirmed: %v; every other one proposed rejected", c.Confirm)
		if c.Note != "" {
			detail += " (" + c.Note + ")"
		}
		return "linked identities", c.Author(""), detail, ok
	}
	return "", "", "", false
}

// activityName is the name Temporal registers a method of Activities
// under (the method's own name), taken from the method itself so that a
// renamed activity cannot silently drop out of the evidence.
func activityName(method any) string {
	full := runtime.FuncForPC(reflect.ValueOf(method).Pointer()).Name()
	return strings.TrimSuffix(full[strings.LastIndex(full, ".")+1:], "-fm")
}

// The activities the evidence describes, by their registered names.
var (
	actSetStatus       = activityName((*activities.Activities).SetStatus)
	actRecordStatus    = activityName((*activities.Activities).RecordStatus)
	actAdmit           = activityName((*activities.Activities).Admit)
	actDiscover        = activityName((*activities.Activities).Discover)
	actErase           = activityName((*activities.Activities).Erase)
	actApplyConsent    = activityName((*activities.Activities).ApplyConsent)
	actExport          = activityName((*activities.Activities).Export)
	actGather          = activityName((*activities.Activities).DiscoverAndExport)
	actAssemblePackage = activityName((*activities.Activities).AssemblePackage)
	actNotify          = activityName((*activities.Activities).Notify)
	actSuppress        = activityName((*activities.Activities).Suppress)
	actRecordConsent   = activityName((*activities.Activities).RecordConsent)
	actRecordExtension = activityName((*activities.Activities).RecordExtension)
	actCorrectAll      = activityName((*activities.Activities).CorrectAll)
	actRestrict        = activityName((*activities.Activities).Restrict)
	actWithdraw        = activityName((*activities.Activities).WithdrawPurposes)
	actSuppressMarket  = activityName((*activities.Activities).SuppressMarketing)
)

// step is one entry an activity adds to the evidence.
type step struct{ what, actor, detail string }

// describeSteps says what an activity did, as the evidence's entries: one
// for most, two for a discovery that exported in the same step.
func describeSteps(name string, input, result *commonpb.Payloads, decode func(*commonpb.Payloads, any) bool) []step {
	if name == actGather {
		var sys struct {
			System string `json:"system"`
		}
		var g activities.Gathered
		if !decode(input, &sys) || !decode(result, &g) {
			return nil
		}
		out := []step{{"discovered", "engine", fmt.Sprintf("%s: %s", sys.System, counts(g.Found))}}
		if x := g.Exported; x != nil {
			out = append(out, step{"exported", "engine", fmt.Sprintf("%s: %s (sha256 %s)", sys.System, counts(x.Result), x.Artifact.SHA256)})
		}
		return out
	}
	if what, actor, detail, ok := describeActivity(name, input, result, decode); ok {
		return []step{{what, actor, detail}}
	}
	return nil
}

func describeActivity(name string, input, result *commonpb.Payloads, decode func(*commonpb.Payloads, any) bool) (what, actor, detail string, ok bool) {
	var sys struct {
		System string `json:"system"`
	}
	decode(input, &sys)
	switch name {
	case actSetStatus:
		var s activities.StatusInput
		ok = decode(input, &s)
		return "status", s.Actor, string(s.Status), ok
	case actRecordStatus: // a local activity: what it recorded is its result
		var s activities.StatusInput
		ok = decode(result, &s)
		return "status", s.Actor, string(s.Status), ok
	case actAdmit:
		var in activities.AdmitInput
		ok = decode(input, &in)
		return "status", in.Record.RequestedBy, string(domain.StatusReceived), ok
	case actDiscover, actErase, actApplyConsent:
		var r connectors.Result
		ok = decode(result, &r)
		what = map[string]string{actDiscover: "discovered", actErase: "erased", actApplyConsent: "consent applied"}[name]
		return what, "engine", fmt.Sprintf("%s: %s", sys.System, counts(r)), ok
	case actExport:
		var x activities.Exported
		ok = decode(result, &x)
		return "exported", "engine", fmt.Sprintf("%s: %s (sha256 %s)", sys.System, counts(x.Result), x.Artifact.SHA256), ok
	case actAssemblePackage:
		var a records.Artifact
		ok = decode(result, &a)
		return "package", "engine", fmt.Sprintf("access package assembled (sha256 %s, %d bytes)", a.SHA256, a.SizeBytes), ok
	case actNotify:
		var n activities.Notice
		ok = decode(input, &n)
		return "notice", "engine", fmt.Sprintf("%s notice to %s", n.Kind, n.To), ok
	case actSuppress:
		return "suppressed", "engine", "the subject's identities (keyed hashes) added to the suppression list", true
	case actSuppressMarket:
		return "suppressed", "engine", "the subject's identities (keyed hashes) added to the suppression list for marketing", true
	case actCorrectAll:
		// Counts and field names only: the new values are personal data.
		var in activities.CorrectAllInput
		var r connectors.Result
		ok = decode(input, &in) && decode(result, &r)
		what = "corrected"
		if in.DryRun {
			what = "correction verified"
		}
		return what, "engine", fmt.Sprintf("%s: %s", sys.System, counts(r)), ok
	case actRestrict, actWithdraw:
		var r connectors.Result
		ok = decode(result, &r)
		what = map[string]string{actRestrict: "restriction", actWithdraw: "purposes withdrawn"}[name]
		return what, "engine", fmt.Sprintf("%s: %s", sys.System, counts(r)), ok
	case actRecordConsent:
		var c activities.ConsentRecord
		ok = decode(input, &c)
		return "consent recorded", "engine", fmt.Sprintf("%s: %s via %s (wording %s)", c.Purpose, c.State, c.Channel, c.WordingVersion), ok
	case actRecordExtension:
		var x activities.ExtensionInput
		ok = decode(input, &x)
		return "deadline", x.Actor, "new deadline " + x.DueAt.Format("2006-01-02"), ok
	}
	return "", "", "", false
}

func counts(r connectors.Result) string {
	var parts []string
	for _, rec := range r.Records {
		part := fmt.Sprintf("%s %d in %s", rec.Action, rec.Count, rec.Location)
		if rec.Reason != "" {
			part += " (" + rec.Reason + ")"
		}
		parts = append(parts, part)
	}
	if len(parts) == 0 {
		return "nothing"
	}
	return strings.Join(parts, ", ")
}
