package main

import (
	"fmt"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"go.temporal.io/sdk/client"
	"gopkg.in/yaml.v3"

	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/requests"
)

// flagNames are starter's names of a request's fields, for errors.
var flagNames = requests.Names{
	Fields: map[string]string{
		"id": "--id", "type": "--type", "regulation": "--regulation", "received": "--received", "time_zone": "--tz",
		"identities": "--email, --phone, --customer-id or --identity", "identity": "--email, --phone, --customer-id or --identity",
		"requested_by": "--requested-by", "consent": "--purpose, --channel and --wording",
		"consent.purpose": "--purpose", "consent.channel": "--channel", "consent.wording_version": "--wording",
		"consent.double_opt_in": "--double-opt-in",
		"corrections":           "--correct", "scope": "--purpose, --grounds, --direct-marketing or --channel", "scope.purposes": "--purpose",
		"scope.grounds": "--grounds", "scope.channel": "--channel", "scope.lift": "--lift", "scope.direct_marketing": "--direct-marketing",
	},
	Identity: func(_ int, kind string) string {
		if slices.Contains(domain.IdentityKinds, domain.IdentityKind(kind)) {
			return "--" + strings.ReplaceAll(kind, "_", "-")
		}
		return "--identity " + kind + "=…"
	},
}

// identityFlags are the repeatable --email, --phone and --customer-id,
// and --identity KIND=VALUE for the kinds the data map declares.
type identityFlags struct{ emails, phones, customers, others []string }

func (f *identityFlags) bind(cmd *cobra.Command) {
	// StringArray, not StringSlice: a comma is part of a value, never a separator.
	cmd.Flags().StringArrayVar(&f.emails, "email", nil, "subject's e-mail address (repeatable)")
	cmd.Flags().StringArrayVar(&f.phones, "phone", nil, "subject's phone number in international form, e.g. +44 20 7946 0958 (repeatable)")
	cmd.Flags().StringArrayVar(&f.customers, "customer-id", nil, "subject's customer id (repeatable)")
}

// bindOthers adds --identity and --config, which says where the kinds
// are declared.
func (f *identityFlags) bindOthers(cmd *cobra.Command, dataMap *string) {
	cmd.Flags().StringArrayVar(&f.others, "identity", nil, "an identity of a kind the data map declares, KIND=VALUE, e.g. loyalty_id=L00000001 (repeatable; reads the kinds from --config)")
	cmd.Flags().StringVar(dataMap, "config", os.Getenv("DSR_CONFIG"), "the data map, for the identity kinds it declares (env DSR_CONFIG)")
}

// declareKinds learns the data map's own identity kinds, so that values
// of them are checked here exactly as the engine checks them.
func declareKinds(path string) error {
	if path == "" {
		return usage("--identity needs the data map that declares its kind: --config FILE (or DSR_CONFIG)")
	}
	b, err := os.ReadFile(path)
	if err != nil {
		return usage("--config: %v", err)
	}
	var m struct {
		IdentityKinds []domain.KindSpec `yaml:"identity_kinds"`
	}
	if err := yaml.Unmarshal(b, &m); err != nil {
		return usage("--config %s: %v", path, err)
	}
	kinds, err := domain.CompileKinds(m.IdentityKinds)
	if err != nil {
		return usage("--config %s: %v", path, err)
	}
	return domain.DeclareKinds(kinds)
}

func (f *identityFlags) form() []requests.FormIdentity {
	var out []requests.FormIdentity
	for _, o := range f.others {
		kind, value, _ := strings.Cut(o, "=")
		out = append(out, requests.FormIdentity{Kind: kind, Value: value})
	}
	for _, g := range []struct {
		kind domain.IdentityKind
		vals []string
	}{{domain.Email, f.emails}, {domain.Phone, f.phones}, {domain.CustomerID, f.customers}} {
		for _, v := range g.vals {
			out = append(out, requests.FormIdentity{Kind: string(g.kind), Value: v})
		}
	}
	return out
}

func (c *cli) startCmd() *cobra.Command {
	var f requests.Form
	var ids identityFlags
	var dataMap string
	var consent domain.ConsentChange
	var r rightFlags
	cmd := &cobra.Command{
		Use:   "start --type TYPE --regulation REG (--email E | --phone P | --customer-id C)... [flags]",
		Short: "start a request (the same --id never starts two)",
		Long: `Start a data-subject request. It waits for identity verification unless
--identity-verified says compliance checked the subject beforehand.

Opt-in and withdrawal also take --purpose, --channel and --wording (the
evidence), and opt-in may ask for --double-opt-in.

A rectification takes --correct FIELD=VALUE for each field to correct (as
the data map's correct: names it), with --evidence FIELD=TEXT where the
subject showed something. A restriction takes --purpose (repeatable, or
all) and --grounds, or --lift to end it. An objection takes
--direct-marketing, or --purpose and --grounds. An opt-out (of sale and
sharing) and a limit (of sensitive data), both under the CCPA, take
--channel.`,
		Args: noArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			for _, o := range ids.others {
				if !strings.Contains(o, "=") {
					return usage("--identity %q: write KIND=VALUE, e.g. loyalty_id=L00000001", o)
				}
			}
			if len(ids.others) > 0 {
				if err := declareKinds(dataMap); err != nil {
					return err
				}
			}
			f.Identities = ids.form()
			if f.RequestedBy == "" {
				f.RequestedBy = actor()
			}
			if err := r.apply(&f, &consent); err != nil {
				return err
			}
			in, err := requests.NewInput(f, flagNames, time.Now())
			if err != nil {
				return &exitError{exitUsage, err}
			}
			return c.withClient(cmd.Context(), func(cl client.Client) error {
				res, err := requests.Start(cmd.Context(), cl, in)
				if err != nil {
					return err
				}
				if c.output == "json" {
					return c.writeJSON(res)
				}
				if res.Existing {
					fmt.Fprintf(c.stdout, "Request %s already exists; nothing new was started.\n\n", res.ID)
				} else {
					// The duplicate check is the workflow's first step: show
					// tells whether an open request answers this one.
					fmt.Fprintf(c.stdout, "Started request %s. `starter show %s` follows it (and says if an open request for the same subject answers it).\n\n", res.ID, res.ID)
				}
				c.writeView(res.View)
				return nil
			})
		},
	}
	fl := cmd.Flags()
	fl.StringVar(&f.Type, "type", "", "request type: "+domain.JoinNames(domain.RequestTypes)+" (required)")
	fl.StringVar(&f.Regulation, "regulation", "", "gdpr, uk_gdpr, ccpa or lgpd (required)")
	ids.bind(cmd)
	ids.bindOthers(cmd, &dataMap)
	fl.StringVar(&f.Received, "received", "", "when the request arrived, if earlier (YYYY-MM-DD or RFC 3339); default now")
	fl.StringVar(&f.TimeZone, "tz", envOr("DSR_TIMEZONE", "UTC"), "time zone in which the deadline is counted, e.g. Europe/Berlin (env DSR_TIMEZONE)")
	fl.StringVar(&f.ID, "id", "", "request id, e.g. your ticket number (default: generated); the same id never starts two requests")
	fl.StringVar(&f.RequestedBy, "requested-by", "", "who starts the request, for the audit trail (default: cli:$USER)")
	fl.BoolVar(&f.IdentityVerified, "identity-verified", false, "compliance has already verified the subject's identity; otherwise the request waits for `starter verify`")
	fl.StringArrayVar(&r.purposes, "purpose", nil, "opt-in/withdrawal: the purpose, as named in the data map (e.g. newsletter); restriction/objection: each purpose (repeatable; all restricts every one)")
	fl.StringVar(&consent.Channel, "channel", "", "opt-in/withdrawal/objection/opt-out/limit: where the subject asked (e.g. \"web form\")")
	fl.StringArrayVar(&r.corrections, "correct", nil, "rectification: FIELD=VALUE, a field to correct and its new value (repeatable)")
	fl.StringArrayVar(&r.evidence, "evidence", nil, "rectification: FIELD=TEXT, what the subject showed for a correction (repeatable)")
	fl.StringVar(&r.grounds, "grounds", "", "restriction: why (e.g. \"accuracy contested\"); objection: the subject's particular situation")
	fl.BoolVar(&r.lift, "lift", false, "restriction: lift the subject's restriction of the purposes")
	fl.BoolVar(&r.directMarketing, "direct-marketing", false, "objection: to direct marketing, which is absolute")
	fl.StringVar(&consent.WordingVersion, "wording", "", "opt-in/withdrawal: version of the text the subject saw (e.g. newsletter-v3)")
	fl.BoolVar(&consent.DoubleOptIn, "double-opt-in", false, "opt-in: the subject must confirm (starter confirm) within 7 days")
	return cmd
}

// rightFlags are the flags of the request types beyond access, erasure
// and consent.
type rightFlags struct {
	purposes, corrections, evidence []string
	grounds                         string
	lift, directMarketing           bool
}

// apply puts the flags into the form as the type asks: a consent change,
// corrections or a scope. Flags of another type are left in, so that the
// request's check names them.
func (r rightFlags) apply(f *requests.Form, consent *domain.ConsentChange) error {
	t, _ := domain.ParseRequestType(f.Type)
	switch {
	case t == domain.OptIn || t == domain.Withdrawal:
		if len(r.purposes) > 1 {
			return usage("--purpose: an opt-in or withdrawal is for one purpose; start one request per purpose")
		}
		if len(r.purposes) == 1 {
			consent.Purpose = r.purposes[0]
		}
	case t.Scoped():
		f.Scope = &domain.Scope{Purposes: r.purposes, Grounds: r.grounds, Lift: r.lift, DirectMarketing: r.directMarketing, Channel: consent.Channel}
		consent.Channel = ""
	default:
		if r.grounds != "" || r.lift || r.directMarketing {
			f.Scope = &domain.Scope{Grounds: r.grounds, Lift: r.lift, DirectMarketing: r.directMarketing} // refused by the check, by name
		}
		if len(r.purposes) > 0 {
			consent.Purpose = strings.Join(r.purposes, ",")
		}
	}
	if *consent != (domain.ConsentChange{}) {
		f.Consent = consent
	}
	evidence := map[string]string{}
	for _, e := range r.evidence {
		field, text, ok := strings.Cut(e, "=")
		if !ok {
			return usage("--evidence %q: write FIELD=TEXT, e.g. email=\"mail sent from the new address\"", e)
		}
		evidence[field] = text
	}
	for _, c := range r.corrections {
		field, value, ok := strings.Cut(c, "=")
		if !ok {
			return usage("--correct: write FIELD=VALUE, e.g. name=\"Jane Smith\" (the value is not shown here)")
		}
		f.Corrections = append(f.Corrections, domain.Correction{Field: field, Value: value, Evidence: evidence[field]})
		delete(evidence, field)
	}
	for field := range evidence {
		return usage("--evidence %s=…: no --correct %s=… to go with it", field, field)
	}
	return nil
}
