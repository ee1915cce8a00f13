package api

import (
	"bytes"
	"errors"
	"html/template"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	commonpb "go.temporal.io/api/common/v1"
	"go.temporal.io/sdk/converter"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/keyring"
	"github.com/dsrengine/dsr/records"
	"github.com/dsrengine/dsr/store"
)

// CodecCookie holds the token of an auditor who logged in to the codec
// for the Web UI, which sends it with every decode (includeCredentials).
const CodecCookie = "dsr_codec"

// maxCodecBody bounds one codec call: a history page's payloads.
const maxCodecBody = 64 << 20

// Codec serves the payload codec to the Temporal Web UI and CLI, under
// /codec/. Decoding shows personal data: it takes an auditor's or an
// admin's token, as a bearer token (the CLI's --codec-auth "Bearer …") or
// the cookie set at /codec/login (the Web UI), and every call is audited
// with who asked and the workflows whose payloads it decrypted. Encoding
// is for admins alone; it cannot forge a change, which needs a signed
// claim, but it has no reader's purpose.
func (s *Server) Codec(codec converter.PayloadCodec) http.Handler {
	mux := http.NewServeMux()
	sdk := converter.NewPayloadCodecHTTPHandler(codec)
	mux.HandleFunc("GET /login", s.codecLoginForm)
	mux.HandleFunc("POST /login", s.codecLogin)
	mux.HandleFunc("POST /decode", func(w http.ResponseWriter, r *http.Request) { s.codecCall(w, r, "decode", sdk) })
	mux.HandleFunc("POST /encode", func(w http.ResponseWriter, r *http.Request) { s.codecCall(w, r, "encode", sdk) })
	return mux
}

// codecToken reads the caller's token: the Authorization header first,
// then the login cookie.
func codecToken(r *http.Request) string {
	if secret, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return secret
	}
	if c, err := r.Cookie(CodecCookie); err == nil {
		return c.Value
	}
	return ""
}

func (s *Server) codecCall(w http.ResponseWriter, r *http.Request, op string, sdk http.Handler) {
	roles := []string{store.RoleAuditor, store.RoleAdmin}
	if op == "encode" {
		roles = []string{store.RoleAdmin}
	}
	secret := codecToken(r)
	if secret == "" {
		w.Header().Set("WWW-Authenticate", `Bearer realm="dsr codec"`)
		fail(w, http.StatusUnauthorized, "the codec decrypts personal data: log in at /codec/login, or send Authorization: Bearer <auditor or admin token>")
		return
	}
	t, err := s.Store.Authenticate(r.Context(), secret)
	switch {
	case errors.Is(err, store.ErrUnauthorized), errors.Is(err, store.ErrExpired):
		fail(w, http.StatusUnauthorized, "%v", err)
		return
	case err != nil:
		fail(w, http.StatusServiceUnavailable, "cannot check the token now")
		return
	case !slices.Contains(roles, t.Role):
		fail(w, http.StatusForbidden, "%s %s token may not %s payloads", article(t.Role), t.Role, op)
		return
	}
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxCodecBody))
	if err != nil {
		fail(w, http.StatusRequestEntityTooLarge, "the payloads are larger than %d MiB", maxCodecBody>>20)
		return
	}
	var in commonpb.Payloads
	if err := protojson.Unmarshal(body, &in); err != nil {
		fail(w, http.StatusBadRequest, "the body is not a list of payloads: %v", err)
		return
	}
	// Audited before the payloads are touched, per request, so the log
	// says whose data each reader saw.
	for _, e := range codecAudit(op, t, in.GetPayloads()) {
		if err := s.Store.AppendAudit(r.Context(), e); err != nil {
			fail(w, http.StatusServiceUnavailable, "cannot audit the call now, so it is not made")
			return
		}
	}
	r.Body = io.NopCloser(bytes.NewReader(body))
	sdk.ServeHTTP(w, r)
}

// codecAudit is one audit entry per request whose payloads a call holds,
// and one for payloads that name none (the server's own, failures).
func codecAudit(op string, t store.Token, payloads []*commonpb.Payload) []records.AuditEntry {
	var order []string // workflows in the order the payloads name them
	count := map[string]int{}
	for _, p := range payloads {
		wf := keyring.WorkflowOf(p)
		if count[wf] == 0 {
			order = append(order, wf)
		}
		count[wf]++
	}
	var out []records.AuditEntry
	for _, wf := range order {
		if wf == "" {
			continue
		}
		id, _ := domain.RequestIDOf(wf)
		out = append(out, records.AuditEntry{RequestID: id, Actor: actor(t), Action: "codec " + op,
			Detail: map[string]any{"workflow": wf, "payloads": count[wf]}})
	}
	if rest := count[""]; rest > 0 || len(payloads) == 0 {
		out = append(out, records.AuditEntry{Actor: actor(t), Action: "codec " + op,
			Detail: map[string]any{"workflow": "not named by the payloads", "payloads": rest}})
	}
	return out
}

var loginPage = template.Must(template.New("login").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>dsr: codec login</title></head>
<body style="font-family: system-ui, sans-serif; max-width: 36rem; margin: 3rem auto">
<h1>Decrypt histories in the Temporal Web UI</h1>
<p>The Web UI shows a request's payloads decrypted only to an auditor or an admin. Every payload you open is recorded in the audit log with your token's name.</p>
{{if .Error}}<p role="alert" style="color: #b00">{{.Error}}</p>{{end}}
{{if .Who}}<p>Logged in as <strong>{{.Who}}</strong> until {{.Until}}. Open the Web UI, or log in with another token.</p>{{end}}
<form method="post" action="login">
<label>API token (auditor or admin) <input name="token" type="password" autocomplete="off" required size="50"></label>
<button type="submit">Log in</button>
</form>
</body></html>`))

func (s *Server) codecLoginForm(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	loginPage.Execute(w, map[string]string{})
}

// codecLogin checks an auditor's or admin's token and keeps it in an
// HttpOnly cookie for the codec's path, which the Web UI sends with its
// codec calls. The cookie lasts no longer than the token.
func (s *Server) codecLogin(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	r.Body = http.MaxBytesReader(w, r.Body, 4096)
	secret := strings.TrimSpace(r.PostFormValue("token"))
	t, err := s.Store.Authenticate(r.Context(), secret)
	if err == nil && !slices.Contains([]string{store.RoleAuditor, store.RoleAdmin}, t.Role) {
		err = errors.New("only an auditor's or an admin's token may decrypt payloads")
	}
	if err != nil {
		w.WriteHeader(http.StatusUnauthorized)
		loginPage.Execute(w, map[string]string{"Error": err.Error()})
		return
	}
	if err := s.Store.AppendAudit(r.Context(), records.AuditEntry{Actor: actor(t), Action: "codec login"}); err != nil {
		w.WriteHeader(http.StatusServiceUnavailable)
		loginPage.Execute(w, map[string]string{"Error": "cannot audit the login now, so it is not made"})
		return
	}
	http.SetCookie(w, &http.Cookie{Name: CodecCookie, Value: secret, Path: "/codec/", HttpOnly: true, Secure: r.TLS != nil,
		SameSite: http.SameSiteStrictMode, Expires: t.ExpiresAt, MaxAge: int(time.Until(t.ExpiresAt).Seconds())})
	loginPage.Execute(w, map[string]string{"Who": t.Name, "Until": t.ExpiresAt.UTC().Format(time.RFC3339)})
}
