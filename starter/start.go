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
	cmd := &cobra.Command{
		Use:   "start --type TYPE --regulation REG (--email E | --phone P | --customer-id C)... [flags]",
		Short: "start a request (the same --id never starts two)",
		Long: `Start a data-subject request. It waits for identity verification unless
--identity-verified says compliance checked the subject beforehand.

Opt-in and withdrawal also take --purpose, --channel and --wording (the
evidence), and opt-in may ask for --double-opt-in.`,
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
			if consent != (domain.ConsentChange{}) {
				f.Consent = &consent
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
	fl.StringVar(&f.Type, "type", "", "request type: access, portability, erasure, opt_in, withdrawal (required)")
	fl.StringVar(&f.Regulation, "regulation", "", "gdpr, uk_gdpr, ccpa or lgpd (required)")
	ids.bind(cmd)
	ids.bindOthers(cmd, &dataMap)
	fl.StringVar(&f.Received, "received", "", "when the request arrived, if earlier (YYYY-MM-DD or RFC 3339); default now")
	fl.StringVar(&f.TimeZone, "tz", envOr("DSR_TIMEZONE", "UTC"), "time zone in which the deadline is counted, e.g. Europe/Berlin (env DSR_TIMEZONE)")
	fl.StringVar(&f.ID, "id", "", "request id, e.g. your ticket number (default: generated); the same id never starts two requests")
	fl.StringVar(&f.RequestedBy, "requested-by", "", "who starts the request, for the audit trail (default: cli:$USER)")
	fl.BoolVar(&f.IdentityVerified, "identity-verified", false, "compliance has already verified the subject's identity; otherwise the request waits for `starter verify`")
	fl.StringVar(&consent.Purpose, "purpose", "", "opt-in/withdrawal: the purpose, as named in the data map (e.g. newsletter)")
	fl.StringVar(&consent.Channel, "channel", "", "opt-in/withdrawal: where the subject gave or withdrew consent (e.g. \"web form\")")
	fl.StringVar(&consent.WordingVersion, "wording", "", "opt-in/withdrawal: version of the text the subject saw (e.g. newsletter-v3)")
	fl.BoolVar(&consent.DoubleOptIn, "double-opt-in", false, "opt-in: the subject must confirm (starter confirm) within 7 days")
	return cmd
}
