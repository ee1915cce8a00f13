//go:build !race

// The race detector multiplies memory and time; this test measures the
// heap, so it runs in the normal suite only.

package http_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	nethttp "net/http"
	"net/http/httptest"
	"runtime"
	"runtime/debug"
	"strings"
	"testing"
	"time"

	"github.com/dsrengine/dsr/connectors"
	dsrhttp "github.com/dsrengine/dsr/connectors/http"
)

// TestEndlessPagesEndAtTheCap: a broken or hostile API answers every page
// with 30 MiB of the subject's records and a cursor to one more. The
// export streams the records to its file, one page at a time, so the
// worker's heap stays near one page however many pass; the call ends with
// ErrTooLarge when the system's cap is reached, not when memory runs out.
func TestEndlessPagesEndAtTheCap(t *testing.T) {
	const pageBytes = 30 << 20
	record := `{"id":%d,"email":"jane@example.com","note":"` + strings.Repeat("x", 1000) + `"}`
	perPage := pageBytes / (len(record) + 10)
	page := 0
	ts := httptest.NewServer(nethttp.HandlerFunc(func(w nethttp.ResponseWriter, r *nethttp.Request) {
		page++
		// Written as it goes: the API's own memory is not the worker's.
		bw := bufio.NewWriter(w)
		bw.WriteString(`{"items":[`)
		for i := range perPage {
			if i > 0 {
				bw.WriteByte(',')
			}
			fmt.Fprintf(bw, record, page*perPage+i)
		}
		fmt.Fprintf(bw, `],"cursor":"p%d"}`, page)
		bw.Flush()
	}))
	defer ts.Close()
	c, err := dsrhttp.Open("endless", ts.URL, dsrhttp.Auth{Type: "none"}, []dsrhttp.Object{{Name: "events",
		Lookup: dsrhttp.Call{Path: "/events?email={email}", Items: "items", Match: "email", Pagination: &dsrhttp.Pagination{Cursor: "cursor", CursorParam: "cursor"}},
		Erase:  "keep", LegalHold: "x"}})
	if err != nil {
		t.Fatal(err)
	}
	c.MaxBytes = 400 << 20
	// A worker run with a memory limit, as production's should be.
	defer debug.SetMemoryLimit(debug.SetMemoryLimit(192 << 20))

	var peak uint64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		var m runtime.MemStats
		for {
			runtime.ReadMemStats(&m)
			peak = max(peak, m.HeapInuse)
			select {
			case <-stop:
				return
			case <-time.After(5 * time.Millisecond):
			}
		}
	}()
	var written countingWriter
	_, err = c.Export(context.Background(), email(t, "jane@example.com"), &written)
	close(stop)
	<-sampled
	if !errors.Is(err, connectors.ErrTooLarge) || !strings.Contains(err.Error(), "more than 400 MiB in one call") {
		t.Fatalf("after %d pages: %v", page, err)
	}
	if page < 13 || written.n < 350<<20 {
		t.Fatalf("only %d pages read, %d MiB written: the records did not stream", page, written.n>>20)
	}
	// About one page as bytes and as decoded records at a time: the heap
	// stays within the worker's limit while twice that streams through.
	if peak > 224<<20 {
		t.Fatalf("the heap peaked at %d MiB while %d MiB streamed", peak>>20, written.n>>20)
	}
	t.Logf("%d pages, %d MiB written, heap peak %d MiB", page, written.n>>20, peak>>20)
}

// countingWriter counts and drops what the export writes.
type countingWriter struct{ n int64 }

func (w *countingWriter) Write(p []byte) (int, error) {
	w.n += int64(len(p))
	return len(p), nil
}
