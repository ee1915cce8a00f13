package mail

import (
	"bytes"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net"
	"net/mail"
	"strings"
	"sync"
	"time"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"
)

// Received is a message the sink took in.
type Received struct {
	ID        int       `json:"id"`
	At        time.Time `json:"at"`
	From      string    `json:"from"`
	To        []string  `json:"to"`
	Subject   string    `json:"subject"`
	MessageID string    `json:"message_id"`
	Lang      string    `json:"lang,omitempty"`
	Text      string    `json:"text"`
	HTML      string    `json:"html,omitempty"`
}

// Sink is an SMTP server that keeps what it receives in memory, the last
// Keep messages: dev mode delivers the subjects' notices to it and shows
// them in the console, and the tests read the codes from it. It is a real
// SMTP server, so the engine's sending path is the production one.
type Sink struct {
	// Keep bounds the messages kept (default 500).
	Keep int
	// Username and Password, when set, are required (AUTH PLAIN), and TLS,
	// when set, is offered with STARTTLS: the tests check the production
	// client's handshake with them.
	Username, Password string
	TLS                *tls.Config

	srv      *smtp.Server
	ln       net.Listener
	mu       sync.Mutex
	reject   string
	rejected int
	msgs     []Received
	next     int
	notify   chan struct{}
}

// Start listens on addr ("127.0.0.1:0" for any free port) and serves until
// Close.
func (s *Sink) Start(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("mail sink: listen on %s: %w", addr, err)
	}
	s.ln = ln
	s.notify = make(chan struct{})
	s.srv = smtp.NewServer(smtp.BackendFunc(func(*smtp.Conn) (smtp.Session, error) { return &session{sink: s}, nil }))
	s.srv.Domain = "localhost"
	s.srv.TLSConfig = s.TLS
	s.srv.AllowInsecureAuth = s.TLS == nil
	s.srv.MaxMessageBytes = 10 << 20
	s.srv.ReadTimeout, s.srv.WriteTimeout = time.Minute, time.Minute
	go s.srv.Serve(ln)
	return nil
}

// Addr is where the sink listens.
func (s *Sink) Addr() string { return s.ln.Addr().String() }

// Close stops the sink.
func (s *Sink) Close() error { return s.srv.Close() }

// Reject makes the sink refuse a recipient for good (550), echoing the
// address as real servers do.
func (s *Sink) Reject(to string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.reject = to
}

func (s *Sink) rejects(to string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.reject != "" && s.reject == to {
		s.rejected++
		return true
	}
	return false
}

// Rejected counts the recipients refused.
func (s *Sink) Rejected() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.rejected
}

// Messages returns the messages kept, oldest first.
func (s *Sink) Messages() []Received {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]Received(nil), s.msgs...)
}

// Wait returns a channel closed when the next message arrives: a test
// waits for exactly the message it reads.
func (s *Sink) Wait() <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.notify
}

func (s *Sink) add(r Received) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.next++
	r.ID = s.next
	keep := s.Keep
	if keep <= 0 {
		keep = 500
	}
	s.msgs = append(s.msgs, r)
	if len(s.msgs) > keep {
		s.msgs = s.msgs[len(s.msgs)-keep:]
	}
	close(s.notify)
	s.notify = make(chan struct{})
}

type session struct {
	sink   *Sink
	authed bool
	from   string
	to     []string
}

func (x *session) AuthMechanisms() []string {
	if x.sink.Username == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (x *session) Auth(mech string) (sasl.Server, error) {
	return sasl.NewPlainServer(func(identity, username, password string) error {
		if username != x.sink.Username || password != x.sink.Password {
			return errors.New("invalid username or password")
		}
		x.authed = true
		return nil
	}), nil
}

func (x *session) Mail(from string, _ *smtp.MailOptions) error {
	if x.sink.Username != "" && !x.authed {
		return smtp.ErrAuthRequired
	}
	x.from = from
	return nil
}

func (x *session) Rcpt(to string, _ *smtp.RcptOptions) error {
	if x.sink.rejects(to) {
		return &smtp.SMTPError{Code: 550, EnhancedCode: smtp.EnhancedCode{5, 1, 1}, Message: "<" + to + ">: recipient address rejected"}
	}
	x.to = append(x.to, to)
	return nil
}

func (x *session) Data(r io.Reader) error {
	m, err := mail.ReadMessage(r)
	if err != nil {
		return &smtp.SMTPError{Code: 554, Message: "not a message: " + err.Error()}
	}
	dec := new(mime.WordDecoder)
	subject, err := dec.DecodeHeader(m.Header.Get("Subject"))
	if err != nil {
		subject = m.Header.Get("Subject")
	}
	got := Received{At: time.Now().UTC(), From: x.from, To: x.to, Subject: subject, MessageID: m.Header.Get("Message-ID"),
		Lang: m.Header.Get("Content-Language")}
	if err := readBody(m.Header, m.Body, &got); err != nil {
		return &smtp.SMTPError{Code: 554, Message: "unreadable body: " + err.Error()}
	}
	x.sink.add(got)
	return nil
}

func (x *session) Reset()        { x.from, x.to = "", nil }
func (x *session) Logout() error { return nil }

// header is what readBody needs of a message's or a part's header.
type header interface{ Get(string) string }

// readBody takes the plain text and HTML out of a message, through
// multipart/alternative (and mixed) parts and their transfer encodings.
func readBody(h header, body io.Reader, out *Received) error {
	mediaType, params, err := mime.ParseMediaType(h.Get("Content-Type"))
	if err != nil {
		mediaType = "text/plain"
	}
	if strings.HasPrefix(mediaType, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextPart()
			if errors.Is(err, io.EOF) {
				return nil
			}
			if err != nil {
				return err
			}
			if err := readBody(p.Header, p, out); err != nil {
				return err
			}
		}
	}
	var r io.Reader = body
	switch strings.ToLower(h.Get("Content-Transfer-Encoding")) {
	case "quoted-printable":
		r = quotedprintable.NewReader(body)
	case "base64":
		r = base64.NewDecoder(base64.StdEncoding, body) // it skips the line breaks
	}
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	switch mediaType {
	case "text/html":
		out.HTML = string(b)
	case "text/plain":
		out.Text = string(bytes.ReplaceAll(b, []byte("\r\n"), []byte("\n")))
	}
	return nil
}
