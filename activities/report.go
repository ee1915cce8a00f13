package activities

import (
	"archive/zip"
	"embed"
	"encoding/json"
	"html/template"
	"slices"
	"strings"
	"unicode/utf8"

	"github.com/dsrengine/dsr/domain"
)

// reportRows and reportCellRunes bound what report.html shows of each
// table, so the page stays readable and its memory small whatever the
// export holds; the CSV and JSON files beside it hold everything.
const (
	reportRows      = 100
	reportCellRunes = 300
)

//go:embed report/report.html
var reportFS embed.FS

var reportPage = template.Must(template.New("report.html").Funcs(template.FuncMap{
	"words": words, "title": title,
}).ParseFS(reportFS, "report/report.html"))

// report is what report.html is made from.
type report struct {
	RequestID  string
	Type       domain.RequestType
	Regulation domain.Regulation
	Law        string
	Authority  string
	Systems    []reportSystem
}

type reportSystem struct {
	SystemSummary
	Tables []reportTable
}

// reportTable is one table's first rows, their columns ordered and
// grouped by data category.
type reportTable struct {
	Name    string
	File    string
	Groups  []reportGroup
	Columns []string
	Rows    [][]string
	More    int64 // rows not shown here
}

type reportGroup struct {
	Category string
	Span     int
}

// addReport writes report.html: the answer as a person reads it, one
// self-contained page with no script and nothing loaded from elsewhere.
func addReport(z *zip.Writer, in PackageInput, tables map[string][]*csvTable) error {
	r := report{RequestID: in.RequestID, Type: in.Type, Regulation: in.Regulation,
		Law: in.Regulation.Law(), Authority: in.Regulation.Authority()}
	for _, s := range in.Systems {
		rs := reportSystem{SystemSummary: s}
		for _, t := range tables[s.System] {
			rs.Tables = append(rs.Tables, groupTable(t, s.Categories))
		}
		r.Systems = append(r.Systems, rs)
	}
	w, err := zipEntry(z, "report.html")
	if err != nil {
		return err
	}
	return reportPage.Execute(w, r)
}

// groupTable orders a table's columns by the data category the map gives
// each field, in the categories' order; columns the map does not list
// come last, as other details.
func groupTable(t *csvTable, cats []Category) reportTable {
	out := reportTable{Name: t.name, File: t.file, More: t.rows - int64(len(t.sample))}
	var order []int
	placed := make([]bool, len(t.columns))
	group := func(name string, cols []int) {
		if len(cols) == 0 {
			return
		}
		out.Groups = append(out.Groups, reportGroup{Category: name, Span: len(cols)})
		order = append(order, cols...)
	}
	for _, c := range cats {
		var cols []int
		for i, col := range t.columns {
			if !placed[i] && slices.Contains(c.Fields, col) {
				placed[i] = true
				cols = append(cols, i)
			}
		}
		group(c.Name, cols)
	}
	var rest []int
	for i := range t.columns {
		if !placed[i] {
			rest = append(rest, i)
		}
	}
	group("other details", rest)
	for _, i := range order {
		out.Columns = append(out.Columns, t.columns[i])
	}
	for _, row := range t.sample {
		cells := make([]string, len(order))
		for j, i := range order {
			if i < len(row) {
				cells[j] = row[i]
			}
		}
		out.Rows = append(out.Rows, cells)
	}
	return out
}

// reportRow is a row's values in the table's columns (as known so far),
// as text a person reads: no spreadsheet escaping, long values cut.
func reportRow(columns []string, row map[string]any) []string {
	out := make([]string, len(columns))
	for i, col := range columns {
		v, ok := row[col]
		if !ok {
			continue
		}
		var s string
		switch x := v.(type) {
		case nil:
		case string:
			s = x
		case json.Number:
			s = x.String()
		default:
			b, _ := json.Marshal(x)
			s = string(b)
		}
		if utf8.RuneCountInString(s) > reportCellRunes {
			s = string([]rune(s)[:reportCellRunes]) + "…"
		}
		out[i] = s
	}
	return out
}

// words turns a field or purpose name into words: "alt_email" is "alt email".
func words(s string) string {
	return strings.Join(strings.FieldsFunc(s, func(r rune) bool { return r == '_' || r == '-' || r == '.' }), " ")
}

// title is words with a capital first letter, for headings.
func title(s string) string {
	s = words(s)
	r, n := utf8.DecodeRuneInString(s)
	return strings.ToUpper(string(r)) + s[n:]
}
