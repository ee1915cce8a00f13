package mail

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	netmail "net/mail"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
	"time"
)

func templates(t *testing.T) *Templates {
	t.Helper()
	tpl, err := LoadTemplates(nil, "en")
	if err != nil {
		t.Fatal(err)
	}
	return tpl
}

// TestEveryKindRenders renders each notice in text and HTML and checks
// what a subject must read in it: the request, the sentence, the deadline,
// and where a decision goes against them, whom to complain to.
func TestEveryKindRenders(t *testing.T) {
	tpl := templates(t)
	due := time.Date(2027, 1, 4, 0, 0, 0, 0, time.UTC)
	for _, tt := range []struct {
		kind, regulation string
		want             []string
	}{
		{"receipt", "gdpr", []string{"We received your access request", "4 January 2027", "Sentence."}},
		{"verification-code", "gdpr", []string{"Your code for request REQ-7: 123456", "123456", "30 minutes"}},
		{"extension", "uk_gdpr", []string{"We need more time", "4 January 2027", "Information Commissioner's Office"}},
		{"denial", "ccpa", []string{"We cannot act on your access request", "California Privacy Protection Agency", "Sentence."}},
		{"denial", "lgpd", []string{"ANPD"}},
		{"denial", "gdpr", []string{"Art. 77 GDPR"}},
		{"answer", "gdpr", []string{"is complete", "https://privacy.acme.example/r/abc", "Art. 77 GDPR"}},
		{"consent-confirmation", "gdpr", []string{"Please confirm", "withdraw your consent at any time"}},
		{"a-kind-of-the-future", "gdpr", []string{"About your access request", "Sentence."}},
	} {
		t.Run(tt.kind+"/"+tt.regulation, func(t *testing.T) {
			d := Data{RequestID: "REQ-7", Kind: tt.kind, Type: "access", Regulation: tt.regulation, DueAt: due, Text: "Sentence.",
				Link: "https://privacy.acme.example/r/abc", Code: "123456", Company: "Acme"}
			m, err := tpl.Render("en", d, "jane@example.com")
			if err != nil {
				t.Fatal(err)
			}
			all := m.Subject + "\n" + m.Text
			for _, w := range tt.want {
				if !strings.Contains(all, w) {
					t.Errorf("text lacks %q:\n%s", w, all)
				}
				if w != "Your code for request REQ-7: 123456" && !strings.Contains(m.HTML, htmlEscape(w)) {
					t.Errorf("HTML lacks %q:\n%s", w, m.HTML)
				}
			}
			if !strings.Contains(m.Text, "request REQ-7") || m.To != "jane@example.com" || m.Lang != "en" {
				t.Errorf("message: %+v", m)
			}
		})
	}
}

func htmlEscape(s string) string { return strings.NewReplacer("'", "&#39;", "&", "&amp;").Replace(s) }

// TestHostileTextIsEscapedInHTML: a reason typed by staff, or a
// purpose from the map, cannot inject markup into the HTML mail.
func TestHostileTextIsEscapedInHTML(t *testing.T) {
	m, err := templates(t).Render("en", Data{RequestID: "R", Kind: "denial", Type: "access", Regulation: "gdpr",
		Text: `<script>alert(1)</script><a href="https://evil.example">click</a>`}, "jane@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(m.HTML, "<script>") || strings.Contains(m.HTML, `<a href="https://evil.example">`) {
		t.Fatalf("markup reached the HTML:\n%s", m.HTML)
	}
}

// TestTemplatesOfAnotherLanguage adds a language from a folder, falls
// back to the default for a language there is none of, and names what is
// missing or broken in a language folder.
func TestTemplatesOfAnotherLanguage(t *testing.T) {
	fr := fstest.MapFS{}
	for _, k := range Kinds {
		fr["fr/"+k+".txt"] = &fstest.MapFile{Data: []byte("Subject: Votre demande {{.RequestID}}\n\nBonjour, échéance le {{date .DueAt}}.\n")}
		fr["fr/"+k+".html"] = &fstest.MapFile{Data: []byte("<p>Bonjour, demande {{.RequestID}}</p>")}
	}
	tpl, err := LoadTemplates(fr, "en")
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(tpl.Languages(), ","); got != "en,fr" {
		t.Fatalf("languages %s", got)
	}
	m, err := tpl.Render("fr", Data{RequestID: "R-1", Kind: "receipt", Type: "access", Regulation: "gdpr"}, "a@example.com")
	if err != nil || m.Subject != "Votre demande R-1" || m.Lang != "fr" {
		t.Fatalf("%+v %v", m, err)
	}
	if m, _ := tpl.Render("de", Data{RequestID: "R-1", Kind: "receipt", Type: "access", Regulation: "gdpr"}, "a@example.com"); m.Lang != "en" {
		t.Fatalf("no German templates, yet rendered in %q", m.Lang)
	}

	broken := fstest.MapFS{}
	for k, v := range fr {
		broken[k] = v
	}
	delete(broken, "fr/denial.html")
	broken["fr/receipt.txt"] = &fstest.MapFile{Data: []byte("Subject: {{.Nope}}\n")}
	_, err = LoadTemplates(broken, "en")
	if err == nil || !strings.Contains(err.Error(), "fr/denial.html: missing") {
		t.Fatalf("missing template not named: %v", err)
	}
	delete(broken, "fr/denial.txt")
	broken["fr/denial.html"], broken["fr/denial.txt"] = fr["fr/denial.html"], fr["fr/denial.txt"]
	_, err = LoadTemplates(broken, "en")
	if err == nil || !strings.Contains(err.Error(), "fr/receipt.txt") || !strings.Contains(err.Error(), "Nope") {
		t.Fatalf("broken template not named: %v", err)
	}
}

// TestSMTPThroughSTARTTLSAndAuth sends through the production client to a
// real SMTP server that demands STARTTLS and a password, and reads back
// both parts and the headers.
func TestSMTPThroughSTARTTLSAndAuth(t *testing.T) {
	cert, pool := certificate(t)
	sink := &Sink{Username: "engine", Password: "s3cret", TLS: &tls.Config{Certificates: []tls.Certificate{cert}}}
	if err := sink.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	host, port := split(t, sink.Addr())
	ctx := context.Background()
	m, err := templates(t).Render("en", Data{RequestID: "REQ-9", Kind: "verification-code", Type: "access", Regulation: "gdpr", Code: "482913", Company: "Acme"}, "jane@example.com")
	if err != nil {
		t.Fatal(err)
	}
	m.Key = "run/7"
	c, err := NewSMTP(Settings{Host: host, Port: port, Username: "engine", Password: "s3cret", From: "Acme Privacy <privacy@acme.example>",
		ServerName: "localhost", RootCAs: pool})
	if err != nil {
		t.Fatal(err)
	}
	arrived := sink.Wait()
	if err := c.Send(ctx, m); err != nil {
		t.Fatal(err)
	}
	<-arrived
	got := sink.Messages()
	if len(got) != 1 {
		t.Fatalf("%d messages", len(got))
	}
	r := got[0]
	if r.From != "privacy@acme.example" || strings.Join(r.To, ",") != "jane@example.com" || r.Subject != "Your code for request REQ-9: 482913" ||
		!strings.Contains(r.Text, "    482913") || !strings.Contains(r.HTML, "482913") || r.Lang != "en" || !strings.HasSuffix(r.MessageID, "@dsr>") {
		t.Fatalf("received %+v", r)
	}
	// The same delivery sent again carries the same Message-ID.
	again := sink.Wait()
	if err := c.Send(ctx, m); err != nil {
		t.Fatal(err)
	}
	<-again
	if got := sink.Messages(); got[1].MessageID != r.MessageID {
		t.Fatalf("Message-ID %s, then %s", r.MessageID, got[1].MessageID)
	}

	for _, tt := range []struct {
		name string
		s    Settings
		want string
	}{
		{"wrong password", Settings{Host: host, Port: port, Username: "engine", Password: "guess", From: "p@acme.example", ServerName: "localhost", RootCAs: pool}, "SMTP AUTH failed"},
		{"certificate not trusted", Settings{Host: host, Port: port, Username: "engine", Password: "s3cret", From: "p@acme.example", ServerName: "localhost"}, "certificate"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := NewSMTP(tt.s)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.Send(ctx, m); err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("sent anyway or the wrong error: %v", err)
			}
		})
	}
	if len(sink.Messages()) != 2 {
		t.Fatal("a refused connection delivered a message")
	}
}

// TestNoTLSOnlyToThisMachine: a server that offers no STARTTLS is refused
// unless "none" was chosen, which only a loopback server may be.
func TestNoTLSOnlyToThisMachine(t *testing.T) {
	sink := &Sink{}
	if err := sink.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	defer sink.Close()
	host, port := split(t, sink.Addr())
	m := Message{To: "jane@example.com", Subject: "s", Text: "t"}
	c, _ := NewSMTP(Settings{Host: host, Port: port, From: "p@acme.example"})
	if err := c.Send(context.Background(), m); err == nil {
		t.Fatal("sent in plain text to a server without STARTTLS")
	}
	c, _ = NewSMTP(Settings{Host: host, Port: port, From: "p@acme.example", TLS: "none"})
	if err := c.Send(context.Background(), m); err != nil {
		t.Fatal(err)
	}
	var refused *RefusedError
	err := c.Send(context.Background(), Message{To: "not an address", Subject: "s", Text: "t"})
	if !errors.As(err, &refused) {
		t.Fatalf("a bad address is not refused for good: %v", err)
	}
	if strings.Contains(err.Error(), "not an address") {
		t.Fatalf("the error names the address: %v", err)
	}
	// A server that rejects the recipient echoes it; the error does not.
	sink.Reject("jane@example.com")
	err = c.Send(context.Background(), Message{To: "jane@example.com", Subject: "s", Text: "t"})
	if !errors.As(err, &refused) || strings.Contains(err.Error(), "jane") {
		t.Fatalf("a rejected recipient: %v", err)
	}
}

func TestConfigFromEnv(t *testing.T) {
	for _, tt := range []struct {
		name string
		env  map[string]string
		ok   bool
		want []string
	}{
		{"no mail", nil, false, nil},
		{"port without host", map[string]string{"DSR_SMTP_PORT": "587"}, false, []string{"DSR_SMTP_PORT is set but DSR_SMTP_HOST is not"}},
		{"language without host", map[string]string{"DSR_MAIL_LANG": "fr"}, false, []string{"DSR_MAIL_LANG is set but DSR_SMTP_HOST is not"}},
		{"no templates for the language", map[string]string{"DSR_SMTP_HOST": "smtp.acme.example", "DSR_SMTP_FROM": "p@acme.example", "DSR_MAIL_LANG": "fr"}, true,
			[]string{`DSR_MAIL_LANG: mail templates: no templates for the default language "fr"`}},
		{"templates folder missing", map[string]string{"DSR_SMTP_HOST": "smtp.acme.example", "DSR_SMTP_FROM": "p@acme.example", "DSR_MAIL_TEMPLATES": "/nonexistent"}, true,
			[]string{"DSR_MAIL_TEMPLATES (/nonexistent)"}},
		{"good", map[string]string{"DSR_SMTP_HOST": "smtp.acme.example", "DSR_SMTP_FROM": "Acme <privacy@acme.example>", "DSR_SMTP_USERNAME": "u", "DSR_SMTP_PASSWORD": "p"}, true, nil},
		{"everything wrong", map[string]string{"DSR_SMTP_HOST": "smtp.acme.example", "DSR_SMTP_PORT": "70000", "DSR_SMTP_TLS": "none"}, false,
			[]string{`DSR_SMTP_PORT: "70000" is not a port number`}},
		{"plain text to a remote server", map[string]string{"DSR_SMTP_HOST": "smtp.acme.example", "DSR_SMTP_TLS": "none", "DSR_SMTP_USERNAME": "u"}, true,
			[]string{"DSR_SMTP_TLS: none is allowed only for a server on this machine", "DSR_SMTP_FROM: required", "give both or neither"}},
		{"unknown TLS", map[string]string{"DSR_SMTP_HOST": "h", "DSR_SMTP_TLS": "ssl", "DSR_SMTP_FROM": "not an address"}, true,
			[]string{`DSR_SMTP_TLS: "ssl" is not starttls, tls or none`, `DSR_SMTP_FROM: "not an address" is not an address`}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, ok, err := FromEnv(func(k string) string { return tt.env[k] })
			s := c.SMTP
			if len(tt.want) == 0 {
				if err != nil || ok != tt.ok {
					t.Fatalf("ok %v, err %v", ok, err)
				}
				if ok && (s.Port != 587 || s.TLS != "starttls") {
					t.Fatalf("defaults: %+v", s)
				}
				return
			}
			for _, w := range tt.want {
				if err == nil || !strings.Contains(err.Error(), w) {
					t.Errorf("error lacks %q: %v", w, err)
				}
			}
		})
	}
}

func split(t *testing.T, addr string) (string, int) {
	host, p, err := net.SplitHostPort(addr)
	if err != nil {
		t.Fatal(err)
	}
	port, _ := strconv.Atoi(p)
	return host, port
}

// certificate makes a self-signed certificate for localhost.
func certificate(t *testing.T) (tls.Certificate, *x509.CertPool) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "localhost"}, DNSNames: []string{"localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	parsed, _ := x509.ParseCertificate(der)
	pool := x509.NewCertPool()
	pool.AddCert(parsed)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, pool
}

// TestSinkReadsBase64Parts: a client that sends its parts in base64,
// folded over lines, is read as well as go-mail's quoted-printable.
func TestSinkReadsBase64Parts(t *testing.T) {
	raw := "Content-Type: multipart/alternative; boundary=b\r\n\r\n" +
		"--b\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\nWW91ciBjb2Rl\r\nIGlzIDEyMzQ1Ng==\r\n" +
		"--b\r\nContent-Type: text/html\r\nContent-Transfer-Encoding: base64\r\n\r\nPHA+MTIzNDU2\r\nPC9wPg==\r\n--b--\r\n"
	m, err := netmail.ReadMessage(strings.NewReader(raw))
	if err != nil {
		t.Fatal(err)
	}
	var got Received
	if err := readBody(m.Header, m.Body, &got); err != nil {
		t.Fatal(err)
	}
	if got.Text != "Your code is 123456" || got.HTML != "<p>123456</p>" {
		t.Fatalf("read %q and %q", got.Text, got.HTML)
	}
}
