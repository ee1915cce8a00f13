// Package http is the connector for SaaS systems reached through their
// REST APIs. Each object of the system (contacts, tickets, events) says in
// the data map how to look the subject up, export, erase and set consent:
// a method, a templated path and a JSON body, where the records are in the
// response, how it pages, and whether the API answers with a job to poll.
//
// Identity values are escaped into paths and encoded into bodies, never
// spliced; pagination links that leave the system's host are refused, so
// the credentials never travel elsewhere; a 429 waits for Retry-After.
// Errors name the call by its template, never by a value, because they end
// up in workflow histories.
package http

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net"
	nethttp "net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dsrengine/dsr/connectors"
	"github.com/dsrengine/dsr/domain"
)

// Object is one kind of record in the system, e.g. contacts.
type Object struct {
	Name string `yaml:"name"`
	// IDField is the record field that identifies a record (default "id").
	IDField string `yaml:"id_field"`
	// Fields maps record fields to their data categories.
	Fields map[string][]string `yaml:"fields"`
	// Lookup finds the subject's records by one identity kind.
	Lookup Call `yaml:"lookup"`
	// Export fetches one record in full; absent, the lookup's records are
	// the export.
	Export *Call `yaml:"export"`
	// Erase is the strategy: delete, anonymize or keep.
	Erase        string `yaml:"erase"`
	EraseRequest *Call  `yaml:"erase_request"`
	LegalHold    string `yaml:"legal_hold"`
	// Consent maps purposes to the call that records consent to them.
	Consent map[string]Call `yaml:"consent"`
	// Correct maps the fields a rectification names to the call that
	// writes one, with {value} for the new value.
	Correct map[string]Call `yaml:"correct"`
	// Restriction maps purposes ("all" for every one) to the call that
	// records the subject's restriction of them, with {restricted}.
	Restriction map[string]Call `yaml:"restriction"`
	// Links maps identity kinds to the record fields (dotted paths) that
	// the data map trusts for linking the subject's other identities.
	Links map[string]string `yaml:"links"`
}

// Call is one templated API request.
type Call struct {
	Method string `yaml:"method"`
	// Path is relative to the base URL and may hold a query string.
	Path string `yaml:"path"`
	Body any    `yaml:"body"`
	// Items is the dotted path to the list of records in the response;
	// empty means the response itself (a list, or one record).
	Items string `yaml:"items"`
	// Match names the record field that must equal the identity searched
	// for: records a fuzzy search returns for someone else are dropped.
	Match      string      `yaml:"match"`
	Pagination *Pagination `yaml:"pagination"`
	Job        *Job        `yaml:"job"`
}

// Pagination says how a lookup reaches its next page; one way is set.
type Pagination struct {
	// Next is the response field holding the next page's URL.
	Next string `yaml:"next"`
	// LinkHeader follows the Link header's rel="next".
	LinkHeader bool `yaml:"link_header"`
	// Cursor is the response field holding the next cursor, sent back as
	// the query parameter CursorParam.
	Cursor      string `yaml:"cursor"`
	CursorParam string `yaml:"cursor_param"`
	// PageParam numbers pages from FirstPage until a page comes back empty.
	PageParam string `yaml:"page_param"`
	FirstPage int    `yaml:"first_page"`
}

// Job is an asynchronous operation the API answers with: its id is in the
// response, and its status is polled until it is done or failed.
type Job struct {
	ID       string   `yaml:"id"`     // response field with the job id
	Path     string   `yaml:"path"`   // status path, e.g. /jobs/{job.id}
	Status   string   `yaml:"status"` // response field with the job's state
	Done     []string `yaml:"done"`
	Failed   []string `yaml:"failed"`
	Interval Duration `yaml:"interval"`
	Timeout  Duration `yaml:"timeout"`
}

// Duration reads "2s" or "10m" from the data map.
type Duration time.Duration

func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil || v < 0 {
		return fmt.Errorf("%q is not a duration such as 2s or 10m", b)
	}
	*d = Duration(v)
	return nil
}

// Auth is how the connector authenticates, with the secrets resolved from
// the environment.
type Auth struct {
	Type     string // bearer, basic, api_key or none
	Token    string // bearer
	Username string // basic
	Password string
	Key      string // api_key, sent in Header or in the query parameter Query
	Header   string
	Query    string
}

// Connector reaches one SaaS system.
type Connector struct {
	system  string
	base    *url.URL
	auth    Auth
	objects []Object
	kinds   []domain.IdentityKind
	client  *nethttp.Client
	// MaxWait is the longest Retry-After waited in-process; a longer one
	// is handed to the activity's retry as a RetryLaterError.
	MaxWait time.Duration
	// Heartbeat is called between pages, polls and waits.
	Heartbeat func(ctx context.Context, progress string)
	// MaxBytes bounds what one call of the connector (a discovery, an
	// export, an erasure) reads from the API in all: a broken or hostile
	// API that pages on forever ends with ErrTooLarge instead of holding
	// the worker. Pages are read one at a time and never kept.
	MaxBytes int64
}

// DefaultMaxBytes is MaxBytes unless the data map says otherwise.
const DefaultMaxBytes = 1 << 30

const (
	maxPages    = 10000
	maxBody     = 32 << 20
	maxAttempts = 5
)

// Open checks the base URL and the objects' templates; it does not call
// the API, since SaaS APIs share no health endpoint.
func Open(system, baseURL string, auth Auth, objects []Object) (*Connector, error) {
	if err := CheckBaseURL(baseURL); err != nil {
		return nil, fmt.Errorf("%w: %v", connectors.ErrBadConfig, err)
	}
	base, _ := url.Parse(strings.TrimRight(baseURL, "/"))
	switch auth.Type {
	case "bearer", "basic", "api_key", "none":
	default:
		return nil, fmt.Errorf("%w: auth type %q", connectors.ErrBadConfig, auth.Type)
	}
	c := &Connector{system: system, base: base, auth: auth, objects: objects, MaxWait: 30 * time.Second, MaxBytes: DefaultMaxBytes,
		client: &nethttp.Client{Timeout: 2 * time.Minute, CheckRedirect: sameOrigin(base)}}
	for i := range c.objects {
		o := &c.objects[i]
		if o.IDField == "" {
			o.IDField = "id"
		}
		kind, err := IdentityKind(o.Lookup)
		if err != nil {
			return nil, fmt.Errorf("%w: %s lookup: %v", connectors.ErrBadConfig, o.Name, err)
		}
		c.kinds = append(c.kinds, kind)
		for k, field := range o.Links {
			if !domain.ValidIdentityKind(domain.IdentityKind(k)) || field == "" {
				return nil, fmt.Errorf("%w: %s links: %q must be an identity kind (email, phone, customer_id) with a record field", connectors.ErrBadConfig, o.Name, k)
			}
		}
	}
	return c, nil
}

// Linked looks the subject up in every object with links and returns the
// identities its records hold in those fields that the subject did not
// give. Records a lookup returns for someone else are dropped first, as
// for every other operation.
func (c *Connector) Linked(ctx context.Context, subject []domain.Identity) ([]connectors.Link, error) {
	ctx = c.withBudget(ctx)
	out := connectors.NewLinks(subject)
	for i, o := range c.objects {
		if len(o.Links) == 0 {
			continue
		}
		records, err := c.find(ctx, i, subject)
		if err != nil {
			return nil, err
		}
		kinds := slices.Sorted(maps.Keys(o.Links))
		for _, f := range records {
			for _, k := range kinds {
				if v, ok := at(f.record, o.Links[k]); ok && v != nil {
					out.Add(domain.IdentityKind(k), text(v), o.Name+" field "+o.Links[k])
				}
			}
		}
	}
	return out.List, nil
}

// CheckBaseURL accepts an absolute https URL, or http on the loopback
// interface (dev mode, tests): elsewhere, plain http would send the
// credentials and the subjects' data in clear. The message never repeats
// the URL, which could hold credentials.
func CheckBaseURL(raw string) error {
	u, err := url.Parse(raw)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		return errors.New("base URL must be an absolute https:// URL")
	case u.User != nil:
		return errors.New("base URL must not hold credentials; name them in auth")
	case u.RawQuery != "" || u.Fragment != "":
		return errors.New("base URL must not have a query or fragment")
	case u.Scheme == "http" && !loopback(u.Hostname()):
		return errors.New("base URL must use https (plain http is allowed only on localhost)")
	}
	return nil
}

func loopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// sameOrigin refuses redirects to another host, which would carry the
// credentials there.
func sameOrigin(base *url.URL) func(*nethttp.Request, []*nethttp.Request) error {
	return func(req *nethttp.Request, via []*nethttp.Request) error {
		if req.URL.Scheme != base.Scheme || req.URL.Host != base.Host {
			return fmt.Errorf("%w: a redirect leaves %s; refused so the credentials stay there", connectors.ErrBadConfig, base.Host)
		}
		if len(via) >= 5 {
			return errors.New("too many redirects")
		}
		return nil
	}
}

// Close releases idle connections.
func (c *Connector) Close() error {
	c.client.CloseIdleConnections()
	return nil
}

func (c *Connector) heartbeat(ctx context.Context, progress string) {
	if c.Heartbeat != nil {
		c.Heartbeat(ctx, progress)
	}
}

// found is a record of the subject and the identity that found it.
type found struct {
	record   map[string]any
	identity domain.Identity
}

// find looks the subject up in one object, by every identity of the
// lookup's kind, and returns each record once.
func (c *Connector) find(ctx context.Context, i int, subject []domain.Identity) ([]found, error) {
	var out []found
	err := c.eachRecord(ctx, i, subject, func(f found) error {
		out = append(out, f)
		return nil
	})
	return out, err
}

// eachRecord hands each of the subject's records in one object to fn once, as
// the pages arrive: records of others that a search returns are dropped
// (match), and only the records' ids are remembered.
func (c *Connector) eachRecord(ctx context.Context, i int, subject []domain.Identity, fn func(found) error) error {
	o := c.objects[i]
	seen := map[string]bool{}
	for _, id := range subject {
		if id.Kind != c.kinds[i] {
			continue
		}
		err := c.pages(ctx, o.Name+" lookup", o.Lookup, vars{identity: id}, func(records []map[string]any) error {
			for _, r := range records {
				if o.Lookup.Match != "" && !matches(r, o.Lookup.Match, id) {
					continue
				}
				key, ok := at(r, o.IDField)
				if !ok || key == nil {
					return fmt.Errorf("%w: %s: a record has no %s field (id_field)", connectors.ErrBadConfig, o.Name, o.IDField)
				}
				if k := text(key); !seen[k] {
					seen[k] = true
					if err := fn(found{record: r, identity: id}); err != nil {
						return err
					}
				}
			}
			return nil
		})
		if err != nil {
			return err
		}
	}
	return nil
}

// matches says whether the record's field is the identity, compared in
// the identity's normal form (so "Ada@Example.com" is ada@example.com).
func matches(r map[string]any, field string, id domain.Identity) bool {
	v, ok := at(r, field)
	if !ok {
		return false
	}
	n, err := domain.NewIdentity(id.Kind, text(v))
	return err == nil && n.Value == id.Value
}

// list runs a lookup through all its pages and returns the records.
func (c *Connector) list(ctx context.Context, op string, call Call, v vars) ([]map[string]any, error) {
	var out []map[string]any
	err := c.pages(ctx, op, call, v, func(items []map[string]any) error {
		out = append(out, items...)
		return nil
	})
	return out, err
}

// pages runs a lookup through all its pages, handing each page's records
// to each and then letting go of them.
func (c *Connector) pages(ctx context.Context, op string, call Call, v vars, each func([]map[string]any) error) error {
	op = fmt.Sprintf("%s (%s %s)", op, method(call, "GET"), call.Path)
	u, err := c.url(call.Path, v)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	body, err := expandBody(call.Body, v)
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	p := call.Pagination
	page := 0
	if p != nil && p.PageParam != "" {
		page = p.FirstPage
		u = withQuery(u, p.PageParam, strconv.Itoa(page))
	}
	visited := map[string]bool{}
	total := 0
	for n := 0; ; n++ {
		if n == maxPages {
			return fmt.Errorf("%s: more than %d pages; refusing to page on", op, maxPages)
		}
		visited[u] = true
		resp, err := c.send(ctx, op, method(call, "GET"), u, body)
		if errors.Is(err, errGone) {
			return nil // no such subject: many APIs answer 404
		}
		if err != nil {
			return err
		}
		items, err := records(resp.body, call.Items)
		if err != nil {
			return fmt.Errorf("%s: %w", op, err)
		}
		if err := each(items); err != nil {
			return err
		}
		total += len(items)
		c.heartbeat(ctx, fmt.Sprintf("%s: %d records", op, total))
		next := ""
		switch {
		case p == nil:
		case p.Next != "":
			if s, _ := at(resp.body, p.Next); text(s) != "" {
				if next, err = c.resolve(u, text(s)); err != nil {
					return fmt.Errorf("%s: %w", op, err)
				}
			}
		case p.LinkHeader:
			if s := nextLink(resp.header); s != "" {
				if next, err = c.resolve(u, s); err != nil {
					return fmt.Errorf("%s: %w", op, err)
				}
			}
		case p.Cursor != "":
			if s, _ := at(resp.body, p.Cursor); text(s) != "" {
				next = withQuery(u, p.CursorParam, text(s))
			}
		case p.PageParam != "":
			if len(items) > 0 {
				page++
				next = withQuery(u, p.PageParam, strconv.Itoa(page))
			}
		}
		if next == "" {
			return nil
		}
		if visited[next] {
			return fmt.Errorf("%s: pagination returns to a page already read; refusing to loop", op)
		}
		u = next
	}
}

// budget is what one call of the connector may still read from the API.
type budget struct{ left, max int64 }

type budgetKey struct{}

// withBudget starts a call's reading budget of c.MaxBytes.
func (c *Connector) withBudget(ctx context.Context) context.Context {
	if c.MaxBytes <= 0 {
		return ctx
	}
	return context.WithValue(ctx, budgetKey{}, &budget{left: c.MaxBytes, max: c.MaxBytes})
}

// spend takes n bytes from the call's budget.
func spend(ctx context.Context, op string, n int) error {
	b, _ := ctx.Value(budgetKey{}).(*budget)
	if b == nil {
		return nil
	}
	if b.left -= int64(n); b.left < 0 {
		return fmt.Errorf("%w: %s: the API sent more than %d MiB in one call; raise http.max_mib in the data map if that is right", connectors.ErrTooLarge, op, b.max>>20)
	}
	return nil
}

func method(c Call, def string) string {
	if c.Method == "" {
		return def
	}
	return strings.ToUpper(c.Method)
}

// records takes the list of records out of a response.
func records(body any, path string) ([]map[string]any, error) {
	node, ok := at(body, path)
	if !ok {
		return nil, fmt.Errorf("the response has no %q (items)", path)
	}
	switch n := node.(type) {
	case nil:
		return nil, nil
	case []any:
		out := make([]map[string]any, 0, len(n))
		for _, item := range n {
			r, ok := item.(map[string]any)
			if !ok {
				return nil, errors.New("the response's items are not JSON objects")
			}
			out = append(out, r)
		}
		return out, nil
	case map[string]any:
		return []map[string]any{n}, nil
	}
	return nil, fmt.Errorf("the response's %q is neither a list nor an object", path)
}

// url builds an absolute URL from a path template: values are escaped as
// path segments before the '?' and as query values after it.
func (c *Connector) url(tmpl string, v vars) (string, error) {
	path, query, hasQuery := strings.Cut(tmpl, "?")
	p, err := expand(path, v, pathEscape)
	if err != nil {
		return "", err
	}
	u := c.base.String() + p
	if hasQuery {
		q, err := expand(query, v, url.QueryEscape)
		if err != nil {
			return "", err
		}
		u += "?" + q
	}
	return u, nil
}

// resolve turns a pagination link into an absolute URL on the system's
// own origin.
func (c *Connector) resolve(current, link string) (string, error) {
	cur, err := url.Parse(current)
	if err != nil {
		return "", err
	}
	next, err := cur.Parse(link)
	if err != nil {
		return "", fmt.Errorf("pagination link is not a URL")
	}
	if next.Scheme != c.base.Scheme || next.Host != c.base.Host {
		return "", fmt.Errorf("%w: a pagination link leaves %s; refused so the credentials stay there", connectors.ErrBadConfig, c.base.Host)
	}
	return next.String(), nil
}

func withQuery(u, key, value string) string {
	parsed, err := url.Parse(u)
	if err != nil {
		return u
	}
	q := parsed.Query()
	q.Set(key, value)
	parsed.RawQuery = q.Encode()
	return parsed.String()
}

// nextLink reads rel="next" from RFC 8288 Link headers.
func nextLink(h nethttp.Header) string {
	for _, line := range h.Values("Link") {
		for _, part := range strings.Split(line, ",") {
			target, params, ok := strings.Cut(strings.TrimSpace(part), ";")
			if !ok || !strings.HasPrefix(target, "<") || !strings.HasSuffix(target, ">") {
				continue
			}
			for _, p := range strings.Split(params, ";") {
				k, v, _ := strings.Cut(strings.TrimSpace(p), "=")
				if strings.EqualFold(k, "rel") && slices.Contains(strings.Fields(strings.Trim(v, `"`)), "next") {
					return target[1 : len(target)-1]
				}
			}
		}
	}
	return ""
}

type response struct {
	status int
	header nethttp.Header
	body   any
	size   int // bytes read
}

// errGone is a 404 or 410: the record or subject is not there.
var errGone = errors.New("not found")

// send makes one call, waiting out 429 and 503 answers up to MaxWait.
// Calls that change something carry an Idempotency-Key derived from the
// call, so an API that honours it acts once however often it is retried.
func (c *Connector) send(ctx context.Context, op, method, u string, body any) (response, error) {
	var payload []byte
	if body != nil {
		var err error
		if payload, err = json.Marshal(body); err != nil {
			return response{}, fmt.Errorf("%s: body: %w", op, err)
		}
	}
	waited := time.Duration(0)
	for attempt := 1; ; attempt++ {
		req, err := nethttp.NewRequestWithContext(ctx, method, u, bytes.NewReader(payload))
		if err != nil {
			return response{}, fmt.Errorf("%s: %w", op, err)
		}
		req.Header.Set("Accept", "application/json")
		if payload != nil {
			req.Header.Set("Content-Type", "application/json")
		}
		if method != "GET" && method != "HEAD" {
			sum := sha256.Sum256([]byte(c.system + "\x00" + method + "\x00" + u + "\x00" + string(payload)))
			req.Header.Set("Idempotency-Key", hex.EncodeToString(sum[:16]))
		}
		c.authorize(req)
		resp, err := c.client.Do(req)
		if err != nil {
			// Do's error quotes the URL, which may hold an identity.
			return response{}, fmt.Errorf("%s: request failed: %w", op, unwrapURL(err))
		}
		out, err := read(resp)
		if err == nil {
			err = spend(ctx, op, out.size)
			if errors.Is(err, connectors.ErrTooLarge) {
				return response{}, err
			}
		}
		if err != nil {
			return response{}, fmt.Errorf("%s: %w", op, err)
		}
		switch s := resp.StatusCode; {
		case s >= 200 && s < 300:
			return out, nil
		case s == 404 || s == 410:
			return out, errGone
		case s == 401 || s == 403:
			return out, fmt.Errorf("%s: the API answered %d: %w", op, s, connectors.ErrPermissionDenied)
		case s == 429 || s == 503:
			wait := retryAfter(resp.Header, attempt)
			if wait > c.MaxWait-waited || attempt == maxAttempts {
				return out, &connectors.RetryLaterError{After: max(wait, time.Second), Err: fmt.Errorf("%s: the API answered %d", op, s)}
			}
			c.heartbeat(ctx, fmt.Sprintf("%s: rate limited, waiting %s", op, wait))
			if err := sleep(ctx, wait); err != nil {
				return out, err
			}
			waited += wait
		case s == 408 || s >= 500:
			return out, fmt.Errorf("%s: the API answered %d", op, s)
		default:
			return out, fmt.Errorf("%s: the API refused the call with %d; check the data map's request: %w", op, s, connectors.ErrBadConfig)
		}
	}
}

func (c *Connector) authorize(req *nethttp.Request) {
	switch c.auth.Type {
	case "bearer":
		req.Header.Set("Authorization", "Bearer "+c.auth.Token)
	case "basic":
		req.SetBasicAuth(c.auth.Username, c.auth.Password)
	case "api_key":
		if c.auth.Query != "" {
			q := req.URL.Query()
			q.Set(c.auth.Query, c.auth.Key)
			req.URL.RawQuery = q.Encode()
		} else {
			req.Header.Set(c.auth.Header, c.auth.Key)
		}
	}
}

func unwrapURL(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}

func read(resp *nethttp.Response) (response, error) {
	defer resp.Body.Close()
	out := response{status: resp.StatusCode, header: resp.Header}
	b, err := io.ReadAll(io.LimitReader(resp.Body, maxBody+1))
	if err != nil {
		return out, fmt.Errorf("read response: %w", err)
	}
	out.size = len(b)
	if len(b) > maxBody {
		return out, fmt.Errorf("response larger than %d MiB", maxBody>>20)
	}
	if len(bytes.TrimSpace(b)) == 0 || resp.StatusCode >= 300 {
		return out, nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if err := dec.Decode(&out.body); err != nil {
		return out, fmt.Errorf("the API's %d answer is not JSON", resp.StatusCode)
	}
	return out, nil
}

// retryAfter reads Retry-After (seconds or an HTTP date); without one it
// backs off exponentially.
func retryAfter(h nethttp.Header, attempt int) time.Duration {
	v := h.Get("Retry-After")
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := nethttp.ParseTime(v); err == nil {
		return max(time.Until(t), 0)
	}
	return time.Duration(1<<(attempt-1)) * time.Second
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
