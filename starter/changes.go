package main

import (
	"context"
	"fmt"
	"os"
	"strings"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"

	"github.com/dsrengine/dsr/claims"
	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/requests"
	"github.com/dsrengine/dsr/workflows"
)

// Each change is one of the request's Updates: the request's validator
// has the last word, and a refusal exits 5 with its reason. The flags are
// checked first, so a mistyped command never reaches the server.

func (c *cli) changeCmds() []*cobra.Command {
	return []*cobra.Command{c.verifyCmd(), c.extendCmd(), c.cancelCmd(), c.denyCmd(), c.decideCmd(), c.retryCmd(), c.eraseAgainCmd(), c.confirmCmd(), c.completeCmd(),
		c.confirmIdentitiesCmd()}
}

// sender sends one update and says, in words, what it did. Its context
// signs the change as the CLI's actor: the CLI holds the master key, so it
// acts as admin, and the channel names the user and host it ran as.
type sender func(ctx context.Context, cl client.Client, id string) (string, error)

// cliActor is who the CLI's changes are signed as.
func cliActor(name string) claims.Actor {
	host, _ := os.Hostname()
	return claims.Actor{Name: name, Role: claims.RoleAdmin, Channel: actor() + "@" + host}
}

// as signs ctx's changes as an approver the data map lists, named with
// --as, by the CLI user.
func as(ctx context.Context, approver string) context.Context {
	return claims.As(ctx, cliActor(approver))
}

// update makes the command of one update: it checks its flags, sends it,
// and shows the request as it is after.
func (c *cli) update(use, short string, check func() error, send sender) *cobra.Command {
	var who string
	cmd := &cobra.Command{
		Use:   use,
		Short: short,
		Args:  requestID,
		PreRunE: func(*cobra.Command, []string) error {
			if check == nil {
				return nil
			}
			return check()
		},
		RunE: func(cmd *cobra.Command, args []string) error {
			if who == "" {
				who = actor()
			}
			ctx, id := claims.As(cmd.Context(), cliActor(who)), args[0]
			return c.withClient(ctx, func(cl client.Client) error {
				msg, err := send(ctx, cl, id)
				if err != nil {
					return err
				}
				v, err := requests.Show(ctx, cl, id)
				if err != nil {
					return err
				}
				if c.output == "json" {
					return c.writeJSON(v)
				}
				fmt.Fprintf(c.stdout, "%s.\n\n", msg)
				c.writeView(v)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&who, "actor", "", "who decides, for the audit trail (default: cli:$USER)")
	return cmd
}

// required refuses an empty flag value, saying why it is needed.
func required(value, message string) error {
	if strings.TrimSpace(value) == "" {
		return usage("%s", message)
	}
	return nil
}

func (c *cli) verifyCmd() *cobra.Command {
	var method string
	cmd := c.update("verify REQUEST-ID --method \"how the identity was checked\"", "record that the subject's identity is verified",
		func() error { return required(method, "--method is required: say how the identity was checked") },
		func(ctx context.Context, cl client.Client, id string) (string, error) {
			return "Identity verified", requests.VerifyIdentity(ctx, cl, id, workflows.Verification{Method: method})
		})
	cmd.Flags().StringVar(&method, "method", "", "how the identity was checked, e.g. \"matched account login\" (required)")
	return cmd
}

func (c *cli) extendCmd() *cobra.Command {
	var months, days int
	var reason string
	cmd := c.update("extend REQUEST-ID (--months N | --days N) --reason \"why more time is needed\"", "extend the deadline as far as the law allows; the subject is told",
		func() error {
			if months < 0 || days < 0 || months+days == 0 || (months > 0 && days > 0) {
				return usage("give one of --months N or --days N, positive")
			}
			return required(reason, "--reason is required: it is recorded, and told to the subject")
		},
		func(ctx context.Context, cl client.Client, id string) (string, error) {
			due, err := requests.Extend(ctx, cl, id, workflows.ExtensionRequest{By: domain.Period{Months: months, Days: days}, Reason: reason})
			return "Deadline extended to " + due.Format("2006-01-02") + "; the subject is told", err
		})
	cmd.Flags().IntVar(&months, "months", 0, "extend by this many calendar months (GDPR, UK GDPR)")
	cmd.Flags().IntVar(&days, "days", 0, "extend by this many days (CCPA/CPRA)")
	cmd.Flags().StringVar(&reason, "reason", "", "why more time is needed; told to the subject (required)")
	return cmd
}

// closeCmd is cancel or deny: both end a request early, with a reason.
func (c *cli) closeCmd(name, short, done string, send func(context.Context, client.Client, string, workflows.Closure) error) *cobra.Command {
	var reason string
	cmd := c.update(name+" REQUEST-ID --reason \"why\"", short,
		func() error { return required(reason, "--reason is required: it is recorded with your decision") },
		func(ctx context.Context, cl client.Client, id string) (string, error) {
			return done, send(ctx, cl, id, workflows.Closure{Reason: reason})
		})
	cmd.Flags().StringVar(&reason, "reason", "", "why; recorded (required)")
	return cmd
}

func (c *cli) cancelCmd() *cobra.Command {
	return c.closeCmd("cancel", "cancel a request (e.g. the subject withdrew it)", "Request cancelled", requests.Cancel)
}

func (c *cli) denyCmd() *cobra.Command {
	cmd := c.closeCmd("deny", "deny a request; the subject is told why", "Request denied; the subject is told why", requests.Deny)
	cmd.Flags().Lookup("reason").Usage = "why; recorded and told to the subject (required)"
	return cmd
}

func (c *cli) decideCmd() *cobra.Command {
	var d workflows.Decision
	var approve, object bool
	cmd := c.update("decide REQUEST-ID --department D --as APPROVER (--approve | --object --basis \"legal basis\")", "sign off for a department: approve, or object with the legal basis",
		func() error {
			switch {
			case d.Department == "" || d.Approver == "":
				return usage("--department and --as are required")
			case approve == object:
				return usage("give one of --approve or --object")
			case object && strings.TrimSpace(d.LegalBasis) == "":
				return usage("--object needs --basis: the legal basis for keeping the data")
			}
			return nil
		},
		func(ctx context.Context, cl client.Client, id string) (string, error) {
			d.Decision = "approve"
			if object {
				d.Decision = "object"
			} else {
				d.LegalBasis = ""
			}
			return fmt.Sprintf("%s: %s recorded", d.Department, d.Decision), requests.Decide(as(ctx, d.Approver), cl, id, d)
		})
	fl := cmd.Flags()
	fl.StringVar(&d.Department, "department", "", "the department you decide for (required)")
	fl.StringVar(&d.Approver, "as", "", "you, as the data map lists the department's approvers: e-mail or Slack user id (required)")
	fl.BoolVar(&approve, "approve", false, "approve the request for the department's systems")
	fl.BoolVar(&object, "object", false, "object: keep the data, on the --basis given")
	fl.StringVar(&d.LegalBasis, "basis", "", "legal basis for keeping the data, e.g. \"tax law keeps invoices for 10 years\" (with --object)")
	return cmd
}

func (c *cli) retryCmd() *cobra.Command {
	return c.update("retry REQUEST-ID", "resume a request after fixing a system that kept failing", nil,
		func(ctx context.Context, cl client.Client, id string) (string, error) {
			return "Request resumed", requests.Retry(ctx, cl, id, workflows.Retry{})
		})
}

func (c *cli) eraseAgainCmd() *cobra.Command {
	return c.update("erase-again REQUEST-ID", "erase again what an erasure's resurrection check found back in its systems (a backup restored, an import)", nil,
		func(ctx context.Context, cl client.Client, id string) (string, error) {
			return "Erasing again; the timeline says what was erased and verified", requests.EraseAgain(ctx, cl, id, workflows.EraseAgain{})
		})
}

func (c *cli) confirmCmd() *cobra.Command {
	var via string
	cmd := c.update("confirm REQUEST-ID --via \"e-mail link\"", "record that the subject confirmed a double opt-in",
		func() error { return required(via, "--via is required: say how the subject confirmed") },
		func(ctx context.Context, cl client.Client, id string) (string, error) {
			return "Consent confirmed", requests.ConfirmConsent(ctx, cl, id, workflows.Confirmation{Channel: via})
		})
	cmd.Flags().StringVar(&via, "via", "", "how the subject confirmed, e.g. \"e-mail link\" (required)")
	return cmd
}

func (c *cli) completeCmd() *cobra.Command {
	var t workflows.TaskCompletion
	cmd := c.update("complete REQUEST-ID --system S --as APPROVER --outcome done|not_held|kept --records N --note \"what was done\" [--basis \"legal basis\"]",
		"confirm a manual task as its department",
		func() error {
			if t.System == "" || t.Approver == "" || strings.TrimSpace(t.Note) == "" {
				return usage("--system, --as and --note are required")
			}
			return nil
		},
		func(ctx context.Context, cl client.Client, id string) (string, error) {
			return fmt.Sprintf("Task in %s confirmed %s", t.System, t.Outcome), requests.CompleteTask(as(ctx, t.Approver), cl, id, t)
		})
	fl := cmd.Flags()
	fl.StringVar(&t.System, "system", "", "the manual system whose task is done (required)")
	fl.StringVar(&t.Approver, "as", "", "you, as the data map lists the department's approvers (required)")
	fl.StringVar(&t.Outcome, "outcome", "done", "done, not_held (nothing there) or kept (erasure: kept under --basis)")
	fl.Int64Var(&t.Records, "records", 0, "how many records the task handled")
	fl.StringVar(&t.Note, "note", "", "what was done, e.g. \"2 signed forms shredded\" (required)")
	fl.StringVar(&t.Basis, "basis", "", "legal basis for keeping the data (with --outcome kept)")
	return cmd
}

func (c *cli) confirmIdentitiesCmd() *cobra.Command {
	var confirm []int
	var none bool
	var note string
	cmd := c.update("confirm-identities REQUEST-ID (--confirm N,... | --none --note \"why\")",
		"say which linked identities found in the subject's records are the subject's; the others are not used",
		func() error {
			switch {
			case none == (len(confirm) > 0):
				return usage("give --confirm with the numbers 'starter show' lists, or --none")
			case none && strings.TrimSpace(note) == "":
				return usage("--none needs --note: why none of them is the subject's")
			}
			return nil
		},
		func(ctx context.Context, cl client.Client, id string) (string, error) {
			return "Linked identities answered", requests.ConfirmIdentities(ctx, cl, id, workflows.IdentityConfirmation{Confirm: confirm, Note: note})
		})
	fl := cmd.Flags()
	fl.IntSliceVar(&confirm, "confirm", nil, "the numbers of the identities that are the subject's; every other one is rejected")
	fl.BoolVar(&none, "none", false, "reject them all")
	fl.StringVar(&note, "note", "", "why, for the record (required with --none)")
	return cmd
}
