package store

import (
	"context"
	"fmt"
	"time"

	"github.com/dsrengine/dsr/records"
)

// AddToInbox files a notice; the same SentKey again (a retried delivery)
// files nothing.
func (s *Store) AddToInbox(ctx context.Context, e records.InboxEntry) error {
	_, err := s.db.ExecContext(ctx, s.db.Rebind(`INSERT INTO inbox (request_id, recipient, kind, text, sent_key, sent_at)
		VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (sent_key) DO NOTHING`), e.RequestID, e.Recipient, e.Kind, e.Text, e.SentKey, now())
	if err != nil {
		return fmt.Errorf("inbox: %w", err)
	}
	return nil
}

// Inbox lists the latest notices to a recipient, newest first; "" is all.
func (s *Store) Inbox(ctx context.Context, recipient string, limit int) ([]records.InboxEntry, error) {
	var out []records.InboxEntry
	err := s.db.SelectContext(ctx, &out, s.db.Rebind(`SELECT id, request_id, recipient, kind, text, sent_key, sent_at FROM inbox
		WHERE ? = '' OR recipient = ? ORDER BY id DESC LIMIT ?`), recipient, recipient, limit)
	return out, err
}

// SlackMessage is a message the engine posted in Slack about a request.
type SlackMessage struct {
	RequestID string `db:"request_id"`
	Recipient string `db:"recipient"` // department, "compliance" ...
	Kind      string `db:"kind"`      // signoff, task ...
	// Subject is what the message is about within the request: the
	// department for a sign-off, the system for a task.
	Subject  string    `db:"subject"`
	Channel  string    `db:"channel"`
	TS       string    `db:"ts"`
	SentKey  string    `db:"sent_key"`
	PostedAt time.Time `db:"posted_at"`
}

// SaveSlackMessage remembers a posted message.
func (s *Store) SaveSlackMessage(ctx context.Context, m SlackMessage) error {
	_, err := s.db.ExecContext(ctx, s.db.Rebind(`INSERT INTO slack_messages (request_id, recipient, kind, subject, channel, ts, sent_key, posted_at)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (channel, ts) DO NOTHING`), m.RequestID, m.Recipient, m.Kind, m.Subject, m.Channel, m.TS, m.SentKey, now())
	if err != nil {
		return fmt.Errorf("slack message: %w", err)
	}
	return nil
}

// SlackMessages lists a request's messages of a kind to a recipient, or
// all kinds with kind "", oldest first.
func (s *Store) SlackMessages(ctx context.Context, requestID, recipient, kind string) ([]SlackMessage, error) {
	var out []SlackMessage
	err := s.db.SelectContext(ctx, &out, s.db.Rebind(`SELECT request_id, recipient, kind, subject, channel, ts, sent_key, posted_at
		FROM slack_messages WHERE request_id = ? AND recipient = ? AND (? = '' OR kind = ?) ORDER BY posted_at, ts`), requestID, recipient, kind, kind)
	return out, err
}

// SlackMessagesSent lists the messages a delivery (by its key) posted.
func (s *Store) SlackMessagesSent(ctx context.Context, sentKey string) ([]SlackMessage, error) {
	var out []SlackMessage
	err := s.db.SelectContext(ctx, &out, s.db.Rebind(`SELECT request_id, recipient, kind, subject, channel, ts, sent_key, posted_at
		FROM slack_messages WHERE sent_key = ? ORDER BY posted_at, ts`), sentKey)
	return out, err
}

// FirstSighting records a Slack payload's signature and says whether it
// is new. Slack refuses to sign with a timestamp older than five minutes,
// so signatures older than an hour are forgotten.
func (s *Store) FirstSighting(ctx context.Context, signature string) (bool, error) {
	if _, err := s.db.ExecContext(ctx, s.db.Rebind(`DELETE FROM slack_seen WHERE seen_at < ?`), now().Add(-time.Hour)); err != nil {
		return false, fmt.Errorf("slack replay check: %w", err)
	}
	r, err := s.db.ExecContext(ctx, s.db.Rebind(`INSERT INTO slack_seen (signature, seen_at) VALUES (?, ?) ON CONFLICT (signature) DO NOTHING`), signature, now())
	if err != nil {
		return false, fmt.Errorf("slack replay check: %w", err)
	}
	n, err := r.RowsAffected()
	return n == 1, err
}
