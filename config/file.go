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
	// Compliance is where compliance's notices and escalations go in Slack.
	Compliance *Compliance `yaml:"compliance"`

	path string
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
	// SignOffFor lists kinds besides erasure that need the department's sign-off.
	SignOffFor []string `yaml:"signoff_for"`
	Tables     []Table  `yaml:"tables"`

	line int
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
}

// Table is one table of an SQL system.
type Table struct {
	Name string `yaml:"name"`
	// PrimaryKey is the column, or the list of columns, that identifies a
	// row: the table's primary key or a unique constraint.
	PrimaryKey Columns `yaml:"primary_key"`
	// Identity maps identity kinds (email, phone, customer_id) to columns.
	Identity map[string]string `yaml:"identity"`
	// Fields maps columns to their data categories.
	Fields map[string][]string `yaml:"fields"`
	// Erase is the strategy: delete, null, mask, hash or keep.
	Erase       string   `yaml:"erase"`
	EraseFields []string `yaml:"erase_fields"`
	// LegalHold says why rows are kept (erase: keep, mask, null or hash).
	LegalHold string `yaml:"legal_hold"`
	// Consent maps purposes to the boolean column that records consent.
	Consent map[string]string `yaml:"consent"`
	// Reference reaches the table from another one: rows whose Column
	// holds the value of References in the subject's rows of Table
	// (addresses.customer_id → customers.id).
	Reference *Reference `yaml:"reference"`
	// Links are the identity kinds whose columns in this table are
	// authoritative: a value there on the subject's row is proposed to
	// compliance as the subject's own (a customer number the CRM assigned).
	// A column the user types into (a phone) is never one: it may hold
	// someone else's. None by default.
	Links []string `yaml:"links"`
}

// Reference links a table to the table it is reached from.
type Reference struct {
	Table      string `yaml:"table"`
	Column     string `yaml:"column"`
	References string `yaml:"references"`
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
	if err := f.validate(); err != nil {
		return nil, err
	}
	return f, nil
}

var (
	yamlLine    = regexp.MustCompile(`^line (\d+): (.*)$`)
	yamlUnknown = regexp.MustCompile(`field (\S+) not found in type (?:config|http)\.(\w+)`)
	yamlType    = regexp.MustCompile(`into (\[\])?(?:config|http)\.(\w+)`)
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
	if goType == "File" {
		return "data map"
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
			return &Error{File: f.path, Line: d.line, Field: field + sub, Msg: msg}
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
	if err := f.validateReminders(); err != nil {
		return err
	}
	return f.validateSystems(seen)
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
