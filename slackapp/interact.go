package slackapp

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/socketmode"

	"github.com/dsrengine/dsr/claims"
	"github.com/dsrengine/dsr/requests"
	"github.com/dsrengine/dsr/workflows"
)

// ServeHTTP takes Slack's interaction payloads on the gateway. A payload
// counts only if Slack signed it with the signing secret, within the last
// five minutes, and was not seen before; anything else changes nothing.
func (a *App) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if a.cfg.SigningSecret == "" {
		http.Error(w, "Slack interactions arrive over Socket Mode here", http.StatusNotFound)
		return
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	if err != nil {
		http.Error(w, "cannot read the request", http.StatusBadRequest)
		return
	}
	sv, err := slack.NewSecretsVerifier(r.Header, a.cfg.SigningSecret)
	if err != nil {
		a.log.Warn("slack: interaction refused", "reason", err)
		http.Error(w, "missing or stale Slack signature: "+err.Error(), http.StatusUnauthorized)
		return
	}
	sv.Write(body)
	if err := sv.Ensure(); err != nil {
		a.log.Warn("slack: interaction with a forged signature refused")
		http.Error(w, "the Slack signature does not match", http.StatusUnauthorized)
		return
	}
	fresh, err := a.store.FirstSighting(r.Context(), payloadKey(r.Header.Get("X-Slack-Request-Timestamp"), body))
	if err != nil {
		http.Error(w, "cannot check for replays now", http.StatusServiceUnavailable)
		return
	}
	if !fresh {
		a.log.Warn("slack: replayed interaction refused")
		http.Error(w, "this payload was already received", http.StatusConflict)
		return
	}
	form, err := url.ParseQuery(string(body))
	var cb slack.InteractionCallback
	if err == nil {
		err = json.Unmarshal([]byte(form.Get("payload")), &cb)
	}
	if err != nil || cb.User.ID == "" {
		http.Error(w, "the payload is not a Slack interaction", http.StatusBadRequest)
		return
	}
	resp := a.interact(cb)
	w.Header().Set("Content-Type", "application/json")
	if resp == nil {
		w.Write([]byte("{}"))
		return
	}
	json.NewEncoder(w).Encode(resp)
}

// payloadKey names a signed payload for the replay check: the hash of what
// Slack signs, the timestamp and the body. The signature header itself is
// no name for it: the same signature in upper-case hex is the same
// payload.
func payloadKey(timestamp string, body []byte) string {
	h := sha256.New()
	h.Write([]byte("v0:" + timestamp + ":"))
	h.Write(body)
	return hex.EncodeToString(h.Sum(nil))
}

// RunSocketMode takes interactions over Socket Mode until ctx ends, for
// companies that cannot expose the gateway to Slack.
func (a *App) RunSocketMode(ctx context.Context) error {
	sm := socketmode.New(a.api)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case evt := <-sm.Events:
				if evt.Type != socketmode.EventTypeInteractive || evt.Request == nil {
					continue
				}
				cb, ok := evt.Data.(slack.InteractionCallback)
				if !ok {
					sm.Ack(*evt.Request)
					continue
				}
				if resp := a.interact(cb); resp != nil {
					sm.Ack(*evt.Request, resp)
				} else {
					sm.Ack(*evt.Request)
				}
			}
		}
	}()
	err := sm.RunContext(ctx)
	if ctx.Err() != nil {
		return nil
	}
	return fmt.Errorf("slack socket mode: %w", err)
}

// interact answers one interaction within Slack's three seconds: buttons
// open modals or start the Update in the background; a modal's input is
// checked here, so Slack can show what to fix. The answer, if any, is the
// response to send back (modal errors).
func (a *App) interact(cb slack.InteractionCallback) (resp any) {
	// No payload may take the worker down: in Socket Mode a panic here
	// would end the process. A payload that gets this far is logged, by
	// kind only, and changes nothing.
	defer func() {
		if p := recover(); p != nil {
			a.log.Error("slack: an interaction could not be handled", "type", cb.Type, "panic", fmt.Sprint(p))
			resp = nil
		}
	}()
	switch cb.Type {
	case slack.InteractionTypeBlockActions:
		if len(cb.ActionCallback.BlockActions) == 0 {
			return nil
		}
		act := cb.ActionCallback.BlockActions[0]
		var r ref
		if json.Unmarshal([]byte(act.Value), &r) != nil || r.Request == "" {
			return nil
		}
		r.Channel, r.TS = cb.Channel.ID, cb.Container.MessageTs
		a.onButton(cb, act.ActionID, r)
	case slack.InteractionTypeViewSubmission:
		var r ref
		if json.Unmarshal([]byte(cb.View.PrivateMetadata), &r) != nil || r.Request == "" {
			return nil
		}
		return a.onSubmit(cb, r)
	}
	return nil
}

// onButton acts on a click. A click by someone who is not an approver of
// the department gets an ephemeral answer and changes nothing.
func (a *App) onButton(cb slack.InteractionCallback, action string, r ref) {
	entry, ok := a.approverEntry(r.Department, cb.User.ID)
	if !ok {
		a.tell(r, cb.User.ID, fmt.Sprintf("You are not an approver for %s, so your click was not recorded.", r.Department))
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	switch action {
	case actionApprove:
		go a.decide(r, cb.User.ID, workflows.Decision{Department: r.Department, Decision: "approve", Approver: entry, Via: "slack:" + cb.User.ID})
	case actionObject:
		if _, err := a.api.OpenViewContext(ctx, cb.TriggerID, objectionView(r)); err != nil {
			a.log.Error("slack: cannot open the objection form", "error", err)
		}
	case actionTask:
		if _, err := a.api.OpenViewContext(ctx, cb.TriggerID, taskView(r)); err != nil {
			a.log.Error("slack: cannot open the task form", "error", err)
		}
	}
}

// onSubmit checks a modal's input and sends the Update in the background.
func (a *App) onSubmit(cb slack.InteractionCallback, r ref) any {
	if cb.View.State == nil {
		return slack.NewErrorsViewSubmissionResponse(map[string]string{firstBlock(cb.View.CallbackID): "The form arrived without its fields; open it again."})
	}
	values := cb.View.State.Values
	input := func(block string) string { return strings.TrimSpace(values[block][block].Value) }
	entry, ok := a.approverEntry(r.Department, cb.User.ID)
	if !ok {
		return slack.NewErrorsViewSubmissionResponse(map[string]string{firstBlock(cb.View.CallbackID): "You are not an approver for " + r.Department + "."})
	}
	via := "slack:" + cb.User.ID
	switch cb.View.CallbackID {
	case actionObject:
		basis := input("basis")
		if basis == "" {
			return slack.NewErrorsViewSubmissionResponse(map[string]string{"basis": "Give the legal basis for keeping the data, e.g. tax law keeps invoices for 10 years."})
		}
		go a.decide(r, cb.User.ID, workflows.Decision{Department: r.Department, Decision: "object", LegalBasis: basis, Approver: entry, Via: via})
	case actionTask:
		outcome := values["outcome"]["outcome"].SelectedOption.Value
		records, err := strconv.ParseInt(input("records"), 10, 64)
		errs := map[string]string{}
		if err != nil || records < 0 {
			errs["records"] = "A whole number of records, 0 or more."
		}
		if input("note") == "" {
			errs["note"] = "Say what was done."
		}
		if outcome == "kept" && input("basis") == "" {
			errs["basis"] = "Kept data needs the legal basis for keeping it."
		}
		if len(errs) > 0 {
			return slack.NewErrorsViewSubmissionResponse(errs)
		}
		go a.complete(r, cb.User.ID, workflows.TaskCompletion{System: r.System, Outcome: outcome, Records: records, Note: input("note"),
			Basis: input("basis"), Approver: entry, Via: via})
	}
	return nil
}

func firstBlock(callbackID string) string {
	if callbackID == actionTask {
		return "note"
	}
	return "basis"
}

// decide sends the decision as the workflow's Update; the workflow then
// has the message updated. A refusal (second decision, request closed) is
// told to the clicker alone.
func (a *App) decide(r ref, user string, d workflows.Decision) {
	ctx, cancel := context.WithTimeout(clicked(d.Approver, user), time.Minute)
	defer cancel()
	a.report(r, user, requests.Decide(ctx, a.temporal, r.Request, d))
}

func (a *App) complete(r ref, user string, t workflows.TaskCompletion) {
	ctx, cancel := context.WithTimeout(clicked(t.Approver, user), time.Minute)
	defer cancel()
	a.report(r, user, requests.CompleteTask(ctx, a.temporal, r.Request, t))
}

// clicked signs a change as the approver (as the data map lists them)
// whom Slack's signed payload named by user id.
func clicked(approver, user string) context.Context {
	return claims.As(context.Background(), claims.Actor{Name: approver, Role: claims.RoleApprover, Channel: "slack:" + user})
}

func (a *App) report(r ref, user string, err error) {
	switch {
	case err == nil:
		return
	case errors.Is(err, requests.ErrRefused), errors.Is(err, requests.ErrNotFound):
		// The validator's reason, without the client's prefixes.
		msg := err.Error()
		if _, reason, ok := strings.Cut(msg, requests.ErrRefused.Error()+": "); ok {
			msg = reason
		}
		a.tell(r, user, "Not recorded: "+msg+".")
	default:
		a.log.Error("slack: decision not recorded", "request", r.Request, "error", err)
		a.tell(r, user, "Not recorded: the engine could not be reached. Try again, or decide with starter.")
	}
}

// tell sends an ephemeral message to one user where they clicked.
func (a *App) tell(r ref, user, text string) {
	if r.Channel == "" {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := a.api.PostEphemeralContext(ctx, r.Channel, user, slack.MsgOptionText(text, false)); err != nil {
		a.log.Error("slack: cannot answer a click", "error", err)
	}
}

func objectionView(r ref) slack.ModalViewRequest {
	basis := slack.NewPlainTextInputBlockElement(plain("e.g. tax law keeps invoices for 10 years"), "basis")
	basis.Multiline = true
	return slack.ModalViewRequest{
		Type: slack.VTModal, CallbackID: actionObject, PrivateMetadata: r.String(),
		Title: plain("Object"), Submit: plain("Object"), Close: plain("Cancel"),
		Blocks: slack.Blocks{BlockSet: []slack.Block{
			slack.NewSectionBlock(md(fmt.Sprintf("%s keeps the subject's data in its systems for request *%s*. The subject is told what is kept and why.", r.Department, r.Request)), nil, nil),
			slack.NewInputBlock("basis", plain("Legal basis for keeping the data"), nil, basis),
		}},
	}
}

func taskView(r ref) slack.ModalViewRequest {
	options := []*slack.OptionBlockObject{
		slack.NewOptionBlockObject("done", plain("Done as instructed"), nil),
		slack.NewOptionBlockObject("not_held", plain("Nothing held there"), nil),
		slack.NewOptionBlockObject("kept", plain("Kept under a legal obligation (erasure)"), nil),
	}
	outcome := slack.NewOptionsSelectBlockElement(slack.OptTypeStatic, plain("Outcome"), "outcome", options...)
	outcome.InitialOption = options[0]
	note := slack.NewPlainTextInputBlockElement(plain("e.g. 2 signed forms shredded"), "note")
	note.Multiline = true
	basis := slack.NewInputBlock("basis", plain("Legal basis (if kept)"), nil, slack.NewPlainTextInputBlockElement(nil, "basis"))
	basis.Optional = true
	return slack.ModalViewRequest{
		Type: slack.VTModal, CallbackID: actionTask, PrivateMetadata: r.String(),
		Title: plain("Confirm task"), Submit: plain("Confirm"), Close: plain("Cancel"),
		Blocks: slack.Blocks{BlockSet: []slack.Block{
			slack.NewSectionBlock(md(fmt.Sprintf("Manual task in `%s` for request *%s*.", r.System, r.Request)), nil, nil),
			slack.NewInputBlock("outcome", plain("Outcome"), nil, outcome),
			slack.NewInputBlock("records", plain("Records handled"), nil, slack.NewPlainTextInputBlockElement(plain("0"), "records")),
			slack.NewInputBlock("note", plain("What was done"), nil, note),
			basis,
		}},
	}
}
