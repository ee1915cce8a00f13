package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/dsrengine/dsr/activities"
	"github.com/dsrengine/dsr/claims"
	"github.com/dsrengine/dsr/requests"
	"github.com/dsrengine/dsr/workflows"
)

// The record reads run as short audited workflows, so reading evidence is
// itself on the record and starter needs no database.

func (c *cli) auditCmd() *cobra.Command {
	var format, out string
	cmd := &cobra.Command{
		Use:   "audit REQUEST-ID [--format json|html] [--out FILE]",
		Short: "a request's evidence pack: timeline, audit entries, chain state",
		Args:  requestID,
		PreRunE: func(*cobra.Command, []string) error {
			if format != "json" && format != "html" {
				return usage("--format %q: must be json or html", format)
			}
			return nil
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			keys, err := c.keys()
			if err != nil {
				return err
			}
			id := args[0]
			return c.withClient(cmd.Context(), func(cl client.Client) error {
				ev, err := requests.GetEvidence(cmd.Context(), cl, requests.Codecs{Data: keys.DataConverter(), Failure: keys.FailureConverter()}, id, actor())
				if err != nil {
					return err
				}
				w := c.stdout
				if out != "" {
					f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
					if err != nil {
						return err
					}
					defer f.Close()
					w = f
				}
				if format == "html" {
					err = ev.WriteHTML(w)
				} else {
					enc := json.NewEncoder(w)
					enc.SetIndent("", "  ")
					err = enc.Encode(ev)
				}
				if err != nil {
					return fmt.Errorf("write the evidence: %w", err)
				}
				if out != "" {
					fmt.Fprintf(c.stderr, "Evidence for %s written to %s (%d timeline events, %d audit entries).\n", id, out, len(ev.Timeline), len(ev.AuditLog))
				}
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&format, "format", "json", "json, or html for a printable evidence pack")
	cmd.Flags().StringVar(&out, "out", "", "write to this file instead of standard output")
	cmd.AddCommand(c.auditVerifyCmd())
	return cmd
}

// errBroken ends audit verify when the chain is broken; the problems are
// on standard output.
var errBroken = errors.New("the audit log is broken")

func (c *cli) auditVerifyCmd() *cobra.Command {
	return &cobra.Command{
		Use:   "verify",
		Short: "check the audit log's hash chain; exit 1 if an entry was altered or removed",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return c.withClient(cmd.Context(), func(cl client.Client) error {
				check, err := requests.VerifyAudit(cmd.Context(), cl, actor())
				if err != nil {
					return err
				}
				switch {
				case c.output == "json":
					if err := c.writeJSON(check); err != nil {
						return err
					}
				case len(check.Problems) == 0:
					fmt.Fprintf(c.stdout, "Audit log intact: %d entries, each chained to the one before.\n", check.Entries)
				default:
					fmt.Fprintf(c.stdout, "AUDIT LOG BROKEN: %d problems in %d entries:\n", len(check.Problems), check.Entries)
					for _, p := range check.Problems {
						fmt.Fprintln(c.stdout, "  "+p)
					}
				}
				if len(check.Problems) > 0 {
					return errBroken
				}
				return nil
			})
		},
	}
}

func (c *cli) metricsCmd() *cobra.Command {
	year := time.Now().UTC().Year() - 1
	var from, to string
	cmd := &cobra.Command{
		Use:   "metrics [--from YYYY-MM-DD --to YYYY-MM-DD]",
		Short: "the figures a period's requests add up to (default: last calendar year)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			start, err1 := time.Parse(time.DateOnly, from)
			end, err2 := time.Parse(time.DateOnly, to)
			if err1 != nil || err2 != nil {
				return usage("--from and --to are dates like 2026-01-01")
			}
			if !start.Before(end) {
				return usage("--to %s must come after --from %s", to, from)
			}
			return c.withClient(cmd.Context(), func(cl client.Client) error {
				r, err := requests.Report(cmd.Context(), cl, start, end, actor())
				if err != nil {
					return err
				}
				if c.output == "json" {
					return c.writeJSON(r)
				}
				fmt.Fprintf(c.stdout, "Requests received from %s to %s (computed %s)\n\n", from, end.AddDate(0, 0, -1).Format(time.DateOnly), r.At.Format("2006-01-02 15:04 MST"))
				tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
				fmt.Fprintln(tw, "KIND\tRECEIVED\tCOMPLIED\tIN PART\tDENIED\tCANCELLED\tOPEN\tMEDIAN DAYS\tP90 DAYS\tOVERDUE\t")
				for _, f := range append(r.Kinds, r.Totals) {
					fmt.Fprintf(tw, "%s\t%d\t%d\t%d\t%d\t%d\t%d\t%.1f\t%.1f\t%d\t\n", f.Kind, f.Received, f.Complied, f.CompliedInPart, f.Denied, f.Cancelled, f.Open, f.MedianDays, f.P90Days, f.Overdue)
				}
				return tw.Flush()
			})
		},
	}
	cmd.Flags().StringVar(&from, "from", fmt.Sprintf("%d-01-01", year), "first day of the period (YYYY-MM-DD, UTC)")
	cmd.Flags().StringVar(&to, "to", fmt.Sprintf("%d-01-01", year+1), "day after the period (YYYY-MM-DD, UTC)")
	return cmd
}

// fetchCmd copies a completed access request's package. In dev mode the
// package is a local file; otherwise it comes from the gateway's API.
func (c *cli) fetchCmd() *cobra.Command {
	var out, api string
	cmd := &cobra.Command{
		Use:   "fetch REQUEST-ID --out FILE",
		Short: "copy a completed access request's package",
		Args:  requestID,
		PreRunE: func(*cobra.Command, []string) error {
			return required(out, "--out is required: where to write the package")
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx, id := cmd.Context(), args[0]
			return c.withClient(ctx, func(cl client.Client) error {
				v, err := requests.Show(ctx, cl, id)
				switch {
				case err != nil:
					return err
				case v.Package == "":
					return &exitError{exitRefused, fmt.Errorf("request %s has no package (it is a %s request, %s)", id, v.Type, v.Status)}
				}
				// The file is made first, so a read is only put on record
				// when the package has somewhere to go.
				f, err := os.OpenFile(out, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
				if err != nil {
					return err
				}
				var src io.ReadCloser
				if path, local := strings.CutPrefix(v.Package, "file://"); local && api == "" {
					// On the worker's host the file is read directly: the read
					// is put on record first, as the API does for a download.
					if err = requests.RecordPackageRead(ctx, cl, id, actor(), path); err == nil {
						src, err = os.Open(path)
					}
				} else {
					src, err = requests.FetchPackage(ctx, api, os.Getenv("DSR_API_TOKEN"), id)
				}
				if err != nil {
					f.Close()
					os.Remove(out)
					return err
				}
				defer src.Close()
				n, err := io.Copy(f, src)
				if cerr := f.Close(); err == nil {
					err = cerr
				}
				if err != nil {
					os.Remove(out)
					return fmt.Errorf("write %s: %w", out, err)
				}
				fmt.Fprintf(c.stdout, "Package of %s written to %s (%d bytes).\n", id, out, n)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "file to write the package to (required)")
	cmd.Flags().StringVar(&api, "api", os.Getenv("DSR_API_URL"), "gateway URL, for packages on another machine (env DSR_API_URL)")
	return cmd
}

// taskCmd prints a manual task with the identities of the subject, which
// the department needs and which notices never carry.
func (c *cli) taskCmd() *cobra.Command {
	var system string
	cmd := &cobra.Command{
		Use:     "task REQUEST-ID --system S",
		Short:   "a manual task: where the data is, what to do, and whom it is about (the read is audited)",
		Args:    requestID,
		PreRunE: func(*cobra.Command, []string) error { return required(system, "--system is required") },
		RunE: func(cmd *cobra.Command, args []string) error {
			// The read is audited as the CLI's user.
			ctx := claims.As(cmd.Context(), cliActor(actor()))
			return c.withClient(ctx, func(cl client.Client) error {
				t, err := requests.Task(ctx, cl, args[0], system)
				if err != nil {
					return err
				}
				if c.output == "json" {
					return c.writeJSON(t)
				}
				tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
				fmt.Fprintf(tw, "Request\t%s (%s)\n", t.RequestID, t.Type)
				fmt.Fprintf(tw, "System\t%s (%s)\n", t.System, t.Department)
				fmt.Fprintf(tw, "Where\t%s\n", t.Location)
				fmt.Fprintf(tw, "What to do\t%s\n", t.Instructions)
				for _, c := range t.Corrections {
					line := c.Value
					if c.Evidence != "" {
						line += " (evidence: " + c.Evidence + ")"
					}
					fmt.Fprintf(tw, "Correct %s to\t%s\n", c.Field, line)
				}
				for _, i := range t.Identities {
					fmt.Fprintf(tw, "Subject's %s\t%s\n", i.Kind, i.Value)
				}
				state := "open"
				if t.Outcome != "" {
					state = fmt.Sprintf("%s by %s: %d records: %s", t.Outcome, t.Actor, t.Records, t.Note)
				}
				fmt.Fprintf(tw, "State\t%s\n", state)
				return tw.Flush()
			})
		},
	}
	cmd.Flags().StringVar(&system, "system", "", "the manual system (required)")
	return cmd
}

// consentCmd prints a subject's current consent per purpose from the ledger.
func (c *cli) consentCmd() *cobra.Command {
	var given identityFlags
	cmd := &cobra.Command{
		Use:   "consent (--email E | --phone P | --customer-id C)...",
		Short: "what a subject has consented to, per purpose (the lookup is audited)",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ids, err := requests.Identities(given.form(), flagNames)
			if err != nil {
				return &exitError{exitUsage, err}
			}
			return c.withClient(cmd.Context(), func(cl client.Client) error {
				states, err := requests.Consents(cmd.Context(), cl, workflows.ConsentLookupInput{Identities: ids, Actor: actor()})
				if err != nil {
					return err
				}
				if c.output == "json" {
					if states == nil {
						states = []activities.ConsentState{}
					}
					return c.writeJSON(states)
				}
				if len(states) == 0 {
					fmt.Fprintln(c.stdout, "No consent recorded for this subject.")
					return nil
				}
				tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
				fmt.Fprintln(tw, "Purpose\tState\tChannel\tWording\tSince\tRequest")
				for _, s := range states {
					fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", s.Purpose, s.State, s.Channel, s.WordingVersion, s.At.Format("2006-01-02 15:04"), s.RequestID)
				}
				return tw.Flush()
			})
		},
	}
	given.bind(cmd)
	return cmd
}
