package http

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/dsrengine/dsr/connectors"
	"github.com/dsrengine/dsr/domain"
)

// Discover counts the subject's records per object; kept objects are "held".
func (c *Connector) Discover(ctx context.Context, subject []domain.Identity) (connectors.Result, error) {
	ctx = c.withBudget(ctx)
	var res connectors.Result
	for i, o := range c.objects {
		recs, err := c.find(ctx, i, subject)
		if err != nil {
			return res, err
		}
		hold := ""
		if o.Erase == "keep" {
			hold = o.LegalHold
		}
		res.Records = append(res.Records, connectors.Found(o.Name, int64(len(recs)), hold))
	}
	return res, nil
}

// Export streams {object: [records]} as JSON, fetching each record in
// full where the object has an export call. Records go to w as each page
// arrives; only their ids stay in memory, to write each record once.
func (c *Connector) Export(ctx context.Context, subject []domain.Identity, w io.Writer) (connectors.Result, error) {
	ctx = c.withBudget(ctx)
	var res connectors.Result
	out := &connectors.Stream{W: w}
	out.Raw("{")
	for i, o := range c.objects {
		if i > 0 {
			out.Raw(",")
		}
		out.Value("\n  ", o.Name)
		out.Raw(": [")
		n := int64(0)
		write := func(r map[string]any) {
			sep := ",\n    "
			if n == 0 {
				sep = "\n    "
			}
			out.Value(sep, r)
			n++
		}
		err := c.eachRecord(ctx, i, subject, func(f found) error {
			if o.Export == nil {
				write(f.record)
				return out.Err
			}
			return c.pages(ctx, o.Name+" export", *o.Export, vars{identity: f.identity, record: f.record}, func(items []map[string]any) error {
				for _, r := range items {
					write(r)
				}
				return out.Err
			})
		})
		if err != nil {
			return res, err
		}
		if n > 0 {
			out.Raw("\n  ")
		}
		out.Raw("]")
		res.Records = append(res.Records, connectors.Record{Location: o.Name, Action: "exported", Count: n, Fields: fieldNames(o)})
	}
	out.Raw("\n}\n")
	return res, out.Err
}

func fieldNames(o Object) []string {
	out := make([]string, 0, len(o.Fields))
	for f := range o.Fields {
		out = append(out, f)
	}
	slices.Sort(out)
	return out
}

// Erase applies each object's strategy. The records are looked up first
// and only those found are erased, so a second run finds none and does
// nothing; a record already gone (404) is not counted.
func (c *Connector) Erase(ctx context.Context, subject []domain.Identity, opts connectors.EraseOptions) (connectors.Result, error) {
	ctx = c.withBudget(ctx)
	var res connectors.Result
	for i, o := range c.objects {
		recs, err := c.find(ctx, i, subject)
		if err != nil {
			return res, err
		}
		action := map[string]string{"delete": "deleted", "anonymize": "anonymized"}[o.Erase]
		switch {
		case o.Erase == "keep":
			res.Records = append(res.Records, connectors.Record{Location: o.Name, Action: "kept", Count: int64(len(recs)), Reason: o.LegalHold})
			continue
		case o.EraseRequest == nil || action == "":
			return res, fmt.Errorf("%w: %s: erase %q needs an erase_request", connectors.ErrBadConfig, o.Name, o.Erase)
		case opts.DryRun:
			res.Records = append(res.Records, connectors.Record{Location: o.Name, Action: "would be " + action, Count: int64(len(recs))})
			continue
		}
		n, err := c.each(ctx, o.Name+" erase", *o.EraseRequest, recs, func(r found) vars { return vars{identity: r.identity, record: r.record} })
		if err != nil {
			return res, err
		}
		res.Records = append(res.Records, connectors.Record{Location: o.Name, Action: action, Count: n, Reason: o.LegalHold})
	}
	return res, nil
}

// ApplyConsent records the subject's consent to the purpose through each
// object's consent call.
func (c *Connector) ApplyConsent(ctx context.Context, subject []domain.Identity, purpose string, granted bool) (connectors.Result, error) {
	ctx = c.withBudget(ctx)
	var res connectors.Result
	action := "consent withdrawn"
	if granted {
		action = "consent granted"
	}
	for i, o := range c.objects {
		call, ok := o.Consent[purpose]
		if !ok {
			continue
		}
		recs, err := c.find(ctx, i, subject)
		if err != nil {
			return res, err
		}
		n, err := c.each(ctx, o.Name+" consent", call, recs, func(r found) vars {
			return vars{identity: r.identity, record: r.record, purpose: purpose, granted: granted}
		})
		if err != nil {
			return res, err
		}
		res.Records = append(res.Records, connectors.Record{Location: o.Name, Action: action, Count: n, Fields: []string{purpose}})
	}
	if len(res.Records) == 0 {
		return res, fmt.Errorf("%w: no object of this system has a consent call for %s", connectors.ErrBadConfig, purpose)
	}
	return res, nil
}

// each makes a call per record, or per identity when the call names no
// record field (an API that erases "everything about this e-mail"), and
// counts the records it acted on. A job the API answers with is polled to
// its end before the next call.
func (c *Connector) each(ctx context.Context, op string, call Call, recs []found, varsOf func(found) vars) (int64, error) {
	op = fmt.Sprintf("%s (%s %s)", op, method(call, "POST"), call.Path)
	perRecord := usesRecord(call)
	var n int64
	done := map[domain.Identity]bool{}
	for _, r := range recs {
		if !perRecord && done[r.identity] {
			continue
		}
		done[r.identity] = true
		v := varsOf(r)
		u, err := c.url(call.Path, v)
		if err != nil {
			return n, fmt.Errorf("%s: %w", op, err)
		}
		body, err := expandBody(call.Body, v)
		if err != nil {
			return n, fmt.Errorf("%s: %w", op, err)
		}
		resp, err := c.send(ctx, op, method(call, "POST"), u, body)
		if errors.Is(err, errGone) {
			continue // already gone: a retry after a crash
		}
		if err != nil {
			return n, err
		}
		if call.Job != nil {
			if err := c.await(ctx, op, *call.Job, resp.body, v); err != nil {
				return n, err
			}
		}
		if perRecord {
			n++
		} else {
			n += int64(countFor(recs, r.identity))
		}
		c.heartbeat(ctx, fmt.Sprintf("%s: %d records", op, n))
	}
	return n, nil
}

func countFor(recs []found, id domain.Identity) int {
	n := 0
	for _, r := range recs {
		if r.identity == id {
			n++
		}
	}
	return n
}

// await polls an asynchronous job until the API reports it done. A failed
// job is an error the activity retries; a job that outlives Timeout is too.
func (c *Connector) await(ctx context.Context, op string, job Job, created any, v vars) error {
	id, ok := at(created, job.ID)
	if !ok || id == nil {
		return fmt.Errorf("%s: the response has no job id at %q: %w", op, job.ID, connectors.ErrBadConfig)
	}
	v.jobID = id
	interval, timeout := time.Duration(job.Interval), time.Duration(job.Timeout)
	if interval <= 0 {
		interval = 2 * time.Second
	}
	if timeout <= 0 {
		timeout = 10 * time.Minute
	}
	u, err := c.url(job.Path, v)
	if err != nil {
		return fmt.Errorf("%s job: %w", op, err)
	}
	deadline := time.Now().Add(timeout)
	for {
		resp, err := c.send(ctx, op+" job", "GET", u, nil)
		if err != nil {
			return err
		}
		state, _ := at(resp.body, job.Status)
		s := text(state)
		switch {
		case slices.Contains(job.Done, s):
			return nil
		case slices.Contains(job.Failed, s):
			return fmt.Errorf("%s: the API's job ended %q", op, s)
		case time.Now().After(deadline):
			return fmt.Errorf("%s: the API's job is still %q after %s", op, s, timeout)
		}
		c.heartbeat(ctx, fmt.Sprintf("%s: job %s", op, s))
		if err := sleep(ctx, interval); err != nil {
			return err
		}
	}
}

// Correctable lists the fields this system can correct, sorted.
func (c *Connector) Correctable() []string {
	var ms []map[string]Call
	for _, o := range c.objects {
		ms = append(ms, o.Correct)
	}
	return connectors.KeysOf(ms...)
}

// IdentityOf: an API's lookups search by their own parameters, and the
// map does not say which record field a lookup matches, so no correctable
// field is known to be one.
func (c *Connector) IdentityOf(string) (domain.IdentityKind, bool) { return "", false }

// Correct writes the new value through each object's call for the field,
// once per record of the subject. An API that is told the value it holds
// changes nothing, so a retry is safe. A dry run reports the subject's
// records the call would write ("differs"): whether each one holds the
// value already is the API's to know, so all are counted.
func (c *Connector) Correct(ctx context.Context, subject []domain.Identity, field, value string, opts connectors.EraseOptions) (connectors.Result, error) {
	ctx = c.withBudget(ctx)
	var res connectors.Result
	declared := false
	for i, o := range c.objects {
		call, ok := o.Correct[field]
		if !ok {
			continue
		}
		declared = true
		recs, err := c.find(ctx, i, subject)
		if err != nil {
			return res, err
		}
		if opts.DryRun {
			res.Records = append(res.Records, connectors.Record{Location: o.Name, Action: connectors.ActionDiffers, Count: int64(len(recs)), Fields: []string{field}})
			continue
		}
		n, err := c.each(ctx, o.Name+" correct "+field, call, recs, func(r found) vars {
			return vars{identity: r.identity, record: r.record, field: field, newValue: value}
		})
		if err != nil {
			return res, err
		}
		res.Records = append(res.Records, connectors.Record{Location: o.Name, Action: connectors.ActionCorrected, Count: n, Fields: []string{field}})
	}
	if !declared {
		return res, fmt.Errorf("%w: no object of this system declares %q correctable", connectors.ErrBadConfig, field)
	}
	return res, nil
}

// Restricts lists the purposes this system records restriction of, sorted.
func (c *Connector) Restricts() []string {
	var ms []map[string]Call
	for _, o := range c.objects {
		ms = append(ms, o.Restriction)
	}
	return connectors.KeysOf(ms...)
}

// Restrict records (or lifts) the subject's restriction through each
// object's call for the purposes named, once per record and purpose.
func (c *Connector) Restrict(ctx context.Context, subject []domain.Identity, purposes []string, restricted bool) (connectors.Result, error) {
	ctx = c.withBudget(ctx)
	var res connectors.Result
	action := connectors.ActionRestricted
	if !restricted {
		action = connectors.ActionLifted
	}
	for i, o := range c.objects {
		var recs []found
		looked := false
		for _, p := range connectors.KeysOf(o.Restriction) {
			if !connectors.RestrictionCovers(p, purposes, restricted) {
				continue
			}
			if !looked {
				var err error
				if recs, err = c.find(ctx, i, subject); err != nil {
					return res, err
				}
				looked = true
			}
			n, err := c.each(ctx, o.Name+" restriction", o.Restriction[p], recs, func(r found) vars {
				return vars{identity: r.identity, record: r.record, purpose: p, restricted: restricted}
			})
			if err != nil {
				return res, err
			}
			res.Records = append(res.Records, connectors.Record{Location: o.Name, Action: action, Count: n, Fields: []string{p}})
		}
	}
	if len(res.Records) == 0 {
		return res, fmt.Errorf("%w: no object of this system records restriction of %s", connectors.ErrBadConfig, strings.Join(purposes, ", "))
	}
	return res, nil
}
