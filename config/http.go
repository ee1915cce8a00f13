package config

import (
	"fmt"
	"slices"
	"strings"

	httpconn "github.com/dsrengine/dsr/connectors/http"
	"github.com/dsrengine/dsr/domain"
)

// HTTPSettings say where a SaaS API is and how to authenticate; every
// secret stays in the environment.
type HTTPSettings struct {
	// BaseURL is written in the file, or BaseURLEnv names the variable
	// that holds it (one per environment: sandbox, production).
	BaseURL    string   `yaml:"base_url"`
	BaseURLEnv string   `yaml:"base_url_env"`
	Auth       HTTPAuth `yaml:"auth"`
	// MaxMiB bounds what one discovery, export or erasure reads from the
	// API (default 1024): an API that pages on forever ends the call with
	// a clear error instead of holding the worker.
	MaxMiB int `yaml:"max_mib"`
}

// HTTPAuth names the environment variables that hold the credentials.
type HTTPAuth struct {
	Type        string `yaml:"type"` // bearer, basic, api_key or none
	TokenEnv    string `yaml:"token_env"`
	UsernameEnv string `yaml:"username_env"`
	PasswordEnv string `yaml:"password_env"`
	KeyEnv      string `yaml:"key_env"`
	// Header or Query says where an api_key goes.
	Header string `yaml:"header"`
	Query  string `yaml:"query"`
}

var (
	eraseHTTP = []string{"delete", "anonymize", "keep"}
	methods   = []string{"GET", "POST", "PUT", "PATCH", "DELETE"}
)

func (f *File) validateHTTP(s System, fail func(string, string, ...any) error) error {
	h := s.HTTP
	if h == nil {
		return fail(".http", "an http system needs base_url or base_url_env, and auth")
	}
	switch {
	case (h.BaseURL == "") == (h.BaseURLEnv == ""):
		return fail(".http", "give exactly one of base_url and base_url_env")
	case h.BaseURLEnv != "" && !envName.MatchString(h.BaseURLEnv):
		return fail(".http.base_url_env", "%q must name an environment variable", h.BaseURLEnv)
	case h.BaseURL != "":
		if err := httpconn.CheckBaseURL(h.BaseURL); err != nil {
			return fail(".http.base_url", "%v", err)
		}
	}
	a := h.Auth
	need := map[string][]string{"bearer": {a.TokenEnv}, "basic": {a.UsernameEnv, a.PasswordEnv}, "api_key": {a.KeyEnv}, "none": nil}
	vars, ok := need[a.Type]
	if !ok {
		return fail(".http.auth.type", "%q must be one of bearer, basic, api_key or none", a.Type)
	}
	for _, v := range vars {
		if !envName.MatchString(v) {
			return fail(".http.auth", "%s auth needs %s naming environment variables (credentials stay out of this file); got %q",
				a.Type, map[string]string{"bearer": "token_env", "basic": "username_env and password_env", "api_key": "key_env"}[a.Type], v)
		}
	}
	if a.Type == "api_key" && (a.Header == "") == (a.Query == "") {
		return fail(".http.auth", "api_key auth goes in a header or a query parameter: give exactly one of header and query")
	}
	if h.MaxMiB < 0 || h.MaxMiB > 1<<20 {
		return fail(".http.max_mib", "%d must be between 1 and 1048576 MiB (default 1024)", h.MaxMiB)
	}
	if len(s.Objects) == 0 {
		return fail(".objects", "an http system needs at least one object (contacts, tickets...) with its lookup")
	}
	names := map[string]bool{}
	for j, o := range s.Objects {
		of := fmt.Sprintf(".objects[%d]", j)
		if !systemName.MatchString(o.Name) || names[o.Name] {
			return fail(of+".name", "%q must be a unique name of lower-case letters, digits, '_' or '-'", o.Name)
		}
		names[o.Name] = true
		if err := checkCall(o.Lookup, "lookup", false, fail, of+".lookup"); err != nil {
			return err
		}
		if _, err := httpconn.IdentityKind(o.Lookup); err != nil {
			return fail(of+".lookup", "%v", err)
		}
		if httpconn.IsSearch(o.Lookup) && strings.TrimSpace(o.Lookup.Match) == "" {
			return fail(of+".lookup.match", "is required: the lookup passes the identity as a search (a query parameter or a body), and a search may return other people's records; name the record field that must equal the identity, e.g. match: email")
		}
		if o.Export != nil {
			if err := checkCall(*o.Export, "record", false, fail, of+".export"); err != nil {
				return err
			}
		}
		if !slices.Contains(eraseHTTP, o.Erase) {
			return fail(of+".erase", "%q must be one of %s", o.Erase, strings.Join(eraseHTTP, ", "))
		}
		switch {
		case o.Erase == "keep" && strings.TrimSpace(o.LegalHold) == "":
			return fail(of+".legal_hold", "erase: keep needs the legal hold that requires keeping the records")
		case o.Erase == "keep" && o.EraseRequest != nil:
			return fail(of+".erase_request", "erase: keep sends no erase request")
		case o.Erase != "keep" && o.EraseRequest == nil:
			return fail(of+".erase_request", "erase: %s needs the request that does it", o.Erase)
		case o.Erase != "keep":
			if err := checkCall(*o.EraseRequest, "record", true, fail, of+".erase_request"); err != nil {
				return err
			}
		}
		for _, k := range sortedKeys(o.Links) {
			if !f.knownKind(k) {
				return fail(of+".links."+k, "unknown identity kind; use %s", f.kindNames())
			}
			if strings.TrimSpace(o.Links[k]) == "" {
				return fail(of+".links."+k, "names the record field (a dotted path) that holds the %s", k)
			}
		}
		for _, p := range sortedKeys(o.Consent) {
			if !slices.Contains(s.Purposes, p) {
				return fail(of+".consent."+p, "purpose %q is not among the system's purposes", p)
			}
			if err := checkCall(o.Consent[p], "consent", true, fail, of+".consent."+p); err != nil {
				return err
			}
		}
		for _, p := range sortedKeys(o.Restriction) {
			if p != domain.AllPurposes && !slices.Contains(s.Purposes, p) {
				return fail(of+".restriction."+p, "purpose %q is not among the system's purposes (or all)", p)
			}
			if err := checkCall(o.Restriction[p], "restriction", true, fail, of+".restriction."+p); err != nil {
				return err
			}
		}
		for _, field := range sortedKeys(o.Correct) {
			if !purpose.MatchString(field) {
				return fail(of+".correct."+field, "%q must be a field name of lower-case letters, digits, '_' or '-', as requests name it", field)
			}
			if err := checkCall(o.Correct[field], "correct", true, fail, of+".correct."+field); err != nil {
				return err
			}
		}
	}
	return nil
}

// checkCall checks one templated request; calls that change data must say
// their method.
func checkCall(c httpconn.Call, scope string, changes bool, fail func(string, string, ...any) error, field string) error {
	switch {
	case changes && c.Method == "":
		return fail(field+".method", "is required: one of %s", strings.Join(methods, ", "))
	case c.Method != "" && !slices.Contains(methods, strings.ToUpper(c.Method)):
		return fail(field+".method", "%q must be one of %s", c.Method, strings.Join(methods, ", "))
	case !strings.HasPrefix(c.Path, "/"):
		return fail(field+".path", "%q must start with / (it is relative to the base URL)", c.Path)
	}
	if _, err := httpconn.Placeholders(c, scope); err != nil {
		return fail(field, "%v", err)
	}
	if p := c.Pagination; p != nil {
		ways := 0
		for _, set := range []bool{p.Next != "", p.LinkHeader, p.Cursor != "", p.PageParam != ""} {
			if set {
				ways++
			}
		}
		if ways != 1 {
			return fail(field+".pagination", "give exactly one of next, link_header, cursor (with cursor_param) and page_param")
		}
		if p.Cursor != "" && p.CursorParam == "" {
			return fail(field+".pagination.cursor_param", "a cursor is sent back in a query parameter; name it")
		}
	}
	if j := c.Job; j != nil {
		if j.ID == "" || j.Status == "" || len(j.Done) == 0 || !strings.HasPrefix(j.Path, "/") {
			return fail(field+".job", "a job needs id (where the response holds it), path (to poll, with {job.id}), status and done")
		}
		if _, err := httpconn.Placeholders(httpconn.Call{Path: j.Path}, "job"); err != nil {
			return fail(field+".job.path", "%v", err)
		}
	}
	return nil
}
