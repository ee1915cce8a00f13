package metrics

import (
	"testing"
	"time"

	"github.com/dsrengine/dsr/domain"
)

func TestComputeExactly(t *testing.T) {
	day := func(d int) time.Time { return time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).AddDate(0, 0, d) }
	at := func(d int, hours int) *time.Time { x := day(d).Add(time.Duration(hours) * time.Hour); return &x }
	reqs := []Request{
		// access: answered in 2, 10, 4 and 40 days (the last one late); one open and overdue.
		{ID: "a1", Type: domain.Access, Status: domain.StatusCompleted, ReceivedAt: day(0), DueAt: day(31), CompletedAt: at(2, 0)},
		{ID: "a2", Type: domain.Access, Status: domain.StatusCompleted, ReceivedAt: day(1), DueAt: day(32), CompletedAt: at(11, 0), Partial: true},
		{ID: "a3", Type: domain.Access, Status: domain.StatusDenied, ReceivedAt: day(2), DueAt: day(33), CompletedAt: at(6, 0)},
		{ID: "a4", Type: domain.Access, Status: domain.StatusCompleted, ReceivedAt: day(3), DueAt: day(34), CompletedAt: at(43, 0)},
		{ID: "a5", Type: domain.Access, Status: domain.StatusAwaitingSignOff, ReceivedAt: day(4), DueAt: day(35)},
		// erasure: one answered in 1.5 days, one cancelled, one open not yet due.
		{ID: "e1", Type: domain.Erasure, Status: domain.StatusCompleted, ReceivedAt: day(5), DueAt: day(36), CompletedAt: at(6, 12)},
		{ID: "e2", Type: domain.Erasure, Status: domain.StatusCancelled, ReceivedAt: day(6), DueAt: day(37), CompletedAt: at(7, 0)},
		{ID: "e3", Type: domain.Erasure, Status: domain.StatusFulfilling, ReceivedAt: day(50), DueAt: day(81)},
		// opt-out: answered in 3 days, against its 15-business-day deadline;
		// a correction still open past its deadline.
		{ID: "o1", Type: domain.OptOut, Status: domain.StatusCompleted, ReceivedAt: day(8), DueAt: day(29), CompletedAt: at(11, 0)},
		{ID: "r1", Type: domain.Rectification, Status: domain.StatusAwaitingSignOff, ReceivedAt: day(9), DueAt: day(40)},
		// outside the period
		{ID: "x1", Type: domain.Access, Status: domain.StatusCompleted, ReceivedAt: day(-1), DueAt: day(30), CompletedAt: at(1, 0)},
		{ID: "x2", Type: domain.Access, Status: domain.StatusCompleted, ReceivedAt: day(365), DueAt: day(396), CompletedAt: at(366, 0)},
	}
	r := Compute(day(0), day(365), day(60), reqs)
	access, erasure := r.Kinds[0], r.Kinds[2]
	if access.Kind != "access" || erasure.Kind != "erasure" {
		t.Fatalf("kinds in order: %+v", r.Kinds)
	}
	want := Figures{Kind: "access", Received: 5, Complied: 2, CompliedInPart: 1, Denied: 1, Open: 1, MedianDays: 7, P90Days: 40, Overdue: 2}
	if access != want {
		t.Errorf("access = %+v\nwant     %+v", access, want)
	}
	want = Figures{Kind: "erasure", Received: 3, Complied: 1, Cancelled: 1, Open: 1, MedianDays: 1.5, P90Days: 1.5}
	if erasure != want {
		t.Errorf("erasure = %+v\nwant      %+v", erasure, want)
	}
	if len(r.Kinds) != len(domain.RequestTypes) {
		t.Fatalf("%d kinds, want one per request type: %+v", len(r.Kinds), r.Kinds)
	}
	for _, k := range r.Kinds {
		switch k.Kind {
		case "opt_out":
			if want := (Figures{Kind: "opt_out", Received: 1, Complied: 1, MedianDays: 3, P90Days: 3}); k != want {
				t.Errorf("opt_out = %+v\nwant      %+v", k, want)
			}
		case "rectification":
			if want := (Figures{Kind: "rectification", Received: 1, Open: 1, Overdue: 1}); k != want {
				t.Errorf("rectification = %+v\nwant            %+v", k, want)
			}
		}
	}
	// all answered: 1.5, 2, 3, 4, 10, 40 → median 3.5, p90 the 6th of 6.
	want = Figures{Kind: "all", Received: 10, Complied: 4, CompliedInPart: 1, Denied: 1, Cancelled: 1, Open: 3, MedianDays: 3.5, P90Days: 40, Overdue: 3}
	if r.Totals != want {
		t.Errorf("totals = %+v\nwant     %+v", r.Totals, want)
	}
	if empty := Compute(day(0), day(1), day(2), nil); empty.Totals.MedianDays != 0 || empty.Totals.Received != 0 {
		t.Errorf("empty period: %+v", empty.Totals)
	}
}
