package sql

import (
	"testing"
	"time"
)

// TestBatchSizes: a batch grows while it is quick, shrinks when slow,
// stays within its bounds and the parameters a statement may carry, and
// stays fixed when no target is set.
func TestBatchSizes(t *testing.T) {
	one := &table{Table: Table{Key: []string{"id"}}}
	three := &table{Table: Table{Key: []string{"a", "b", "c"}}}
	c := &Connector{BatchSize: 500, MaxBatch: 10_000, BatchTarget: 500 * time.Millisecond}
	for _, tc := range []struct {
		name string
		t    *table
		size int
		took time.Duration
		want int
	}{
		{"quick: doubles", one, 500, 100 * time.Millisecond, 1000},
		{"quick at the ceiling: stays", one, 10_000, 10 * time.Millisecond, 10_000},
		{"near the ceiling: stops at it", one, 8000, 10 * time.Millisecond, 10_000},
		{"within the target: stays", one, 4000, 400 * time.Millisecond, 4000},
		{"slow: halves", one, 4000, 2 * time.Second, 2000},
		{"slow at the floor: stays", one, 50, 2 * time.Second, 50},
		{"slow below the floor: stays", one, 10, 2 * time.Second, 10},
		{"three key columns: 10,000 rows of 3 parameters fit", three, 8000, time.Millisecond, 10_000},
		{"three key columns at the bound", three, 10_000, time.Millisecond, 10_000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := c.nextBatch(tc.t, tc.size, tc.took); got != tc.want {
				t.Fatalf("nextBatch(%d, %s) = %d, want %d", tc.size, tc.took, got, tc.want)
			}
		})
	}
	wide := &table{Table: Table{Key: []string{"a", "b", "c", "d", "e", "f"}}}
	if got := c.nextBatch(wide, 4000, time.Millisecond); got != maxParams/6 {
		t.Fatalf("six key columns: %d, want %d", got, maxParams/6)
	}
	fixed := &Connector{BatchSize: 2}
	if got := fixed.nextBatch(one, 2, time.Millisecond); got != 2 {
		t.Fatalf("no target: %d", got)
	}
}
