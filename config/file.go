// Package config loads the engine's settings: flags and environment
// variables for the process, and the YAML data map for what the engine
// knows about the company (departments now, systems with the connectors).
// Everything is validated at load; errors name the file, line and field, or
// the flag and its environment variable.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"os"
	"regexp"
	"strings"

	"gopkg.in/yaml.v3"

	httpconn "github.com/dsrengine/dsr/connectors/http"
	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/records"
)

// File is the YAML data map.
type File struct {
	Departments []Department `yaml:"departments"`
	Systems     []System     `yaml:"systems"`
	// Reminders sets when requests remind and escalate; absent means the
	// defaults (halfway, 7 days and 1 day before, daily escalation).
	Reminders *Reminders `yaml:"reminders"`
	// Packages says how long and how often an access package may be
	// downloaded; absent means 30 days and 5 downloads.
	Packages *Packages `yaml:"packages"`
	// Erasure sets the evidence hold before an erased subject's key is
	// destroyed and the resurrection checks within it; absent means the
	// defaults (30 days; checks at 7 and 30 days).
	Erasure *Erasure `yaml:"erasure"`
	// Compliance is where compliance's notices and escalations go in Slack.
	Compliance *Compliance `yaml:"compliance"`
	// IdentityKinds are the map's own kinds of identifier (a loyalty
	// number), besides email, phone and customer_id.
	IdentityKinds []domain.KindSpec `yaml:"identity_kinds"`
	// PurposeKinds says which purposes are marketing (an objection to
	// direct marketing withdraws them), sale or sharing (an opt-out of
	// sale and sharing withdraws them) and sensitive (a limit of sensitive
	// data withdraws them): kind to purposes.
	PurposeKinds map[string][]string `yaml:"purpose_kinds"`

	path string
	root *yaml.Node
}

// System is one system that holds personal data.
type System struct {
	Name       string `yaml:"name"`
	Department string `yaml:"department"`
	// Connector is how the engine reaches it: sql, http, redis or manual.
	Connector string          `yaml:"connector"`
	SQL       *SQLSettings    `yaml:"sql"`
	HTTP      *HTTPSettings   `yaml:"http"`
	Redis     *RedisSettings  `yaml:"redis"`
	Manual    *ManualSettings `yaml:"manual"`
	// Keys are a redis system's key patterns.
	Keys []KeyPattern `yaml:"keys"`
	// Objects are an http system's kinds of records.
	Objects []httpconn.Object `yaml:"objects"`
	// What the access package tells the subject.
	Purposes     []string `yaml:"purposes"`
	LegalBasis   string   `yaml:"legal_basis"`
	Recipients   []string `yaml:"recipients"`
	SoldOrShared bool     `yaml:"sold_or_shared"`
	Retention    string   `yaml:"retention"`
	// Categories are the kinds of data the system holds where its fields
	// are not listed (a Redis store, a manual system); the categories of
	// listed fields (tables, objects) are added to them.
	Categories []string `yaml:"categories"`
	// Source says where the data came from when not from the subject
	// (GDPR Art. 14(2)(f)); empty means the subject gave it.
	Source string `yaml:"source"`
	// Transfers are the countries outside the subject's own region the
	// data goes to, with the safeguard of each (GDPR Art. 15(2), 46).
	Transfers []Transfer `yaml:"transfers"`
	// AutomatedDecisions describes decisions made by automated means alone
	// from this data, their logic and consequences (GDPR Art. 22);
	// empty means there are none.
	AutomatedDecisions string `yaml:"automated_decisions"`
	// SignOffFor lists kinds besides erasure that need the department's sign-off.
	SignOffFor []string `yaml:"signoff_for"`
	Tables     []Table  `yaml:"tables"`
	// RateLimit bounds how many of the system's activities (a discovery,
	// an export, an erasure) start per second across every worker, as
	// "N/s", "N/m" or "N/h"; empty is no bound beyond its connector
	// class's. A bounded system gets a task queue of its own, whose rate
	// Temporal enforces.
	RateLimit string `yaml:"rate_limit"`

	line int
}

// Transfer is one destination outside the subject's region.
type Transfer struct {
	To        string `yaml:"to"`        // the recipient and country
	Safeguard string `yaml:"safeguard"` // adequacy decision, standard contractual clauses, …
}

// SQLSettings say how to connect; the DSN itself stays in the environment.
type SQLSettings struct {
	Driver string `yaml:"driver"` // postgres, mysql or sqlite
	DSNEnv string `yaml:"dsn_env"`
}

// RedisSettings say how to connect; the URL stays in the environment.
type RedisSettings struct {
	URLEnv string `yaml:"url_env"`
}

// KeyPattern finds a subject's keys, e.g. "session:{email}:*".
type KeyPattern struct {
	Pattern   string `yaml:"pattern"`
	Erase     string `yaml:"erase"` // delete or keep
	LegalHold string `yaml:"legal_hold"`
	// Links maps identity kinds to the hash fields trusted for linking.
	Links map[string]string `yaml:"links"`
	// Correct maps the fields a rectification names to hash fields.
	Correct map[string]string `yaml:"correct"`
}

// Table is one table of an SQL system.
type Table struct {
	// Name is the table, or schema.table outside the connection's default
	// schema (database, on MariaDB).
	Name string `yaml:"name"`
	// PrimaryKey is the column, or the list of columns, that identifies a
	// row: the table's primary key or a unique constraint.
	PrimaryKey Columns `yaml:"primary_key"`
	// Identity maps identity kinds (email, phone, customer_id or a kind
	// the map declares) to the column, or columns, that hold them.
	Identity map[string]Columns `yaml:"identity"`
	// Fields maps columns to their data categories.
	Fields map[string][]string `yaml:"fields"`
	// Erase is the strategy: delete, update (each erase_fields column says
	// how), keep, or null, mask or hmac for every erase_fields column.
	Erase       string          `yaml:"erase"`
	EraseFields FieldStrategies `yaml:"erase_fields"`
	// Shared says what becomes of a subject's row that other people's rows
	// still point at (an address two customers share): never deleted, it
	// is kept as it is, or changed as these fields say.
	Shared FieldStrategies `yaml:"shared"`
	// LegalHold says why rows are kept (erase: keep, or an update).
	LegalHold string `yaml:"legal_hold"`
	// Consent maps purposes to the boolean column that records consent.
	Consent map[string]string `yaml:"consent"`
	// Restriction maps purposes to the boolean column that records that
	// the subject restricted (or, upheld, objected to) processing for the
	// purpose; "all" names a column that stops every purpose.
	Restriction map[string]string `yaml:"restriction"`
	// Correct maps the fields a rectification may correct, by the name a
	// request gives them ("email", "name"), to their column.
	Correct map[string]string `yaml:"correct"`
	// Via are the links that reach this table from another one, each
	// written child.column -> parent.column, this table on either side:
	// "orders.customer_id -> customers.id" (this table holds the key) or
	// "customers.address_id -> addresses.id" (the other one does).
	Via []string `yaml:"via"`
	// Reference is the first data map's single link; Via replaced it.
	Reference yaml.Node `yaml:"reference"`
	// Links are the identity kinds whose columns in this table are
	// authoritative: a value there on the subject's row is proposed to
	// compliance as the subject's own (a customer number the CRM assigned).
	// A column the user types into (a phone) is never one: it may hold
	// someone else's. None by default.
	Links []string `yaml:"links"`
}

// FieldStrategy is what erasure writes into one column.
type FieldStrategy struct {
	Column string
	// Strategy is null, set (Value), mask or hmac; empty in the list form,
	// where the table's erase says.
	Strategy string
	Value    string
}

// FieldStrategies are a list of columns (the table's erase strategy for
// each), or a mapping from column to strategy:
//
//	erase_fields: {email: hmac, name: mask, phone: null, status: {set: erased}}
type FieldStrategies []FieldStrategy

// UnmarshalYAML reads both forms, in the order written.
func (fs *FieldStrategies) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.SequenceNode:
		for _, item := range n.Content {
			if item.Kind != yaml.ScalarNode {
				return fmt.Errorf("line %d: a column name is expected here", item.Line)
			}
			*fs = append(*fs, FieldStrategy{Column: item.Value})
		}
		return nil
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			key, val := n.Content[i], n.Content[i+1]
			f := FieldStrategy{Column: key.Value}
			switch {
			case val.Kind == yaml.ScalarNode && val.Tag == "!!null":
				f.Strategy = "null" // a bare null says it as well as "null"
			case val.Kind == yaml.ScalarNode:
				f.Strategy = val.Value
			case val.Kind == yaml.MappingNode && len(val.Content) == 2 && val.Content[0].Value == "set" && val.Content[1].Kind == yaml.ScalarNode:
				f.Strategy, f.Value = "set", val.Content[1].Value
			default:
				return fmt.Errorf("line %d: %s: null, mask, hmac or {set: value} is expected here", val.Line, key.Value)
			}
			*fs = append(*fs, f)
		}
		return nil
	}
	return fmt.Errorf("line %d: a list of columns, or a mapping from column to null, mask, hmac or {set: value}, is expected here", n.Line)
}

// Columns lists the columns.
func (fs FieldStrategies) Columns() []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = f.Column
	}
	return out
}

// Compliance is the privacy team in Slack.
type Compliance struct {
	Channel string `yaml:"channel"`
	// Lead is mentioned in escalations: a Slack user id or an e-mail.
	Lead string `yaml:"lead"`
}

// Department owns systems and signs off on requests.
type Department struct {
	Name      string   `yaml:"name"`
	Channel   string   `yaml:"channel"`
	Approvers []string `yaml:"approvers"`
	// DirectMessages sends the department's Slack messages to each
	// approver instead of the channel.
	DirectMessages bool `yaml:"direct_messages"`

	line int
}

// Error names where in which file something is wrong.
type Error struct {
	File  string
	Line  int
	Field string
	Msg   string
}

func (e *Error) Error() string {
	loc := e.File
	if e.Line > 0 {
		loc = fmt.Sprintf("%s:%d", e.File, e.Line)
	}
	if e.Field == "" {
		return fmt.Sprintf("%s: %s", loc, e.Msg)
	}
	return fmt.Sprintf("%s: %s: %s", loc, e.Field, e.Msg)
}

// Load reads and validates a data map file.
func Load(path string) (*File, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return Parse(path, b)
}

// Parse validates a data map given as bytes; path is used in errors.
func Parse(path string, b []byte) (*File, error) {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(b))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, &Error{File: path, Msg: "file is empty"}
		}
		return nil, yamlError(path, strings.TrimPrefix(err.Error(), "yaml: "))
	}
	f := &File{path: path}
	strict := yaml.NewDecoder(bytes.NewReader(b))
	strict.KnownFields(true)
	if err := strict.Decode(f); err != nil {
		var te *yaml.TypeError
		msg := err.Error()
		if errors.As(err, &te) && len(te.Errors) > 0 {
			msg = te.Errors[0]
		}
		e := yamlError(path, msg)
		// Name the field whose value is on that line, and what it takes.
		if fe, ok := e.(*Error); ok && fe.Line > 0 {
			if field := fieldAt(&root, fe.Line); field != "" {
				fe.Field, fe.Msg = field, expected(fe.Msg)
			}
		}
		return nil, e
	}
	markLines(&root, f)
	f.root = &root
	if err := f.validate(); err != nil {
		return nil, err
	}
	return f, nil
}

var (
	yamlLine    = regexp.MustCompile(`^line (\d+): (.*)$`)
	yamlUnknown = regexp.MustCompile(`field (\S+) not found in type (?:config|http|domain)\.(\w+)`)
	yamlType    = regexp.MustCompile(`into (\[\])?(?:config|http|domain)\.(\w+)`)
)

// yamlError turns a yaml.v3 message into an Error with its line, in words
// that name the data map rather than Go types.
func yamlError(path, msg string) error {
	e := &Error{File: path, Msg: msg}
	if m := yamlLine.FindStringSubmatch(msg); m != nil {
		fmt.Sscan(m[1], &e.Line)
		e.Msg = m[2]
	}
	e.Msg = yamlUnknown.ReplaceAllStringFunc(e.Msg, func(s string) string {
		m := yamlUnknown.FindStringSubmatch(s)
		return fmt.Sprintf("unknown field %q %s", m[1], where(m[2]))
	})
	e.Msg = yamlType.ReplaceAllStringFunc(e.Msg, func(s string) string {
		m := yamlType.FindStringSubmatch(s)
		if m[1] != "" {
			return "into a list of " + noun(m[2]) + "s"
		}
		return "into a " + noun(m[2])
	})
	return e
}

func noun(goType string) string {
	switch goType {
	case "File":
		return "data map"
	case "KindSpec":
		return "identity kind"
	}
	return strings.ToLower(goType)
}

func where(goType string) string {
	if goType == "File" {
		return "at the top level"
	}
	return "in a " + noun(goType)
}

// markLines remembers where each department and system starts, for error messages.
func markLines(root *yaml.Node, f *File) {
	if len(root.Content) == 0 || root.Content[0].Kind != yaml.MappingNode {
		return
	}
	m := root.Content[0]
	for i := 0; i+1 < len(m.Content); i += 2 {
		if m.Content[i+1].Kind != yaml.SequenceNode {
			continue
		}
		for j, item := range m.Content[i+1].Content {
			switch {
			case m.Content[i].Value == "departments" && j < len(f.Departments):
				f.Departments[j].line = item.Line
			case m.Content[i].Value == "systems" && j < len(f.Systems):
				f.Systems[j].line = item.Line
			}
		}
	}
}

var (
	channelPattern = regexp.MustCompile(`^(#[a-z0-9][a-z0-9_-]{0,79}|[CGD][A-Z0-9]{8,})$`)
	slackUser      = regexp.MustCompile(`^[UW][A-Z0-9]{8,}$`)
	emailish       = regexp.MustCompile(`^[^@\s]+@[^@\s]+\.[^@\s]+$`)
)

func (f *File) validate() error {
	seen := map[string]int{}
	for i, d := range f.Departments {
		field := fmt.Sprintf("departments[%d]", i)
		fail := func(sub, msg string) error {
			return &Error{File: f.path, Line: f.lineOf(field+sub, d.line), Field: field + sub, Msg: msg}
		}
		if !domain.ValidDepartmentName(d.Name) {
			return fail(".name", fmt.Sprintf("%q must be 1-64 letters, digits, spaces, '_' or '-', starting with a letter", d.Name))
		}
		key := strings.ToLower(d.Name)
		if first, dup := seen[key]; dup {
			return fail(".name", fmt.Sprintf("%q is declared twice (also at departments[%d])", d.Name, first))
		}
		seen[key] = i
		if d.Channel != "" && !channelPattern.MatchString(d.Channel) {
			return fail(".channel", fmt.Sprintf("%q must be a Slack channel name like #finance or a channel id like C0123456789", d.Channel))
		}
		if len(d.Approvers) == 0 {
			return fail(".approvers", "at least one approver is required: a department nobody can sign off for blocks every request")
		}
		for j, a := range d.Approvers {
			if !slackUser.MatchString(a) && !emailish.MatchString(a) {
				return fail(fmt.Sprintf(".approvers[%d]", j), fmt.Sprintf("%q must be a Slack user id (U0123456789) or an e-mail address", a))
			}
		}
	}
	if c := f.Compliance; c != nil {
		fail := func(field, msg string) error { return &Error{File: f.path, Field: "compliance." + field, Msg: msg} }
		if !channelPattern.MatchString(c.Channel) {
			return fail("channel", fmt.Sprintf("%q must be a Slack channel name like #privacy or a channel id", c.Channel))
		}
		if c.Lead != "" && !slackUser.MatchString(c.Lead) && !emailish.MatchString(c.Lead) {
			return fail("lead", fmt.Sprintf("%q must be a Slack user id (U0123456789) or an e-mail address", c.Lead))
		}
	}
	if _, err := f.CustomKinds(); err != nil {
		return err
	}
	if err := f.validateReminders(); err != nil {
		return err
	}
	if _, err := f.PackagePolicy(); err != nil {
		return err
	}
	if _, err := f.Aftercare(); err != nil {
		return err
	}
	if err := f.validateSystems(seen); err != nil {
		return err
	}
	return f.validatePurposeKinds()
}

// Line is where the system starts in the file, for errors found when the
// engine connects to it.
func (s System) Line() int { return s.line }

// Path is where the file was read from.
func (f *File) Path() string { return f.path }

// StoreDepartments converts the departments for store.SyncDepartments.
func (f *File) StoreDepartments() []records.Department {
	out := make([]records.Department, len(f.Departments))
	for i, d := range f.Departments {
		out[i] = records.Department{Name: d.Name, Channel: d.Channel, Approvers: d.Approvers}
	}
	return out
}

// Columns is one column name or a list of them.
type Columns []string

// UnmarshalYAML reads "id" and [order_id, line_no] alike.
func (c *Columns) UnmarshalYAML(n *yaml.Node) error {
	switch n.Kind {
	case yaml.ScalarNode:
		*c = Columns{n.Value}
		return nil
	case yaml.SequenceNode:
		var list []string
		if err := n.Decode(&list); err != nil {
			return err
		}
		*c = list
		return nil
	}
	return fmt.Errorf("line %d: a column name, or a list of column names, is expected here", n.Line)
}

// lineOf is the line of the field at path (systems[0].tables[1].erase),
// or of its nearest ancestor that is written, or fallback: a validation
// error points at the exact field, even one that is missing.
func (f *File) lineOf(path string, fallback int) int {
	if f.root == nil || len(f.root.Content) == 0 {
		return fallback
	}
	n, line := f.root.Content[0], fallback
	for _, part := range strings.Split(path, ".") {
		name, idx, indexed := part, 0, false
		if open := strings.IndexByte(part, '['); open >= 0 && strings.HasSuffix(part, "]") {
			if _, err := fmt.Sscan(part[open+1:len(part)-1], &idx); err == nil {
				name, indexed = part[:open], true
			}
		}
		next := (*yaml.Node)(nil)
		if n.Kind == yaml.MappingNode {
			for i := 0; i+1 < len(n.Content); i += 2 {
				if n.Content[i].Value == name {
					next, line = n.Content[i+1], n.Content[i].Line
					break
				}
			}
		}
		if next == nil {
			return line
		}
		n = next
		if indexed {
			if n.Kind != yaml.SequenceNode || idx >= len(n.Content) {
				return line
			}
			n, line = n.Content[idx], n.Content[idx].Line
		}
	}
	return line
}

// fieldAt is the path (systems[0].tables[1].erase) of the field whose
// value starts on line, or "".
func fieldAt(root *yaml.Node, line int) string {
	var walk func(n *yaml.Node, path string) string
	walk = func(n *yaml.Node, path string) string {
		switch n.Kind {
		case yaml.DocumentNode:
			for _, c := range n.Content {
				if p := walk(c, path); p != "" {
					return p
				}
			}
		case yaml.MappingNode:
			for i := 0; i+1 < len(n.Content); i += 2 {
				key, val := n.Content[i], n.Content[i+1]
				p := key.Value
				if path != "" {
					p = path + "." + key.Value
				}
				// The value on the line, or a key there whose value is a block below.
				if val.Line == line && (val.Kind != yaml.MappingNode && val.Kind != yaml.SequenceNode || key.Line == line) ||
					key.Line == line && val.Line > line {
					return p
				}
				if found := walk(val, p); found != "" {
					return found
				}
			}
		case yaml.SequenceNode:
			for i, c := range n.Content {
				if found := walk(c, fmt.Sprintf("%s[%d]", path, i)); found != "" {
					return found
				}
			}
		}
		return ""
	}
	return walk(root, "")
}

// unmarshalInto reads yaml.v3's "cannot unmarshal !!seq into string".
var unmarshalInto = regexp.MustCompile(`^cannot unmarshal !!(\w+)(?: ` + "`" + `[^` + "`" + `]*` + "`" + `)? into (.+)$`)

// expected says, for a value of the wrong shape, what was given and what
// the field takes, in the data map's words.
func expected(msg string) string {
	m := unmarshalInto.FindStringSubmatch(msg)
	if m == nil {
		return msg
	}
	given := map[string]string{"seq": "a list", "map": "a mapping", "str": "text", "int": "a number", "bool": "true or false", "float": "a number"}[m[1]]
	if given == "" {
		given = "a " + m[1]
	}
	want := m[2]
	switch {
	case want == "string":
		want = "a single value (text)"
	case want == "[]string":
		want = "a list of values, e.g. [a, b]"
	case strings.HasPrefix(want, "map["):
		want = "a mapping, e.g. {key: value}"
	case want == "int" || want == "int64":
		want = "a whole number"
	case want == "bool":
		want = "true or false"
	}
	return fmt.Sprintf("%s was given; this field takes %s", given, want)
}
