package mail

import (
	"context"
	"errors"
	"fmt"
	"log/slog"

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
	Log     *slog.Logger
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
	to, err := x.Store.Contact(ctx, x.Keys, n.RequestID)
	if errors.Is(err, records.ErrNotFound) {
		x.Log.Warn("no e-mail address for the subject: the notice stays in the inbox", "request", n.RequestID, "kind", n.Kind)
		return nil
	}
	if err != nil {
		return err
	}
	r, err := x.Store.GetRequest(ctx, n.RequestID)
	if err != nil {
		return err
	}
	due := r.DueAt
	if r.ExtendedDueAt != nil {
		due = *r.ExtendedDueAt
	}
	m, err := x.Templates.Render(x.Lang, Data{RequestID: n.RequestID, Kind: n.Kind, Type: string(r.Type), Regulation: string(r.Regulation),
		ReceivedAt: r.ReceivedAt, DueAt: due, Text: n.Text, Company: x.Company}, to)
	if err != nil {
		return err
	}
	m.Key = key
	if err := x.Sender.Send(ctx, m); err != nil {
		return fmt.Errorf("e-mail %s notice: %w", n.Kind, err)
	}
	return x.Store.MarkMailSent(ctx, key, n.RequestID, n.Kind)
}

// SendCode e-mails a one-time code to the address a request was made with.
// The code is in the message only: never in a notice, the inbox, a log or
// a history.
func (x *Notifier) SendCode(ctx context.Context, requestID, code string) error {
	to, err := x.Store.Contact(ctx, x.Keys, requestID)
	if err != nil {
		return err
	}
	r, err := x.Store.GetRequest(ctx, requestID)
	if err != nil {
		return err
	}
	m, err := x.Templates.Render(x.Lang, Data{RequestID: requestID, Kind: "verification-code", Type: string(r.Type), Regulation: string(r.Regulation),
		ReceivedAt: r.ReceivedAt, DueAt: r.DueAt, Code: code, Company: x.Company}, to)
	if err != nil {
		return err
	}
	m.Key = "verification-code/" + uuid.NewString()
	if err := x.Sender.Send(ctx, m); err != nil {
		return fmt.Errorf("e-mail the verification code: %w", err)
	}
	return x.Store.MarkMailSent(ctx, m.Key, requestID, "verification-code")
}
