// Package mailwave is a small e-mail marketing SaaS, Acme's newsletter
// provider in dev mode and the API the HTTP connector's tests run against.
// It behaves like the real ones in the ways that matter to a connector:
// bearer tokens, a fuzzy contact search, cursor and Link-header paging,
// rate limits with Retry-After, and erasure as an asynchronous job.
package mailwave

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// Contact is a newsletter contact.
type Contact struct {
	ID        string          `json:"id"`
	Email     string          `json:"email"`
	FirstName string          `json:"first_name"`
	Country   string          `json:"country"`
	Lists     map[string]bool `json:"lists"`
}

// Event is an open or a click on a campaign e-mail.
type Event struct {
	ID       string `json:"id"`
	Email    string `json:"email"`
	Type     string `json:"type"`
	Campaign string `json:"campaign"`
	At       string `json:"at"`
}

type job struct {
	Email string `json:"email"`
	Polls int    `json:"polls"`
	State string `json:"state"`
}

type state struct {
	Contacts []Contact      `json:"contacts"`
	Events   []Event        `json:"events"`
	Jobs     map[string]job `json:"jobs"`
	NextJob  int            `json:"next_job"`
}

// Server is the API. Its zero value is not usable; call New.
type Server struct {
	// Token is the bearer token the API accepts.
	Token string
	// RateLimitEvery answers every n-th request 429 with Retry-After:
	// RetryAfter seconds; 0 never.
	RateLimitEvery int
	RetryAfter     int
	// PageSize is the contacts and events page size (small, so that
	// paging is exercised).
	PageSize int

	mu       sync.Mutex
	st       state
	file     string
	requests int
	// Calls counts requests per "METHOD path" for tests.
	Calls map[string]int
	// Keys records the Idempotency-Key of each changing call.
	Keys []string
}

// New returns a server holding the given data. A non-empty file persists
// the data across restarts (dev mode); if it exists, it wins over seed.
func New(token, file string, contacts []Contact, events []Event) (*Server, error) {
	s := &Server{Token: token, PageSize: 2, RetryAfter: 1, file: file, Calls: map[string]int{},
		st: state{Contacts: contacts, Events: events, Jobs: map[string]job{}}}
	if file != "" {
		b, err := os.ReadFile(file)
		switch {
		case err == nil:
			if err := json.Unmarshal(b, &s.st); err != nil {
				return nil, fmt.Errorf("mailwave: %s: %w", file, err)
			}
		case os.IsNotExist(err):
			if err := s.save(); err != nil {
				return nil, err
			}
		default:
			return nil, fmt.Errorf("mailwave: %w", err)
		}
	}
	return s, nil
}

func (s *Server) save() error {
	if s.file == "" {
		return nil
	}
	b, err := json.MarshalIndent(s.st, "", "  ")
	if err != nil {
		return err
	}
	tmp := s.file + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return fmt.Errorf("mailwave: %w", err)
	}
	return os.Rename(tmp, s.file)
}

// Contacts returns a copy of the contacts, for tests.
func (s *Server) Contacts() []Contact {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.st.Contacts)
}

// Events returns a copy of the events, for tests.
func (s *Server) Events() []Event {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.st.Events)
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests++
	s.Calls[r.Method+" "+r.URL.Path]++
	if r.Header.Get("Authorization") != "Bearer "+s.Token {
		reply(w, http.StatusUnauthorized, map[string]string{"error": "invalid token"})
		return
	}
	if s.RateLimitEvery > 0 && s.requests%s.RateLimitEvery == 0 {
		w.Header().Set("Retry-After", strconv.Itoa(s.RetryAfter))
		reply(w, http.StatusTooManyRequests, map[string]string{"error": "slow down"})
		return
	}
	if r.Method != http.MethodGet {
		s.Keys = append(s.Keys, r.Header.Get("Idempotency-Key"))
	}
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	switch {
	case r.Method == "GET" && r.URL.Path == "/v3/contacts":
		s.searchContacts(w, r)
	case r.Method == "GET" && len(parts) == 3 && parts[1] == "contacts":
		if c := s.contact(parts[2]); c != nil {
			reply(w, 200, c)
			return
		}
		reply(w, 404, map[string]string{"error": "no such contact"})
	case r.Method == "PUT" && len(parts) == 5 && parts[1] == "contacts" && parts[3] == "subscriptions":
		s.subscribe(w, r, parts[2], parts[4])
	case r.Method == "GET" && r.URL.Path == "/v3/events":
		s.listEvents(w, r)
	case r.Method == "DELETE" && len(parts) == 3 && parts[1] == "events":
		n := len(s.st.Events)
		s.st.Events = slices.DeleteFunc(s.st.Events, func(e Event) bool { return e.ID == parts[2] })
		if n == len(s.st.Events) {
			reply(w, 404, map[string]string{"error": "no such event"})
			return
		}
		s.saveAndReply(w, 204, nil)
	case r.Method == "POST" && r.URL.Path == "/v3/erasures":
		s.startErasure(w, r)
	case r.Method == "GET" && len(parts) == 3 && parts[1] == "jobs":
		s.pollJob(w, parts[2])
	default:
		reply(w, 404, map[string]string{"error": "no such endpoint"})
	}
}

// searchContacts matches case-insensitively on any part of the address,
// as many SaaS searches do: "a@example.com" also finds "ada@example.com".
func (s *Server) searchContacts(w http.ResponseWriter, r *http.Request) {
	q := strings.ToLower(r.URL.Query().Get("email"))
	if q == "" {
		reply(w, 400, map[string]string{"error": "email is required"})
		return
	}
	var hits []Contact
	for _, c := range s.st.Contacts {
		if strings.Contains(strings.ToLower(c.Email), q) {
			hits = append(hits, c)
		}
	}
	start, _ := strconv.Atoi(r.URL.Query().Get("cursor"))
	end := min(start+s.PageSize, len(hits))
	if start > len(hits) {
		start = end
	}
	next := ""
	if end < len(hits) {
		next = strconv.Itoa(end)
	}
	reply(w, 200, map[string]any{"contacts": orEmpty(hits[start:end]), "meta": map[string]any{"next_cursor": next}})
}

func (s *Server) contact(id string) *Contact {
	for i := range s.st.Contacts {
		if s.st.Contacts[i].ID == id {
			return &s.st.Contacts[i]
		}
	}
	return nil
}

func (s *Server) subscribe(w http.ResponseWriter, r *http.Request, id, list string) {
	var body struct {
		Subscribed *bool `json:"subscribed"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Subscribed == nil {
		reply(w, 422, map[string]string{"error": "subscribed must be true or false"})
		return
	}
	c := s.contact(id)
	if c == nil {
		reply(w, 404, map[string]string{"error": "no such contact"})
		return
	}
	if c.Lists == nil {
		c.Lists = map[string]bool{}
	}
	c.Lists[list] = *body.Subscribed
	s.saveAndReply(w, 200, c)
}

// listEvents pages by number and says where the next page is in a Link
// header, as GitHub's API does.
func (s *Server) listEvents(w http.ResponseWriter, r *http.Request) {
	email := strings.ToLower(r.URL.Query().Get("email"))
	var hits []Event
	for _, e := range s.st.Events {
		if strings.ToLower(e.Email) == email {
			hits = append(hits, e)
		}
	}
	page, _ := strconv.Atoi(r.URL.Query().Get("page"))
	page = max(page, 1)
	start := min((page-1)*s.PageSize, len(hits))
	end := min(start+s.PageSize, len(hits))
	if end < len(hits) {
		q := r.URL.Query()
		q.Set("page", strconv.Itoa(page+1))
		w.Header().Set("Link", fmt.Sprintf(`</v3/events?%s>; rel="next"`, q.Encode()))
	}
	reply(w, 200, orEmpty(hits[start:end]))
}

// startErasure queues the erasure of the contacts of an address; the
// job finishes on its second poll. The same Idempotency-Key returns the
// same job, as Stripe's API does.
func (s *Server) startErasure(w http.ResponseWriter, r *http.Request) {
	var body struct {
		Email string `json:"email"`
	}
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil || body.Email == "" {
		reply(w, 422, map[string]string{"error": "email is required"})
		return
	}
	key := r.Header.Get("Idempotency-Key")
	for id, j := range s.st.Jobs {
		if key != "" && id == "job-"+key {
			reply(w, 202, map[string]any{"job": map[string]string{"id": id, "state": j.State}})
			return
		}
	}
	s.st.NextJob++
	id := "job-" + strconv.Itoa(s.st.NextJob)
	if key != "" {
		id = "job-" + key
	}
	s.st.Jobs[id] = job{Email: strings.ToLower(body.Email), State: "queued"}
	s.saveAndReply(w, 202, map[string]any{"job": map[string]string{"id": id, "state": "queued"}})
}

func (s *Server) pollJob(w http.ResponseWriter, id string) {
	j, ok := s.st.Jobs[id]
	if !ok {
		reply(w, 404, map[string]string{"error": "no such job"})
		return
	}
	j.Polls++
	switch {
	case j.State == "completed":
	case j.Polls >= 2:
		s.st.Contacts = slices.DeleteFunc(s.st.Contacts, func(c Contact) bool { return strings.ToLower(c.Email) == j.Email })
		j.State = "completed"
	default:
		j.State = "running"
	}
	s.st.Jobs[id] = j
	s.saveAndReply(w, 200, map[string]any{"id": id, "state": j.State})
}

func (s *Server) saveAndReply(w http.ResponseWriter, status int, v any) {
	if err := s.save(); err != nil {
		reply(w, 500, map[string]string{"error": err.Error()})
		return
	}
	if v == nil {
		w.WriteHeader(status)
		return
	}
	reply(w, status, v)
}

func orEmpty[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

func reply(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// Seed is a demo company's data in the SaaS, as JSON: its contacts and
// their e-mail events.
type Seed struct {
	Contacts []Contact `json:"contacts"`
	Events   []Event   `json:"events"`
}

// ParseSeed reads a seed, refusing a field it does not know so that a
// typo in a demo's data is an error, not a missing contact.
func ParseSeed(name string, b []byte) (Seed, error) {
	var s Seed
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&s); err != nil {
		return Seed{}, fmt.Errorf("mailwave seed %s: %w", name, err)
	}
	for i, c := range s.Contacts {
		if c.ID == "" || c.Email == "" {
			return Seed{}, fmt.Errorf("mailwave seed %s: contacts[%d]: id and email are required", name, i)
		}
	}
	return s, nil
}
