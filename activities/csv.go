package activities

import (
	"archive/zip"
	"bytes"
	"crypto/sha256"
	"encoding/csv"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
)

// An export is one JSON object whose members are a system's tables, in
// one of the connectors' shapes:
//
//	SQL:   {"customers": {"categories": {…}, "undeclared_columns": […], "rows": [{…}, …]}}
//	HTTP:  {"contacts": [{…}, …]}
//	Redis: {"session:{email}:*": {"session:jane@example.com:1": value, …}}
//
// The package also carries each table as CSV, for the subject to take to
// another service (portability). Both passes below stream the export from
// disk, so memory holds one row, never the table: the first pass learns
// each table's columns (their union, in the order first seen), the second
// writes the rows under them. Each pass checks the export's digest.

// csvTable is what the first pass learns of one table, and what the
// second keeps for the report: its first rows and how many there are.
type csvTable struct {
	name    string
	file    string // the CSV's name in the package
	columns []string
	index   map[string]int
	sample  [][]string // the first reportRows rows, as the report shows them
	rows    int64
}

// addCSVs adds systems/<system>/<table>.csv for every table of the export
// at path and returns the tables written.
func addCSVs(z *zip.Writer, system, path, digest string, key []byte) ([]*csvTable, error) {
	var tables []*csvTable
	files := map[string]bool{}
	err := walkExport(path, digest, key, func(name string) (func(map[string]any) error, error) {
		t := &csvTable{name: name, index: map[string]int{}}
		base := safeName(name)
		t.file = "systems/" + safeName(system) + "/" + base + ".csv"
		for i := 2; files[t.file]; i++ {
			t.file = fmt.Sprintf("systems/%s/%s-%d.csv", safeName(system), base, i)
		}
		files[t.file] = true
		tables = append(tables, t)
		return func(row map[string]any) error {
			for _, k := range slices.Sorted(maps.Keys(row)) {
				if _, ok := t.index[k]; !ok {
					t.index[k] = len(t.columns)
					t.columns = append(t.columns, k)
				}
			}
			return nil
		}, nil
	})
	var odd shapeError
	var syntax *json.SyntaxError
	if errors.As(err, &odd) || errors.As(err, &syntax) || errors.Is(err, io.ErrUnexpectedEOF) {
		// A connector of the company's own may write any JSON, or none: its export
		// is in the package as it is, with no CSV. Nothing is written yet.
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	i := 0
	var w *csv.Writer
	err = walkExport(path, digest, key, func(string) (func(map[string]any) error, error) {
		if w != nil {
			if w.Flush(); w.Error() != nil {
				return nil, w.Error()
			}
		}
		if i == len(tables) {
			return nil, tampered()
		}
		t := tables[i]
		i++
		entry, err := zipEntry(z, t.file)
		if err != nil {
			return nil, err
		}
		w = csv.NewWriter(entry)
		if err := w.Write(t.columns); err != nil {
			return nil, err
		}
		record := make([]string, len(t.columns))
		return func(row map[string]any) error {
			for j := range record {
				record[j] = ""
			}
			for k, v := range row {
				j, ok := t.index[k]
				if !ok {
					return tampered()
				}
				record[j] = cell(v)
			}
			if t.rows++; len(t.sample) < reportRows {
				t.sample = append(t.sample, reportRow(t.columns, row))
			}
			return w.Write(record)
		}, nil
	})
	if err != nil {
		return nil, err
	}
	if w != nil {
		if w.Flush(); w.Error() != nil {
			return nil, w.Error()
		}
	}
	return tables, addTableJSON(z, path, digest, key, tables)
}

// addTableJSON adds systems/<system>/<table>.json beside each CSV: the
// table's rows as a JSON array, structured as the system gave them. It
// streams the export once more, a row at a time.
func addTableJSON(z *zip.Writer, path, digest string, key []byte, tables []*csvTable) error {
	i := 0
	var entry io.Writer
	end := func() error {
		if entry == nil {
			return nil
		}
		_, err := io.WriteString(entry, "]\n")
		return err
	}
	err := walkExport(path, digest, key, func(string) (func(map[string]any) error, error) {
		if err := end(); err != nil {
			return nil, err
		}
		if i == len(tables) {
			return nil, tampered()
		}
		t := tables[i]
		i++
		var err error
		if entry, err = zipEntry(z, strings.TrimSuffix(t.file, ".csv")+".json"); err != nil {
			return nil, err
		}
		if _, err := io.WriteString(entry, "["); err != nil {
			return nil, err
		}
		enc := json.NewEncoder(entry)
		enc.SetEscapeHTML(false)
		sep := "\n"
		return func(row map[string]any) error {
			if _, err := io.WriteString(entry, sep); err != nil {
				return err
			}
			sep = ","
			return enc.Encode(row) // ends the row with a line break
		}, nil
	})
	if err != nil {
		return err
	}
	return end()
}

// walkExport streams the export at path, calling table for each table and
// the function it returns for each of that table's rows, and checks that
// the bytes read are those the export was recorded with.
func walkExport(path, digest string, key []byte, table func(name string) (func(map[string]any) error, error)) error {
	f, err := openFile(path, key)
	if err != nil {
		return err
	}
	defer f.Close()
	h := sha256.New()
	src := io.TeeReader(f, h)
	dec := json.NewDecoder(src)
	dec.UseNumber()
	if err := expect(dec, '{'); err != nil {
		return err
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		name, _ := tok.(string)
		row, err := table(name)
		if err != nil {
			return err
		}
		if err := walkTable(dec, row); err != nil {
			return fmt.Errorf("table %s: %w", name, err)
		}
	}
	if err := expect(dec, '}'); err != nil {
		return err
	}
	// What the decoder did not need still counts towards the digest.
	if _, err := io.Copy(io.Discard, src); err != nil {
		return err
	}
	if hex.EncodeToString(h.Sum(nil)) != digest {
		return tampered()
	}
	return nil
}

// walkTable reads one table's value, in any of the three shapes.
func walkTable(dec *json.Decoder, row func(map[string]any) error) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	switch tok {
	case json.Delim('['):
		return walkRows(dec, row)
	case json.Delim('{'):
	default:
		return shapeError{fmt.Sprintf("a table's value is %v", tok)}
	}
	// An SQL table's members are its categories, its undeclared columns
	// and its rows; a Redis pattern's are the subject's keys (which hold
	// the pattern's identity, so never one of those three words), one row
	// per key.
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		switch key, _ := tok.(string); key {
		case "rows":
			if err := expect(dec, '['); err != nil {
				return err
			}
			if err := walkRows(dec, row); err != nil {
				return err
			}
		case "categories", "undeclared_columns":
			var skip json.RawMessage // in the JSON beside the CSV
			if err := dec.Decode(&skip); err != nil {
				return err
			}
		default:
			var v any
			if err := dec.Decode(&v); err != nil {
				return err
			}
			if err := row(map[string]any{"key": key, "value": v}); err != nil {
				return err
			}
		}
	}
	return expect(dec, '}')
}

func walkRows(dec *json.Decoder, row func(map[string]any) error) error {
	for dec.More() {
		var v any
		if err := dec.Decode(&v); err != nil {
			return err
		}
		r, ok := v.(map[string]any)
		if !ok {
			r = map[string]any{"value": v}
		}
		if err := row(r); err != nil {
			return err
		}
	}
	return expect(dec, ']')
}

func expect(dec *json.Decoder, d json.Delim) error {
	tok, err := dec.Token()
	if err != nil {
		return err
	}
	if tok != d {
		return shapeError{fmt.Sprintf("want %v, found %v", d, tok)}
	}
	return nil
}

// shapeError says an export is not in a shape the CSV files are made
// from: the package then carries its JSON alone.
type shapeError struct{ msg string }

func (e shapeError) Error() string { return "the export is not in a shape the package knows: " + e.msg }

// cell is a value as CSV text: nested values as JSON, null as nothing.
// Text that a spreadsheet would run as a formula (=, +, -, @, tab or
// carriage return first) gets a leading apostrophe, so opening the file
// runs nothing; numbers stay as they are.
func cell(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		if x != "" && strings.ContainsRune("=+-@\t\r", rune(x[0])) {
			return "'" + x
		}
		return x
	case json.Number:
		return x.String()
	case bool:
		return fmt.Sprint(x)
	}
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.Encode(v)
	return strings.TrimSuffix(b.String(), "\n")
}

// safeName keeps a table's name usable as a file name in any zip tool:
// letters, digits, dot, dash and underscore; anything else becomes "_".
func safeName(name string) string {
	var b strings.Builder
	for _, r := range name {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '.' && b.Len() > 0, r == '-', r == '_':
			b.WriteRune(r)
		default:
			b.WriteByte('_')
		}
	}
	if b.Len() == 0 {
		return "_"
	}
	return b.String()
}
