package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/dsrengine/dsr/requests"
)

func (c *cli) showCmd() *cobra.Command {
	var watch bool
	cmd := &cobra.Command{
		Use:   "show REQUEST-ID [--watch]",
		Short: "where a request stands: status, deadline, systems, timeline",
		Args:  requestID,
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			return c.withClient(ctx, func(cl client.Client) error {
				// The last error of a retrying step is encrypted like
				// every payload; the key reads it.
				var opts []requests.Option
				if keys, err := c.keys(); err == nil {
					opts = append(opts, requests.WithFailures(keys.FailureConverter()))
				}
				var last string
				for {
					v, err := requests.Show(ctx, cl, args[0], opts...)
					if err != nil {
						return err
					}
					if !watch {
						if c.output == "json" {
							return c.writeJSON(v)
						}
						c.writeView(v)
						return nil
					}
					// Redraw only when something moved: a status, a system, a
					// decision, an alert; the days left change once a day.
					state, _ := json.Marshal(v)
					if string(state) != last {
						last = string(state)
						c.redraw(v)
					}
					if v.Status.Terminal() {
						return nil
					}
					select {
					case <-ctx.Done():
						return nil
					case <-time.After(c.watchEvery):
					}
				}
			})
		},
	}
	cmd.Flags().BoolVar(&watch, "watch", false, "follow the request until it ends, redrawing as it moves")
	return cmd
}

func (c *cli) listCmd() *cobra.Command {
	var f requests.Filter
	cmd := &cobra.Command{
		Use:   "list [--status S] [--type T] [--overdue] [--due-within DAYS] [--department D] [--limit N]",
		Short: "find requests by status, kind, deadline or the department they wait for",
		Args:  noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if _, err := f.Query(time.Now()); err != nil {
				return &exitError{exitUsage, err}
			}
			return c.withClient(cmd.Context(), func(cl client.Client) error {
				list, err := requests.List(cmd.Context(), cl, f)
				if err != nil {
					return err
				}
				if c.output == "json" {
					return c.writeJSON(list)
				}
				c.writeList(list)
				return nil
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar((*string)(&f.Status), "status", "", "only requests in this status, e.g. awaiting_signoff")
	fl.StringVar((*string)(&f.Type), "type", "", "only requests of this type")
	fl.BoolVar(&f.Overdue, "overdue", false, "only open requests past their deadline")
	fl.IntVar(&f.DueWithin, "due-within", 0, "only open requests due within this many days")
	fl.StringVar(&f.Department, "department", "", "only requests waiting for this department's sign-off")
	fl.IntVar(&f.Limit, "limit", 100, "at most this many (up to 1000)")
	return cmd
}

func (c *cli) writeList(list []requests.Summary) {
	if len(list) == 0 {
		fmt.Fprintln(c.stdout, "No requests match.")
		return
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "REQUEST\tTYPE\tREGULATION\tSTATUS\tDUE\tDAYS LEFT\tSIGN-OFF DUE FROM")
	for _, r := range list {
		left := strconv.Itoa(r.DaysLeft)
		switch {
		case r.Status.Terminal():
			left = "-"
		case r.DaysLeft < 0:
			left = fmt.Sprintf("OVERDUE %d", -r.DaysLeft)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.ID, r.Type, r.Regulation, r.Status, r.DueAt.Format("2006-01-02"), left, strings.Join(r.PendingDepartments, ", "))
	}
	tw.Flush()
}

// redraw shows the request again: on a terminal in place, elsewhere (a log,
// a pipe) one view after another; in JSON one object per line.
func (c *cli) redraw(v requests.View) {
	if c.output == "json" {
		json.NewEncoder(c.stdout).Encode(v)
		return
	}
	if f, ok := c.stdout.(*os.File); ok && isTerminal(f) {
		fmt.Fprint(c.stdout, "\033[H\033[2J")
	} else {
		fmt.Fprintf(c.stdout, "--- %s\n", time.Now().UTC().Format("2006-01-02 15:04:05Z"))
	}
	c.writeView(v)
}

func isTerminal(f *os.File) bool {
	st, err := f.Stat()
	return err == nil && st.Mode()&os.ModeCharDevice != 0
}

func (c *cli) writeView(v requests.View) {
	tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintf(tw, "Request\t%s\n", v.ID)
	fmt.Fprintf(tw, "Type\t%s\n", v.Type)
	fmt.Fprintf(tw, "Regulation\t%s\n", v.Regulation)
	fmt.Fprintf(tw, "Status\t%s\n", v.Status)
	fmt.Fprintf(tw, "Received\t%s\n", v.ReceivedAt.Format("2006-01-02 15:04 MST"))
	left := fmt.Sprintf("%d days left", v.DaysLeft)
	if v.Status.Terminal() {
		left = "closed"
	} else if v.DaysLeft < 0 {
		left = fmt.Sprintf("OVERDUE by %d days", -v.DaysLeft)
	}
	fmt.Fprintf(tw, "Due\t%s (%s)\n", v.DueAt.Format("2006-01-02"), left)
	for _, e := range v.Extensions {
		fmt.Fprintf(tw, "Extended\tby %s: %s (originally due %s)\n", e.By, e.Reason, v.OriginalDueAt.Format("2006-01-02"))
	}
	if v.WaitingFor != "" {
		fmt.Fprintf(tw, "Waiting for\t%s\n", v.WaitingFor)
	}
	if v.Consent != "" {
		fmt.Fprintf(tw, "Consent\t%s\n", v.Consent)
	}
	if v.Package != "" {
		fmt.Fprintf(tw, "Package\t%s\n", v.Package)
	}
	if len(v.PendingDepartments) > 0 {
		fmt.Fprintf(tw, "Sign-off due from\t%s\n", strings.Join(v.PendingDepartments, ", "))
	}
	fmt.Fprintf(tw, "Workflow\t%s (%s)\n", v.WorkflowID, strings.ToLower(strings.TrimPrefix(v.Workflow, "WORKFLOW_EXECUTION_STATUS_")))
	tw.Flush()
	if len(v.Systems) > 0 {
		fmt.Fprintln(c.stdout, "\nSystems")
		tw = tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
		for _, s := range v.Systems {
			note := s.Done
			if s.Exempt {
				note = "kept: " + s.Basis
			}
			if s.Verified {
				note += " (verified)"
			}
			if s.Manual && s.Done == "" {
				note = "manual task open"
			}
			fmt.Fprintf(tw, "  %s\t%s\t%d records\t%s\n", s.System, s.Department, s.Found, note)
		}
		tw.Flush()
	}
	if len(v.ProposedIdentities) > 0 {
		fmt.Fprintln(c.stdout, "\nLinked identities (found in the subject's records; only confirmed ones are used)")
		tw = tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
		for _, p := range v.ProposedIdentities {
			state := "waiting for confirmation"
			if p.Decision != "" {
				state = p.Decision + " by " + p.Actor
			}
			fmt.Fprintf(tw, "  %d\t%s\t%s\tfrom %s %s\t%s\n", p.N, p.Kind, p.Masked, p.System, p.Location, state)
		}
		tw.Flush()
	}
	if len(v.Timeline) > 0 {
		fmt.Fprintln(c.stdout, "\nTimeline")
		tw = tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
		for _, ch := range v.Timeline {
			fmt.Fprintf(tw, "  %s\t%s\t%s\t%s\n", ch.At.Format("2006-01-02 15:04:05Z07:00"), ch.Status, ch.Actor, ch.Note)
		}
		tw.Flush()
	}
	if len(v.Retrying) > 0 {
		fmt.Fprintln(c.stdout, "\nRetrying")
		for _, r := range v.Retrying {
			fmt.Fprintf(c.stdout, "  %s\n", r)
		}
	}
	if v.Problem != "" {
		fmt.Fprintf(c.stdout, "\nNote: %s\n", v.Problem)
	}
}
