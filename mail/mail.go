// Package mail sends the notices a data subject receives by e-mail: it
// renders them from per-language templates, in plain text and HTML, and
// delivers them over SMTP. Sink is the in-process SMTP server dev mode and
// the tests deliver to, so the whole loop runs without a mail server.
package mail

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"os"
	"strconv"
	"strings"
	"time"

	gomail "github.com/wneessen/go-mail"
)

// Message is one e-mail to one recipient.
type Message struct {
	To      string
	Subject string
	Text    string
	HTML    string
	// Lang is the language the message is written in (Content-Language).
	Lang string
	// Key names one delivery across its retries; the Message-ID derives
	// from it, so a message sent again after a crash is recognisably the
	// same message to the recipient's mail client.
	Key string
}

// Settings say how to reach the SMTP server.
type Settings struct {
	Host     string
	Port     int
	Username string
	Password string
	// From is the sender address, e.g. "Acme Privacy <privacy@acme.example>".
	From string
	// TLS is "starttls" (the default: port 587, upgrade required), "tls"
	// (implicit TLS, port 465) or "none" (loopback only: the dev sink).
	TLS string
	// ServerName overrides the name the server's certificate is checked
	// against; RootCAs, when set, replace the system's roots (tests).
	ServerName string
	RootCAs    *x509.CertPool
}

// Config is the e-mail part of the worker's settings.
type Config struct {
	SMTP Settings
	// Lang is the language of the notices (DSR_MAIL_LANG, default en);
	// Templates a folder of templates per language (DSR_MAIL_TEMPLATES),
	// over the built-in ones.
	Lang      string
	Templates string
}

// FromEnv reads DSR_SMTP_HOST, DSR_SMTP_PORT, DSR_SMTP_USERNAME,
// DSR_SMTP_PASSWORD, DSR_SMTP_FROM, DSR_SMTP_TLS, DSR_MAIL_LANG and
// DSR_MAIL_TEMPLATES. With no host, it returns ok false: the worker then
// sends no e-mail. Every problem is named with its variable.
func FromEnv(getenv func(string) string) (c Config, ok bool, err error) {
	s := Settings{Host: getenv("DSR_SMTP_HOST"), Username: getenv("DSR_SMTP_USERNAME"), Password: getenv("DSR_SMTP_PASSWORD"),
		From: getenv("DSR_SMTP_FROM"), TLS: getenv("DSR_SMTP_TLS")}
	c = Config{SMTP: s, Lang: getenv("DSR_MAIL_LANG"), Templates: getenv("DSR_MAIL_TEMPLATES")}
	if c.Lang == "" {
		c.Lang = "en"
	}
	if s.Host == "" {
		for _, k := range []string{"DSR_SMTP_PORT", "DSR_SMTP_USERNAME", "DSR_SMTP_PASSWORD", "DSR_SMTP_FROM", "DSR_SMTP_TLS", "DSR_MAIL_LANG", "DSR_MAIL_TEMPLATES"} {
			if getenv(k) != "" {
				return c, false, fmt.Errorf("%s is set but DSR_SMTP_HOST is not: set the SMTP server's host too", k)
			}
		}
		return c, false, nil
	}
	var errs []error
	if p := getenv("DSR_SMTP_PORT"); p != "" {
		n, perr := strconv.Atoi(p)
		if perr != nil || n < 1 || n > 65535 {
			errs = append(errs, fmt.Errorf("DSR_SMTP_PORT: %q is not a port number", p))
		}
		c.SMTP.Port = n
	}
	errs = append(errs, c.SMTP.Validate())
	if c.Templates != "" {
		if _, err := LoadTemplates(os.DirFS(c.Templates), c.Lang); err != nil {
			errs = append(errs, fmt.Errorf("DSR_MAIL_TEMPLATES (%s): %w", c.Templates, err))
		}
	} else if _, err := LoadTemplates(nil, c.Lang); err != nil {
		errs = append(errs, fmt.Errorf("DSR_MAIL_LANG: %w", err))
	}
	return c, true, errors.Join(errs...)
}

// Company is the sender's display name, which signs the notices: "Acme
// Privacy" for "Acme Privacy <privacy@acme.example>".
func (s Settings) Company() string {
	a, err := mail.ParseAddress(s.From)
	if err != nil || a.Name == "" {
		return "Privacy team"
	}
	return a.Name
}

// Validate names every setting that is wrong.
func (s *Settings) Validate() error {
	var errs []error
	if s.Host == "" {
		errs = append(errs, errors.New("DSR_SMTP_HOST: required"))
	}
	switch s.TLS {
	case "":
		s.TLS = "starttls"
	case "starttls", "tls":
	case "none":
		if !loopback(s.Host) {
			errs = append(errs, fmt.Errorf("DSR_SMTP_TLS: none is allowed only for a server on this machine, not %s: notices carry links and codes", s.Host))
		}
	default:
		errs = append(errs, fmt.Errorf("DSR_SMTP_TLS: %q is not starttls, tls or none", s.TLS))
	}
	if s.Port == 0 {
		s.Port = map[string]int{"starttls": 587, "tls": 465, "none": 25}[s.TLS]
	}
	if s.From == "" {
		errs = append(errs, errors.New("DSR_SMTP_FROM: required, e.g. \"Acme Privacy <privacy@acme.example>\""))
	} else if _, err := mail.ParseAddress(s.From); err != nil {
		errs = append(errs, fmt.Errorf("DSR_SMTP_FROM: %q is not an address: %v", s.From, err))
	}
	if (s.Username == "") != (s.Password == "") {
		errs = append(errs, errors.New("DSR_SMTP_USERNAME and DSR_SMTP_PASSWORD: give both or neither"))
	}
	return errors.Join(errs...)
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// SMTP sends messages through an SMTP server, one connection per message:
// notices are few, and a connection held open would only time out.
type SMTP struct {
	s Settings
}

// NewSMTP checks the settings and returns the sender.
func NewSMTP(s Settings) (*SMTP, error) {
	if err := s.Validate(); err != nil {
		return nil, err
	}
	return &SMTP{s: s}, nil
}

// Send delivers m. The error names the server and says whether the server
// refused the message for good (a 5xx answer), which no retry will change.
func (c *SMTP) Send(ctx context.Context, m Message) error {
	msg := gomail.NewMsg()
	if err := msg.From(c.s.From); err != nil {
		return fmt.Errorf("mail from: %w", err)
	}
	if err := msg.To(m.To); err != nil {
		return &RefusedError{Err: redact(fmt.Errorf("the recipient's address is not valid: %w", err), m.To)}
	}
	msg.Subject(m.Subject)
	msg.SetDate()
	if m.Key != "" {
		sum := sha256.Sum256([]byte(m.Key))
		msg.SetMessageIDWithValue(hex.EncodeToString(sum[:16]) + "@dsr")
	} else {
		msg.SetMessageID()
	}
	if m.Lang != "" {
		msg.SetGenHeader(gomail.HeaderContentLang, m.Lang)
	}
	// Automated notices: no out-of-office replies (RFC 3834).
	msg.SetGenHeader("Auto-Submitted", "auto-generated")
	msg.SetBodyString(gomail.TypeTextPlain, m.Text)
	if m.HTML != "" {
		msg.AddAlternativeString(gomail.TypeTextHTML, m.HTML)
	}
	opts := []gomail.Option{gomail.WithPort(c.s.Port), gomail.WithTimeout(30 * time.Second)}
	tlsConfig := &tls.Config{ServerName: c.s.Host, MinVersion: tls.VersionTLS12}
	if c.s.ServerName != "" {
		tlsConfig.ServerName = c.s.ServerName
	}
	if c.s.RootCAs != nil {
		tlsConfig.RootCAs = c.s.RootCAs
	}
	switch c.s.TLS {
	case "tls":
		opts = append(opts, gomail.WithSSL(), gomail.WithTLSConfig(tlsConfig))
	case "none":
		opts = append(opts, gomail.WithTLSPolicy(gomail.NoTLS))
	default:
		opts = append(opts, gomail.WithTLSPolicy(gomail.TLSMandatory), gomail.WithTLSConfig(tlsConfig))
	}
	if c.s.Username != "" {
		opts = append(opts, gomail.WithSMTPAuth(gomail.SMTPAuthAutoDiscover), gomail.WithUsername(c.s.Username), gomail.WithPassword(c.s.Password))
	}
	client, err := gomail.NewClient(c.s.Host, opts...)
	if err != nil {
		return fmt.Errorf("smtp %s:%d: %w", c.s.Host, c.s.Port, err)
	}
	if err := client.DialAndSendWithContext(ctx, msg); err != nil {
		var se *gomail.SendError
		refused := errors.As(err, &se) && !se.IsTemp() && permanent(se)
		err = redact(fmt.Errorf("smtp %s:%d: %w", c.s.Host, c.s.Port, err), m.To)
		if refused {
			return &RefusedError{Err: err}
		}
		return err
	}
	return nil
}

// redact takes the recipient's address out of an error: go-mail lists the
// affected recipients, and servers echo the address they reject, while
// errors end up in logs and workflow histories, which hold no personal
// data.
func redact(err error, to string) error {
	msg := err.Error()
	if to != "" {
		msg = strings.ReplaceAll(msg, to, "<the subject's address>")
	}
	return errors.New(msg)
}

// permanent tells a 5xx answer from a connection that failed.
func permanent(se *gomail.SendError) bool {
	return se.ErrorCode() >= 500 && se.ErrorCode() < 600
}

// RefusedError is a message the server or the address refused for good.
type RefusedError struct{ Err error }

func (e *RefusedError) Error() string { return "refused: " + e.Err.Error() }
func (e *RefusedError) Unwrap() error { return e.Err }

// Permanent says no retry will deliver it (the notice activity reads this).
func (e *RefusedError) Permanent() bool { return true }
