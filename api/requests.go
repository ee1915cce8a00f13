package api

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/keyring"
	"github.com/dsrengine/dsr/records"
	"github.com/dsrengine/dsr/requests"
	"github.com/dsrengine/dsr/store"
	"github.com/dsrengine/dsr/workflows"
)

// StartBody is a new request.
type StartBody struct {
	ID         string         `json:"id"`
	Type       string         `json:"type"`
	Regulation string         `json:"regulation"`
	Identities []IdentityBody `json:"identities"`
	// ReceivedAt (RFC 3339) when the request arrived earlier; TimeZone
	// (IANA) in which its deadline is counted.
	ReceivedAt       string                `json:"received_at"`
	TimeZone         string                `json:"time_zone"`
	IdentityVerified bool                  `json:"identity_verified"`
	Consent          *domain.ConsentChange `json:"consent"`
	// Corrections are a rectification's fields and new values; Scope is
	// what a restriction, objection, opt-out or limit covers.
	Corrections []domain.Correction `json:"corrections"`
	Scope       *domain.Scope       `json:"scope"`
}

// IdentityBody is one of the subject's identities.
type IdentityBody struct {
	Kind  string `json:"kind"`
	Value string `json:"value"`
}

// Input checks a new request and makes it the workflow's input; errors
// name the JSON field.
func (b StartBody) Input(requestedBy string, now time.Time) (workflows.RequestInput, error) {
	f := requests.Form{ID: b.ID, Type: b.Type, Regulation: b.Regulation, Received: b.ReceivedAt, TimeZone: b.TimeZone,
		RequestedBy: requestedBy, IdentityVerified: b.IdentityVerified, Consent: b.Consent, Corrections: b.Corrections, Scope: b.Scope}
	for _, id := range b.Identities {
		f.Identities = append(f.Identities, requests.FormIdentity{Kind: id.Kind, Value: id.Value})
	}
	return requests.NewInput(f, fieldNames, now)
}

// fieldNames are the JSON names of a request's fields, for errors.
var fieldNames = requests.Names{
	Fields: map[string]string{"received": "received_at", "identity": "identities"},
	Identity: func(i int, kind string) string {
		return fmt.Sprintf("identities[%d]: %s", i, kind)
	},
}

func (s *Server) start(w http.ResponseWriter, r *http.Request, t store.Token) {
	var b StartBody
	if !decode(w, r, &b) {
		return
	}
	in, err := b.Input(actor(t), time.Now())
	if err != nil {
		fail(w, http.StatusBadRequest, "%v", err)
		return
	}
	res, err := requests.Start(r.Context(), s.Client, in)
	if err != nil {
		failFor(w, err)
		return
	}
	status := http.StatusCreated
	if res.Existing {
		status = http.StatusOK
	}
	reply(w, status, res)
}

func (s *Server) list(w http.ResponseWriter, r *http.Request, t store.Token) {
	q := r.URL.Query()
	f := requests.Filter{Status: domain.Status(q.Get("status")), Type: domain.RequestType(q.Get("type")), Overdue: q.Get("overdue") == "true",
		Department: q.Get("department")}
	for name, dst := range map[string]*int{"due_within": &f.DueWithin, "limit": &f.Limit} {
		if v := q.Get(name); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil {
				fail(w, http.StatusBadRequest, "%s %q: not a number", name, v)
				return
			}
			*dst = n
		}
	}
	if t.Role == store.RoleApprover {
		// An approver sees what waits for their departments.
		if f.Department == "" && len(t.Departments) == 1 {
			f.Department = t.Departments[0]
		}
		if !slices.Contains(t.Departments, f.Department) {
			fail(w, http.StatusForbidden, "an approver lists the requests of their departments (%s): give department", strings.Join(t.Departments, ", "))
			return
		}
	}
	if _, err := f.Query(time.Now()); err != nil {
		fail(w, http.StatusBadRequest, "%v", err)
		return
	}
	list, err := requests.List(r.Context(), s.Client, f)
	if err != nil {
		failFor(w, err)
		return
	}
	reply(w, http.StatusOK, list)
}

func (s *Server) show(w http.ResponseWriter, r *http.Request, t store.Token) {
	v, err := requests.Show(r.Context(), s.Client, r.PathValue("id"), requests.WithFailures(s.Codecs.Failure))
	if err != nil {
		failFor(w, err)
		return
	}
	if t.Role == store.RoleApprover && !involves(v, t.Departments) {
		fail(w, http.StatusForbidden, "request %s does not involve %s", v.ID, strings.Join(t.Departments, ", "))
		return
	}
	reply(w, http.StatusOK, v)
}

// involves says whether a request concerns one of an approver's
// departments: one of their systems holds the subject's data, or a
// sign-off or manual task is theirs. Owning a system that was merely
// asked is not enough: every request asks every system.
func involves(v requests.View, departments []string) bool {
	mine := func(d string) bool { return slices.Contains(departments, d) }
	return slices.ContainsFunc(v.Systems, func(p workflows.SystemProgress) bool { return p.Found > 0 && mine(p.Department) }) ||
		slices.ContainsFunc(v.PendingDepartments, mine) ||
		slices.ContainsFunc(v.SignOffs, func(so records.SignOff) bool { return mine(so.Department) }) ||
		slices.ContainsFunc(v.Tasks, func(tk workflows.Task) bool { return mine(tk.Department) })
}

// ChangeBody carries the fields of the steering operations; each uses its own.
type ChangeBody struct {
	Method string `json:"method"` // verify
	Reason string `json:"reason"` // extend, cancel, deny
	Months int    `json:"months"` // extend
	Days   int    `json:"days"`   // extend
	Via    string `json:"via"`    // confirm
	// identities: the proposed identities that are the subject's, and why.
	Confirm []int  `json:"confirm"`
	Note    string `json:"note"`
}

func (s *Server) change(w http.ResponseWriter, r *http.Request, t store.Token) {
	var b ChangeBody
	if r.ContentLength != 0 && !decode(w, r, &b) {
		return
	}
	id := r.PathValue("id")
	op := r.URL.Path[strings.LastIndexByte(r.URL.Path, '/')+1:]
	var err error
	switch op {
	case "verify":
		err = requests.VerifyIdentity(r.Context(), s.Client, id, workflows.Verification{Method: b.Method})
	case "extend":
		_, err = requests.Extend(r.Context(), s.Client, id, workflows.ExtensionRequest{By: domain.Period{Months: b.Months, Days: b.Days}, Reason: b.Reason})
	case "cancel":
		err = requests.Cancel(r.Context(), s.Client, id, workflows.Closure{Reason: b.Reason})
	case "deny":
		err = requests.Deny(r.Context(), s.Client, id, workflows.Closure{Reason: b.Reason})
	case "retry":
		err = requests.Retry(r.Context(), s.Client, id, workflows.Retry{})
	case "erase-again":
		err = requests.EraseAgain(r.Context(), s.Client, id, workflows.EraseAgain{})
	case "confirm":
		err = requests.ConfirmConsent(r.Context(), s.Client, id, workflows.Confirmation{Channel: b.Via})
	case "identities":
		err = requests.ConfirmIdentities(r.Context(), s.Client, id, workflows.IdentityConfirmation{Confirm: b.Confirm, Note: b.Note})
	}
	s.answer(w, r, err)
}

// answer replies with the request as it now stands, or the error.
func (s *Server) answer(w http.ResponseWriter, r *http.Request, err error) {
	if err != nil {
		failFor(w, err)
		return
	}
	s.show(w, r, store.Token{})
}

// DecisionBody is an approver's decision.
type DecisionBody struct {
	Department string `json:"department"`
	Decision   string `json:"decision"` // approve or object
	LegalBasis string `json:"legal_basis"`
}

func (s *Server) decide(w http.ResponseWriter, r *http.Request, t store.Token) {
	var b DecisionBody
	if !decode(w, r, &b) {
		return
	}
	if !slices.Contains(t.Departments, b.Department) {
		fail(w, http.StatusForbidden, "%s decides for %s, not for %q", t.Approver, strings.Join(t.Departments, ", "), b.Department)
		return
	}
	err := requests.Decide(r.Context(), s.Client, r.PathValue("id"), workflows.Decision{Department: b.Department, Decision: b.Decision,
		LegalBasis: b.LegalBasis})
	s.answer(w, r, err)
}

// TaskBody confirms a manual task.
type TaskBody struct {
	Outcome    string `json:"outcome"`
	Records    int64  `json:"records"`
	Note       string `json:"note"`
	LegalBasis string `json:"legal_basis"`
}

func (s *Server) completeTask(w http.ResponseWriter, r *http.Request, t store.Token) {
	var b TaskBody
	if !decode(w, r, &b) {
		return
	}
	// The workflow checks the department's approvers; the token's approver
	// is who confirms, and only for the departments on the token.
	v, err := requests.Show(r.Context(), s.Client, r.PathValue("id"))
	if err != nil {
		failFor(w, err)
		return
	}
	system := r.PathValue("system")
	i := slices.IndexFunc(v.Tasks, func(tk workflows.Task) bool { return tk.System == system })
	if i < 0 {
		fail(w, http.StatusNotFound, "request %s has no manual task in %q", v.ID, system)
		return
	}
	if !slices.Contains(t.Departments, v.Tasks[i].Department) {
		fail(w, http.StatusForbidden, "%s confirms tasks for %s, not for %s", t.Approver, strings.Join(t.Departments, ", "), v.Tasks[i].Department)
		return
	}
	err = requests.CompleteTask(r.Context(), s.Client, r.PathValue("id"), workflows.TaskCompletion{System: r.PathValue("system"), Outcome: b.Outcome,
		Records: b.Records, Note: b.Note, Basis: b.LegalBasis})
	s.answer(w, r, err)
}

// pkg streams the access package: personal data, for requesters only;
// the download is audited.
func (s *Server) pkg(w http.ResponseWriter, r *http.Request, t store.Token) {
	s.ServePackage(w, r, r.PathValue("id"), actor(t))
}

// ServePackage streams a request's package to whoever the caller checked
// (a requester here, the request's own controller over OpenDSR), from the
// export directory only, and audits the download first.
func (s *Server) ServePackage(w http.ResponseWriter, r *http.Request, id, actor string) {
	s.servePackage(w, r, id, func() error {
		err := s.Store.AppendAudit(r.Context(), records.AuditEntry{RequestID: id, Actor: actor, Action: "package.downloaded"})
		if err != nil {
			fail(w, http.StatusServiceUnavailable, "cannot audit the download now, so it is not made")
		}
		return err
	})
}

// servePackage streams a request's package once take, which records the
// download (and answers the caller itself when it refuses), allows it.
func (s *Server) servePackage(w http.ResponseWriter, r *http.Request, id string, take func() error) {
	v, err := requests.Show(r.Context(), s.Client, id)
	if err != nil {
		failFor(w, err)
		return
	}
	if !strings.HasPrefix(v.Package, "file://") {
		fail(w, http.StatusNotFound, "request %s has no package (a %s request, %s)", id, v.Type, v.Status)
		return
	}
	path, err := s.packagePath(v.Package)
	if err != nil {
		s.Log.Error("package refused", "request", id, "error", err)
		fail(w, http.StatusForbidden, "the package of %s is not in the export directory", id)
		return
	}
	f, err := os.Open(path)
	if err != nil {
		fail(w, http.StatusGone, "the package of %s is no longer kept", id)
		return
	}
	defer f.Close()
	key, err := s.Store.ExistingRequestKey(r.Context(), s.Keys, id)
	if errors.Is(err, store.ErrKeyDestroyed) {
		fail(w, http.StatusGone, "the package of %s can no longer be read: its subject was erased", id)
		return
	}
	var pkg io.Reader
	var plain bool
	if err == nil {
		pkg, plain, err = keyring.OpenFile(f, key)
	}
	if err == nil && plain {
		// Written before packages were encrypted: served as it is if it is
		// still the package that was recorded.
		pkg, err = s.legacyPackage(r, id, f)
	}
	if err != nil {
		s.Log.Error("package", "request", id, "error", err)
		fail(w, http.StatusInternalServerError, "the package of %s cannot be opened", id)
		return
	}
	if take() != nil {
		return
	}
	w.Header().Set("Content-Type", "application/zip")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s-package.zip"`, id))
	if _, err := io.Copy(w, pkg); err != nil {
		// The status is sent: the download ends short, and the zip is
		// refused by whatever opens it.
		s.Log.Error("package cut short", "request", id, "error", err)
	}
}

// legacyPackage is a package kept in plain text from before packages were
// encrypted, checked against the digest recorded when it was written.
func (s *Server) legacyPackage(r *http.Request, id string, f *os.File) (io.Reader, error) {
	arts, err := s.Store.Artifacts(r.Context(), id)
	if err != nil {
		return nil, err
	}
	want := ""
	for _, a := range arts {
		if a.Format == "zip" {
			want = a.SHA256
		}
	}
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return nil, err
	}
	if want == "" || hex.EncodeToString(h.Sum(nil)) != want {
		return nil, fmt.Errorf("the plain package of %s does not match the digest recorded when it was written", id)
	}
	_, err = f.Seek(0, io.SeekStart)
	return f, err
}

// packagePath is the file a package location names, confined to the
// export directory: the location comes from the workflow's state, which a
// client of the Temporal namespace could have shaped, so a path that
// leaves the directory, also through a link, is refused.
func (s *Server) packagePath(location string) (string, error) {
	path, _ := strings.CutPrefix(location, "file://")
	if s.ExportDir == "" {
		return "", errors.New("no export directory configured")
	}
	dir, err := filepath.EvalSymlinks(s.ExportDir)
	if err != nil {
		return "", fmt.Errorf("export directory: %w", err)
	}
	real, err := filepath.EvalSymlinks(path)
	if errors.Is(err, fs.ErrNotExist) {
		// Gone (the caller says so); judged by its name alone.
		if dir, err = filepath.Abs(s.ExportDir); err != nil {
			return "", err
		}
		real, err = filepath.Clean(path), nil
	}
	if err != nil {
		return "", err
	}
	rel, err := filepath.Rel(dir, real)
	if err != nil || rel == "." || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(rel) {
		return "", fmt.Errorf("%s is outside the export directory %s", path, dir)
	}
	return real, nil
}

func (s *Server) evidence(w http.ResponseWriter, r *http.Request, t store.Token) {
	ev, err := requests.GetEvidence(r.Context(), s.Client, s.Codecs, r.PathValue("id"), actor(t))
	if err != nil {
		failFor(w, err)
		return
	}
	if r.URL.Query().Get("format") == "html" {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		ev.WriteHTML(w)
		return
	}
	reply(w, http.StatusOK, ev)
}

func (s *Server) verify(w http.ResponseWriter, r *http.Request, t store.Token) {
	check, err := requests.VerifyAudit(r.Context(), s.Client, actor(t))
	if err != nil {
		failFor(w, err)
		return
	}
	reply(w, http.StatusOK, check)
}

func (s *Server) metrics(w http.ResponseWriter, r *http.Request, t store.Token) {
	from, err1 := time.Parse(time.DateOnly, r.URL.Query().Get("from"))
	to, err2 := time.Parse(time.DateOnly, r.URL.Query().Get("to"))
	if err1 != nil || err2 != nil {
		fail(w, http.StatusBadRequest, "from and to are required dates like 2026-01-01")
		return
	}
	report, err := requests.Report(r.Context(), s.Client, from, to, actor(t))
	if err != nil {
		if !from.Before(to) {
			fail(w, http.StatusBadRequest, "%v", err)
			return
		}
		failFor(w, err)
		return
	}
	reply(w, http.StatusOK, report)
}

func (s *Server) inbox(w http.ResponseWriter, r *http.Request, t store.Token) {
	recipient := r.URL.Query().Get("to")
	if t.Role == store.RoleApprover && !slices.Contains(t.Departments, recipient) {
		fail(w, http.StatusForbidden, "an approver reads the inbox of their departments (%s): give to", strings.Join(t.Departments, ", "))
		return
	}
	entries, err := s.Store.Inbox(r.Context(), recipient, 200)
	if err != nil {
		failFor(w, err)
		return
	}
	if entries == nil {
		entries = []records.InboxEntry{}
	}
	reply(w, http.StatusOK, entries)
}
