package engine_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"

	"github.com/dsrengine/dsr/internal/testengine"
	"github.com/dsrengine/dsr/requests"
	"github.com/dsrengine/dsr/store"
)

// BenchmarkRequestEndToEnd measures one request from start to completed on
// the real in-process Temporal server (tuned as in dev mode) and SQLite:
// the engine's own overhead per request, without any connector.
func BenchmarkRequestEndToEnd(b *testing.B) {
	st, err := store.Open(context.Background(), filepath.Join(b.TempDir(), "dsr.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	e := testengine.StartEngine(b, st)
	ctx := context.Background()
	b.ResetTimer()
	for i := range b.N {
		in := input(fmt.Sprintf("BENCH-%d", i), "bench@example.com")
		res, err := requests.Start(ctx, e.Client, in)
		if err != nil {
			b.Fatal(err)
		}
		if err := e.Client.GetWorkflow(ctx, res.WorkflowID, "").Get(ctx, nil); err != nil {
			b.Fatal(err)
		}
	}
}
