package engine

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/dsrengine/dsr/config"
	dsrsql "github.com/dsrengine/dsr/connectors/sql"
)

// ErrFindings is scan's answer when the schema holds what the map does
// not cover: commands exit 1 on it, so CI can gate a schema change.
var ErrFindings = errors.New("the data map does not cover the schema")

// ScanFinding is what dsrsql.Scan found in one system.
type ScanFinding struct {
	System string `json:"system"`
	dsrsql.Finding
}

// Scan compares every SQL system's catalog with the data map (see
// dsrsql.Scan); systems of other kinds have no catalog to read.
func Scan(ctx context.Context, f *config.File, getenv func(string) string) ([]ScanFinding, error) {
	out := []ScanFinding{}
	for i, s := range f.Systems {
		if s.Connector != "sql" {
			continue
		}
		where := fmt.Sprintf("%s:%d: systems[%d] (%s)", f.Path(), s.Line(), i, s.Name)
		dsn := getenv(s.SQL.DSNEnv)
		if dsn == "" {
			return nil, fmt.Errorf("%s: environment variable %s is not set (it holds the connection string)", where, s.SQL.DSNEnv)
		}
		tables := make([]dsrsql.Table, len(s.Tables))
		for j, t := range s.Tables {
			tables[j] = SQLTable(t)
		}
		found, err := dsrsql.Scan(ctx, s.SQL.Driver, dsn, tables)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", where, err)
		}
		for _, fd := range found {
			out = append(out, ScanFinding{System: s.Name, Finding: fd})
		}
	}
	return out, nil
}

// ScanCommand is "scan [--output table|json]" of worker and dev: it
// loads the map with load (given the --config flag's value), scans, and
// prints. It changes nothing; with findings it returns ErrFindings.
func ScanCommand(ctx context.Context, args []string, defaultConfig string, load func(string) (*config.File, error), getenv func(string) string, out io.Writer) error {
	fs := flag.NewFlagSet("scan", flag.ContinueOnError)
	fs.SetOutput(out)
	file := fs.String("config", defaultConfig, "data map YAML file (env DSR_CONFIG)")
	output := fs.String("output", "table", "table or json")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("scan: unexpected argument %q", fs.Arg(0))
	}
	if *output != "table" && *output != "json" {
		return fmt.Errorf("scan: --output %q: must be table or json", *output)
	}
	m, err := load(*file)
	if err != nil {
		return err
	}
	findings, err := Scan(ctx, m, getenv)
	if err != nil {
		return fmt.Errorf("scan: %w", err)
	}
	if *output == "json" {
		enc := json.NewEncoder(out)
		enc.SetIndent("", "  ")
		if err := enc.Encode(findings); err != nil {
			return err
		}
	} else if len(findings) == 0 {
		fmt.Fprintln(out, "The data map covers every table and column that looks personal.")
	} else {
		tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "SYSTEM\tTABLE\tCOLUMN\tFINDING\tWHY")
		for _, f := range findings {
			col := f.Column
			if col == "" {
				col = "-"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\n", f.System, f.Table, col, f.Kind, f.Reason)
		}
		if err := tw.Flush(); err != nil {
			return err
		}
	}
	if len(findings) > 0 {
		return fmt.Errorf("%w: %d findings", ErrFindings, len(findings))
	}
	return nil
}
