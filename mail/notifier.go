package mail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"strings"

	"github.com/google/uuid"

	"github.com/dsrengine/dsr/activities"
	"github.com/dsrengine/dsr/records"
)

// Store is what the notifier reads and records (*store.Store).
type Store interface {
	Contact(ctx context.Context, keys records.Sealer, requestID string) (string, error)
	GetRequest(ctx context.Context, id string) (records.Request, error)
	MailSent(ctx context.Context, key string) (bool, error)
	MarkMailSent(ctx context.Context, key, requestID, kind string) error
}

// Sender delivers a message (*SMTP).
type Sender interface {
	Send(ctx context.Context, m Message) error
}

// Notifier e-mails the subject's notices to the address their request was
// made with. Notices to staff are not its business: they go to the inbox
// and Slack.
type Notifier struct {
	Store     Store
	Keys      records.Sealer
	Sender    Sender
	Templates *Templates
	// Lang is the language notices are written in; Company signs them.
	Lang    string
	Company string
	// Portal is the privacy center's address (the gateway's public URL):
	// notices link to the page where the subject follows the request.
	Portal string
	Log    *slog.Logger
}

// portalLink is where the subject follows a request and downloads its
// answer, after a code sent to their address.
func (x *Notifier) portalLink(requestID string) string {
	if x.Portal == "" {
		return ""
	}
	return strings.TrimSuffix(x.Portal, "/") + "/privacy/status?request=" + url.QueryEscape(requestID)
}

// Notify sends n when it is the subject's. A delivery the server accepted
// is recorded under its key, so a retry sends nothing twice; a crash
// between the server's acceptance and the record sends it again, with the
// same Message-ID. A request made without an e-mail address has nothing
// to send to: its notices stay in the inbox, and the log says so.
func (x *Notifier) Notify(ctx context.Context, n activities.Notice) error {
	if n.To != "subject" {
		return nil
	}
	key := n.Key
	if key == "" {
		key = uuid.NewString()
	}
	if sent, err := x.Store.MailSent(ctx, key); err != nil || sent {
		return err
	}
	err := x.deliver(ctx, Data{RequestID: n.RequestID, Kind: n.Kind, Text: n.Text}, key)
	if errors.Is(err, errNoAddress) {
		x.Log.Warn("no e-mail address for the subject: the notice stays in the inbox", "request", n.RequestID, "kind", n.Kind)
		return nil
	}
	return err
}

// SendCode e-mails a one-time code to the address a request was made with.
// The code is in the message only: never in a notice, the inbox, a log or
// a history.
func (x *Notifier) SendCode(ctx context.Context, requestID, code string) error {
	return x.deliver(ctx, Data{RequestID: requestID, Kind: "verification-code", Code: code}, "verification-code/"+uuid.NewString())
}

// errNoAddress is a request made without an e-mail address.
var errNoAddress = errors.New("no e-mail address")

// deliver renders d, completed with its request's facts, to the address
// the request was made with, sends it and records the delivery under key.
func (x *Notifier) deliver(ctx context.Context, d Data, key string) error {
	to, err := x.Store.Contact(ctx, x.Keys, d.RequestID)
	if errors.Is(err, records.ErrNotFound) {
		return fmt.Errorf("%s: %w", d.RequestID, errNoAddress)
	}
	if err != nil {
		return err
	}
	r, err := x.Store.GetRequest(ctx, d.RequestID)
	if err != nil {
		return err
	}
	d.Type, d.Regulation, d.ReceivedAt, d.DueAt, d.Company = string(r.Type), string(r.Regulation), r.ReceivedAt, r.DueAt, x.Company
	d.Link = x.portalLink(d.RequestID)
	if r.ExtendedDueAt != nil {
		d.DueAt = *r.ExtendedDueAt
	}
	m, err := x.Templates.Render(x.Lang, d, to)
	if err != nil {
		return err
	}
	m.Key = key
	if err := x.Sender.Send(ctx, m); err != nil {
		return fmt.Errorf("e-mail the %s notice: %w", d.Kind, err)
	}
	return x.Store.MarkMailSent(ctx, key, d.RequestID, d.Kind)
}
