package http

import (
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/dsrengine/dsr/domain"
)

// placeholder matches {email}, {record.id}, {job.id}, {granted}...
var placeholder = regexp.MustCompile(`\{([a-z_]+(?:\.[A-Za-z0-9_]+)*)\}`)

// Placeholders lists the placeholders of a call's path and body, and
// refuses names the templates do not know. Scope says which are allowed:
// "lookup" (identities only), "record" (identities and record fields),
// "consent" (those plus purpose and granted) and "job" (those plus job.id).
func Placeholders(c Call, scope string) ([]string, error) {
	var names []string
	collect := func(s string) {
		for _, m := range placeholder.FindAllStringSubmatch(s, -1) {
			names = append(names, m[1])
		}
	}
	collect(c.Path)
	walkStrings(c.Body, collect)
	for _, n := range names {
		if err := allowed(n, scope); err != nil {
			return nil, err
		}
	}
	return names, nil
}

func allowed(name, scope string) error {
	for _, k := range domain.KnownKinds() {
		if name == string(k) {
			return nil
		}
	}
	head, _, _ := strings.Cut(name, ".")
	switch {
	case head == "record" && name != "record" && scope != "lookup":
		return nil
	case (name == "purpose" || name == "granted") && scope == "consent":
		return nil
	case (name == "field" || name == "value") && scope == "correct":
		return nil
	case (name == "purpose" || name == "restricted") && scope == "restriction":
		return nil
	case name == "job.id" && scope == "job":
		return nil
	}
	known := "{email}, {phone} or {customer_id}"
	switch scope {
	case "record":
		known += ", {record.<field>}"
	case "consent":
		known += ", {record.<field>}, {purpose}, {granted}"
	case "correct":
		known += ", {record.<field>}, {field}, {value}"
	case "restriction":
		known += ", {record.<field>}, {purpose}, {restricted}"
	case "job":
		known += ", {record.<field>}, {job.id}"
	}
	return fmt.Errorf("placeholder {%s} is not known here; use %s", name, known)
}

// IdentityKind is the one identity kind a lookup searches by, or an error.
func IdentityKind(c Call) (domain.IdentityKind, error) {
	names, err := Placeholders(c, "lookup")
	if err != nil {
		return "", err
	}
	var kind domain.IdentityKind
	for _, n := range names {
		if kind != "" && string(kind) != n {
			return "", fmt.Errorf("a lookup searches by one identity kind, not {%s} and {%s}", kind, n)
		}
		kind = domain.IdentityKind(n)
	}
	if kind == "" {
		return "", fmt.Errorf("a lookup needs one of {email}, {phone} or {customer_id} in its path or body")
	}
	return kind, nil
}

// usesRecord says whether a call acts on one record (its template names
// a record field) rather than on everything held under an identity.
func usesRecord(c Call) bool {
	found := false
	check := func(s string) {
		for _, m := range placeholder.FindAllStringSubmatch(s, -1) {
			found = found || strings.HasPrefix(m[1], "record.")
		}
	}
	check(c.Path)
	walkStrings(c.Body, check)
	return found
}

func walkStrings(node any, fn func(string)) {
	switch n := node.(type) {
	case string:
		fn(n)
	case map[string]any:
		for _, v := range n {
			walkStrings(v, fn)
		}
	case []any:
		for _, v := range n {
			walkStrings(v, fn)
		}
	}
}

// vars are the values a template can name for one call.
type vars struct {
	identity domain.Identity
	record   map[string]any
	purpose  string
	granted  bool
	jobID    any
	// field and newValue are a correction's; restricted a restriction's.
	field      string
	newValue   string
	restricted bool
}

func (v vars) value(name string) (any, error) {
	switch {
	case name == string(v.identity.Kind):
		return v.identity.Value, nil
	case name == "purpose":
		return v.purpose, nil
	case name == "granted":
		return v.granted, nil
	case name == "field":
		return v.field, nil
	case name == "value":
		return v.newValue, nil
	case name == "restricted":
		return v.restricted, nil
	case name == "job.id":
		return v.jobID, nil
	case strings.HasPrefix(name, "record."):
		val, ok := at(v.record, strings.TrimPrefix(name, "record."))
		if !ok || val == nil {
			return nil, fmt.Errorf("%w: the record has no field %s", errTemplate, strings.TrimPrefix(name, "record."))
		}
		return val, nil
	}
	return nil, fmt.Errorf("%w: no value for {%s} (the subject has no such identity)", errTemplate, name)
}

var errTemplate = fmt.Errorf("template")

// expand fills the placeholders of s, escaping each value with esc.
func expand(s string, v vars, esc func(string) string) (string, error) {
	var err error
	out := placeholder.ReplaceAllStringFunc(s, func(m string) string {
		val, e := v.value(m[1 : len(m)-1])
		if e != nil {
			err = e
			return ""
		}
		return esc(text(val))
	})
	return out, err
}

// expandBody fills a JSON body template. A string that is exactly one
// placeholder takes the value's own type ({granted} becomes true, not
// "true"); values are encoded by encoding/json, so no identity value can
// change the body's structure.
func expandBody(node any, v vars) (any, error) {
	switch n := node.(type) {
	case string:
		if m := placeholder.FindStringSubmatch(n); m != nil && m[0] == n {
			return v.value(m[1])
		}
		return expand(n, v, func(s string) string { return s })
	case map[string]any:
		out := make(map[string]any, len(n))
		for k, val := range n {
			e, err := expandBody(val, v)
			if err != nil {
				return nil, err
			}
			out[k] = e
		}
		return out, nil
	case []any:
		out := make([]any, len(n))
		for i, val := range n {
			e, err := expandBody(val, v)
			if err != nil {
				return nil, err
			}
			out[i] = e
		}
		return out, nil
	}
	return node, nil
}

// pathEscape escapes a value for one path segment; "." and ".." are
// encoded too, so a value cannot climb out of the template's path.
func pathEscape(s string) string {
	e := url.PathEscape(s)
	if e == "." || e == ".." {
		return strings.Repeat("%2E", len(e))
	}
	return e
}

func text(v any) string {
	switch t := v.(type) {
	case string:
		return t
	case json.Number:
		return t.String()
	case bool:
		return strconv.FormatBool(t)
	case nil:
		return ""
	}
	return fmt.Sprint(v)
}

// at follows a dotted path ("meta.next", "data.items") into decoded JSON;
// "" is the node itself.
func at(node any, path string) (any, bool) {
	if path == "" {
		return node, true
	}
	for _, part := range strings.Split(path, ".") {
		m, ok := node.(map[string]any)
		if !ok {
			return nil, false
		}
		if node, ok = m[part]; !ok {
			return nil, false
		}
	}
	return node, true
}

// IsSearch says whether a lookup passes the identity as a search term (in
// the query string or the body) rather than as the record's own address
// (/contacts/{email}): a search may answer with near matches, other
// people's records among them.
func IsSearch(c Call) bool {
	if _, query, ok := strings.Cut(c.Path, "?"); ok && strings.Contains(query, "{") {
		return true
	}
	return c.Body != nil
}
