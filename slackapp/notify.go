package slackapp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/slack-go/slack"

	"github.com/dsrengine/dsr/activities"
	"github.com/dsrengine/dsr/connectors"
	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/store"
)

// Action ids of the buttons and modals.
const (
	actionApprove = "dsr_approve"
	actionObject  = "dsr_object"
	actionTask    = "dsr_task"
)

// ref is what a button carries: which request, department and system.
type ref struct {
	Request    string `json:"r"`
	Department string `json:"d"`
	System     string `json:"s,omitempty"`
	// Channel and TS of the message, carried by modals.
	Channel string `json:"c,omitempty"`
	TS      string `json:"t,omitempty"`
}

func (r ref) String() string {
	b, _ := json.Marshal(r)
	return string(b)
}

// Notify delivers a notice in Slack. Subjects are not in Slack, and
// recipients without a channel are left to the other notifiers. A retry
// of a delivery that already posted (same Key) posts nothing again.
func (a *App) Notify(ctx context.Context, n activities.Notice) error {
	if n.Facts == nil {
		switch n.Kind {
		case "signoff-decided", "task-done":
			return nil // no outcome to show
		case "task":
			return a.reply(ctx, n) // no task to lay out: the words alone
		}
	}
	switch n.Kind {
	case "signoff-decided":
		return a.updateMessages(ctx, n, "signoff", n.To)
	case "task-done":
		return a.updateMessages(ctx, n, "task", n.Facts.System)
	}
	switch n.To {
	case "subject":
		return nil
	case "compliance", "compliance-lead":
		return a.toCompliance(ctx, n)
	}
	switch n.Kind {
	case "signoff", "task":
		return a.postToDepartment(ctx, n)
	}
	return a.reply(ctx, n)
}

// postToDepartment posts a sign-off request or a task with its buttons.
func (a *App) postToDepartment(ctx context.Context, n activities.Notice) error {
	subject, blocks := n.To, a.signOffBlocks(n, true)
	if n.Kind == "task" {
		subject, blocks = n.Facts.System, a.taskBlocks(n, true)
	}
	targets := a.targets(n.To)
	if len(targets) == 0 {
		return fmt.Errorf("slack: department %s has no channel and no approver Slack knows", n.To)
	}
	for _, target := range targets {
		if err := a.post(ctx, n, target, subject, slack.MsgOptionText(n.Text, false), slack.MsgOptionBlocks(blocks...)); err != nil {
			return err
		}
	}
	return nil
}

// post sends one message and remembers it, unless this delivery already
// posted it to target: a retry after a partial failure posts only what is
// missing. (A crash between Slack's answer and the store write can still
// post twice; Slack has no idempotency key for messages.)
func (a *App) post(ctx context.Context, n activities.Notice, target, subject string, opts ...slack.MsgOption) error {
	key := n.Key + "|" + target
	if n.Key != "" {
		if sent, err := a.store.SlackMessagesSent(ctx, key); err != nil || len(sent) > 0 {
			return err
		}
	}
	channel, ts, err := a.api.PostMessageContext(ctx, target, opts...)
	if err != nil {
		return slackError("post to "+target, err)
	}
	return a.store.SaveSlackMessage(ctx, store.SlackMessage{RequestID: n.RequestID, Recipient: n.To, Kind: n.Kind, Subject: subject,
		Channel: channel, TS: ts, SentKey: key})
}

// reply threads a reminder, an escalation or any other notice under the
// department's messages on the request, or posts it where there are none.
func (a *App) reply(ctx context.Context, n activities.Notice) error {
	msgs, err := a.store.SlackMessages(ctx, n.RequestID, n.To, "")
	if err != nil {
		return err
	}
	threads := map[string]string{} // channel → first message
	for _, m := range msgs {
		if (m.Kind == "signoff" || m.Kind == "task") && threads[m.Channel] == "" {
			threads[m.Channel] = m.TS
		}
	}
	text := n.Text
	if n.Kind == "escalation" {
		text = ":rotating_light: " + text
	}
	if len(threads) == 0 {
		for _, t := range a.targets(n.To) {
			threads[t] = ""
		}
	}
	for channel, thread := range threads {
		opts := []slack.MsgOption{slack.MsgOptionText(text, false)}
		if thread != "" {
			opts = append(opts, slack.MsgOptionTS(thread))
		}
		if err := a.post(ctx, n, channel, n.To, opts...); err != nil {
			return err
		}
	}
	return nil
}

// toCompliance posts compliance's notices to its channel; an escalation
// to the lead mentions them.
func (a *App) toCompliance(ctx context.Context, n activities.Notice) error {
	channel := strings.TrimPrefix(a.cfg.ComplianceChannel, "#")
	text := n.Text
	if n.To == "compliance-lead" {
		if a.lead == "" {
			return nil // the compliance channel has the same escalation
		}
		text = fmt.Sprintf(":rotating_light: <@%s> %s", a.lead, n.Text)
	}
	if channel == "" {
		return nil
	}
	return a.post(ctx, n, channel, n.To, slack.MsgOptionText(text, false))
}

// updateMessages shows an outcome on the messages that asked for it, in
// place of their buttons; updating twice shows the same.
func (a *App) updateMessages(ctx context.Context, n activities.Notice, kind, subject string) error {
	msgs, err := a.store.SlackMessages(ctx, n.RequestID, n.To, kind)
	if err != nil {
		return err
	}
	for _, m := range msgs {
		if m.Subject != subject {
			continue
		}
		blocks := a.signOffBlocks(n, false)
		if kind == "task" {
			blocks = a.taskBlocks(n, false)
		}
		if _, _, _, err := a.api.UpdateMessageContext(ctx, m.Channel, m.TS, slack.MsgOptionText(n.Text, false), slack.MsgOptionBlocks(blocks...)); err != nil {
			return slackError("update message in "+m.Channel, err)
		}
	}
	return nil
}

// slackError hands a rate limit's Retry-After to the activity's retry.
func slackError(op string, err error) error {
	var limited *slack.RateLimitedError
	if errors.As(err, &limited) {
		return &connectors.RetryLaterError{After: limited.RetryAfter, Err: fmt.Errorf("slack: %s: %w", op, err)}
	}
	return fmt.Errorf("slack: %s: %w", op, err)
}

// escape makes free text (a legal basis someone typed, an actor's name)
// plain inside mrkdwn: Slack reads <!channel>, <@U…> and <url|label>
// only through '<', and escapes the three characters this way.
func escape(text string) string {
	return strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;").Replace(text)
}

func md(text string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.MarkdownType, text, false, false)
}

func plain(text string) *slack.TextBlockObject {
	return slack.NewTextBlockObject(slack.PlainTextType, text, false, false)
}

// facts are the fields every message shows: no more than the decision
// needs, and never the subject.
func (a *App) facts(n activities.Notice) []*slack.TextBlockObject {
	f := n.Facts
	if f == nil {
		return []*slack.TextBlockObject{md("*Request*\n" + n.RequestID)}
	}
	left := domain.DaysLeft(f.DueAt, a.now())
	due := fmt.Sprintf("%s (%d days left)", f.DueAt.Format("2 Jan 2006"), left)
	if left < 0 {
		due = fmt.Sprintf("%s (*overdue by %d days*)", f.DueAt.Format("2 Jan 2006"), -left)
	}
	return []*slack.TextBlockObject{
		md("*Request*\n" + n.RequestID), md("*Kind*\n" + strings.ReplaceAll(string(f.Type), "_", "-")),
		md("*Regulation*\n" + strings.ToUpper(strings.ReplaceAll(string(f.Regulation), "_", " "))), md("*Due*\n" + due),
	}
}

func (a *App) signOffBlocks(n activities.Notice, open bool) []slack.Block {
	var systems []string
	if n.Facts != nil {
		for _, s := range n.Facts.Systems {
			systems = append(systems, fmt.Sprintf("• `%s`: %d records", s.System, s.Records))
		}
	}
	blocks := []slack.Block{
		slack.NewHeaderBlock(plain(fmt.Sprintf("Sign-off needed from %s", n.To))),
		slack.NewSectionBlock(nil, a.facts(n), nil),
	}
	if len(systems) > 0 {
		blocks = append(blocks, slack.NewSectionBlock(md("*Your systems holding the subject's data*\n"+strings.Join(systems, "\n")), nil, nil))
	}
	if !open {
		return append(blocks, outcome(n))
	}
	value := ref{Request: n.RequestID, Department: n.To}.String()
	approve := slack.NewButtonBlockElement(actionApprove, value, plain("Approve"))
	approve.Style = slack.StylePrimary
	object := slack.NewButtonBlockElement(actionObject, value, plain("Object…"))
	object.Style = slack.StyleDanger
	return append(blocks,
		slack.NewContextBlock("", md("Approve to let the engine act on these systems; object to keep the data, with the legal basis for keeping it.")),
		slack.NewActionBlock("signoff", approve, object))
}

func (a *App) taskBlocks(n activities.Notice, open bool) []slack.Block {
	f := n.Facts
	blocks := []slack.Block{
		slack.NewHeaderBlock(plain(fmt.Sprintf("Manual task for %s", n.To))),
		slack.NewSectionBlock(nil, a.facts(n), nil),
		slack.NewSectionBlock(md(fmt.Sprintf("*System* `%s`\n*Where* %s\n*What to do* %s", f.System, escape(f.Location), escape(f.Instructions))), nil, nil),
		slack.NewContextBlock("", md(fmt.Sprintf("Whom it is about: `starter task %s --system %s`", n.RequestID, f.System))),
	}
	if !open {
		return append(blocks, outcome(n))
	}
	button := slack.NewButtonBlockElement(actionTask, ref{Request: n.RequestID, Department: n.To, System: f.System}.String(), plain("Confirm done…"))
	button.Style = slack.StylePrimary
	return append(blocks, slack.NewActionBlock("task", button))
}

// outcome replaces the buttons: the decision, who took it and when.
func outcome(n activities.Notice) slack.Block {
	f := n.Facts
	icon := map[string]string{"approve": ":white_check_mark: Approved", "object": ":raised_hand: Objected", "done": ":white_check_mark: Done",
		"not_held": ":white_check_mark: Nothing held there", "kept": ":raised_hand: Kept"}[f.Outcome]
	if icon == "" {
		icon = escape(f.Outcome)
	}
	text := fmt.Sprintf("%s by %s on %s UTC", icon, escape(f.Actor), f.At.UTC().Format("2 Jan 2006 15:04"))
	if f.Basis != "" {
		text += "\n*Legal basis:* " + escape(f.Basis)
	}
	return slack.NewSectionBlock(md(text), nil, nil)
}
