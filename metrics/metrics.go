// Package metrics computes the figures privacy laws ask businesses to
// report for a period: requests received, complied with in whole or in
// part, and denied, by kind; the median and 90th-percentile days to
// respond; and how many missed their deadline (CCPA regulations § 7102).
package metrics

import (
	"math"
	"slices"
	"time"

	"github.com/dsrengine/dsr/domain"
)

// Request is what the report needs of one request.
type Request struct {
	ID         string
	Type       domain.RequestType
	Status     domain.Status
	ReceivedAt time.Time
	// DueAt is the deadline in force (extended or not).
	DueAt       time.Time
	CompletedAt *time.Time
	// Partial is set when data was kept on a legal basis (an objection or
	// a kept manual task): the request was complied with in part.
	Partial bool
}

// Figures are one kind's (or all kinds') numbers.
type Figures struct {
	Kind           string `json:"kind"`
	Received       int    `json:"received"`
	Complied       int    `json:"complied_in_whole"`
	CompliedInPart int    `json:"complied_in_part"`
	Denied         int    `json:"denied"`
	Cancelled      int    `json:"cancelled"`
	Open           int    `json:"open"`
	// Days to respond, over the requests answered (complied or denied).
	MedianDays float64 `json:"median_days_to_respond"`
	P90Days    float64 `json:"p90_days_to_respond"`
	// Overdue counts requests answered after their deadline or still open
	// past it.
	Overdue int `json:"overdue"`
}

// Report covers the requests received in [From, To).
type Report struct {
	From   time.Time `json:"from"`
	To     time.Time `json:"to"`
	At     time.Time `json:"computed_at"`
	Kinds  []Figures `json:"by_kind"`
	Totals Figures   `json:"totals"`
}

// Compute builds the report at time now from the requests received in the
// period; requests outside it are ignored.
func Compute(from, to, now time.Time, reqs []Request) Report {
	r := Report{From: from, To: to, At: now}
	byKind := map[domain.RequestType][]Request{}
	var all []Request
	for _, q := range reqs {
		if q.ReceivedAt.Before(from) || !q.ReceivedAt.Before(to) {
			continue
		}
		byKind[q.Type] = append(byKind[q.Type], q)
		all = append(all, q)
	}
	for _, k := range domain.RequestTypes {
		r.Kinds = append(r.Kinds, figures(string(k), byKind[k], now))
	}
	r.Totals = figures("all", all, now)
	return r
}

func figures(kind string, reqs []Request, now time.Time) Figures {
	f := Figures{Kind: kind, Received: len(reqs)}
	var days []float64
	for _, q := range reqs {
		answered := q.CompletedAt != nil && (q.Status == domain.StatusCompleted || q.Status == domain.StatusDenied)
		switch {
		case q.Status == domain.StatusCompleted && q.Partial:
			f.CompliedInPart++
		case q.Status == domain.StatusCompleted:
			f.Complied++
		case q.Status == domain.StatusDenied:
			f.Denied++
		case q.Status == domain.StatusCancelled:
			f.Cancelled++
		default:
			f.Open++
		}
		if answered {
			days = append(days, q.CompletedAt.Sub(q.ReceivedAt).Hours()/24)
			if q.CompletedAt.After(q.DueAt) {
				f.Overdue++
			}
		} else if !q.Status.Terminal() && now.After(q.DueAt) {
			f.Overdue++
		}
	}
	f.MedianDays, f.P90Days = median(days), percentile(days, 0.9)
	return f
}

// median of the values, to one decimal; 0 for none.
func median(v []float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(v))
	m := s[len(s)/2]
	if len(s)%2 == 0 {
		m = (s[len(s)/2-1] + s[len(s)/2]) / 2
	}
	return round(m)
}

// percentile by the nearest-rank method, to one decimal; 0 for none.
func percentile(v []float64, p float64) float64 {
	if len(v) == 0 {
		return 0
	}
	s := slices.Sorted(slices.Values(v))
	return round(s[int(math.Ceil(p*float64(len(s))))-1])
}

func round(x float64) float64 { return math.Round(x*10) / 10 }
