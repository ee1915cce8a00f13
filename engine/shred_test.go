package engine_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/dsrengine/dsr/activities"
	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/internal/testengine"
	"github.com/dsrengine/dsr/internal/testenv"
	"github.com/dsrengine/dsr/keyring"
	"github.com/dsrengine/dsr/records"
	"github.com/dsrengine/dsr/requests"
	"github.com/dsrengine/dsr/store"
	"github.com/dsrengine/dsr/workflows"
)

// TestErasureShredsTheSubject: Jane's and Bob's access requests leave
// packages, archived histories and sealed identities. Jane's erasure
// deletes her earlier package and, once it completes, destroys her data
// key: her identities, histories and any copy of her files no longer
// open, while Bob's still do and the suppression list still knows her.
// Then the wrapping key is rotated: Bob's data reads with the new key
// alone, and the old key is told to rotate.
func TestErasureShredsTheSubject(t *testing.T) {
	st := openPostgres(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := st.SyncDepartments(ctx, []records.Department{{Name: "Finance", Approvers: []string{"controller@acme.example"}}}); err != nil {
		t.Fatal(err)
	}
	e := testengine.StartEngine(t, st,
		activities.System{SystemRef: activities.SystemRef{Name: "billing", Department: "Finance", Purposes: []string{"invoicing"}}, Connector: &testengine.Table{Rows: 2}})
	exportDir := func(id string) string {
		v, err := requests.Show(ctx, e.Client, id)
		if err != nil || v.Package == "" {
			t.Fatalf("%s has no package: %v", id, err)
		}
		return filepath.Dir(strings.TrimPrefix(v.Package, "file://"))
	}
	archived := func(id string) store.History {
		var h store.History
		testenv.Eventually(t, testenv.Wait, func() (bool, string) {
			var err error
			h, err = st.LatestHistory(ctx, id)
			return err == nil, fmt.Sprintf("%s never archived: %v", id, err)
		})
		return h
	}
	for _, id := range []string{"JANE-ACC", "BOB-ACC"} {
		who := map[string]string{"JANE-ACC": "jane@example.com", "BOB-ACC": "bob@example.com"}[id]
		if _, err := requests.Start(ctx, e.Client, input(id, who)); err != nil {
			t.Fatal(err)
		}
		e.Closed(t, id)
	}
	janeDir, bobDir := exportDir("JANE-ACC"), exportDir("BOB-ACC")
	janeRec, _ := st.GetRequest(ctx, "JANE-ACC")
	bobRec, _ := st.GetRequest(ctx, "BOB-ACC")
	janeHistory, bobHistory := archived("JANE-ACC"), archived("BOB-ACC")
	if _, err := st.OpenHistory(ctx, e.Keys, janeHistory); err != nil {
		t.Fatalf("Jane's history before her erasure: %v", err)
	}

	era := input("JANE-ERA", "jane@example.com")
	era.Type = domain.Erasure
	if _, err := requests.Start(ctx, e.Client, era); err != nil {
		t.Fatal(err)
	}
	e.WaitFor(t, "JANE-ERA", domain.StatusAwaitingSignOff)
	if err := requests.Decide(testengine.Approver(ctx, "controller@acme.example", "cli:cora"), e.Client, "JANE-ERA",
		workflows.Decision{Department: "Finance", Decision: "approve", Approver: "controller@acme.example", Via: "cli:cora"}); err != nil {
		t.Fatal(err)
	}
	res := e.Closed(t, "JANE-ERA") // the key is destroyed before the run closes
	// DSR_RECORD_SHRED_HISTORY records it for the replay test: the purge
	// of earlier exports, the evidence hold and the key's destruction.
	if path := os.Getenv("DSR_RECORD_SHRED_HISTORY"); path != "" {
		testengine.RecordHistory(t, e.RawClient, domain.WorkflowID("JANE-ERA"), path)
	}
	if res.Status != domain.StatusCompleted || !slices.ContainsFunc(res.Timeline, func(c workflows.StatusChange) bool {
		return strings.Contains(c.Note, "deleted the engine's exports of this person from 1 earlier requests")
	}) {
		t.Fatalf("erasure: %s, %+v", res.Status, res.Timeline)
	}

	// Jane: her earlier package is gone, and nothing the engine kept opens.
	if _, err := os.Stat(janeDir); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Jane's earlier package is still on disk: %v", err)
	}
	if _, err := st.ExistingRequestKey(ctx, e.Keys, "JANE-ACC"); !errors.Is(err, store.ErrKeyDestroyed) {
		t.Fatalf("Jane's file key after her erasure: %v", err)
	}
	if ids, err := st.SubjectIdentities(ctx, e.Keys, janeRec.SubjectID); err != nil || len(ids) != 0 {
		t.Fatalf("Jane's identities after her erasure: %v %v", ids, err)
	}
	if _, err := st.OpenHistory(ctx, e.Keys, janeHistory); !errors.Is(err, store.ErrKeyDestroyed) {
		t.Fatalf("Jane's archived history after her erasure: %v", err)
	}
	if h := archived("JANE-ERA"); !h.Sealed || len(h.JSON) != 0 || len(h.SHA256) != 64 {
		t.Fatalf("the erasure's own history is kept readable: sealed %v, %d bytes", h.Sealed, len(h.JSON))
	}
	if _, err := st.Contact(ctx, e.Keys, "JANE-ERA"); !errors.Is(err, records.ErrNotFound) {
		t.Fatalf("Jane's address after her erasure: %v", err)
	}
	// The evidence without personal data stays.
	if ok, err := st.Suppressed(ctx, "email", e.Keys.Hash("email", "jane@example.com")); err != nil || !ok {
		t.Fatalf("Jane is not suppressed: %v %v", ok, err)
	}
	trail := map[string]bool{}
	for _, id := range []string{"JANE-ACC", "JANE-ERA"} {
		log, _ := st.AuditLog(ctx, id)
		for _, a := range log {
			trail[id+" "+a.Action] = true
		}
	}
	for _, want := range []string{"JANE-ACC exports.purged", "JANE-ERA subject.key_destroyed", "JANE-ERA subject.suppressed"} {
		if !trail[want] {
			t.Errorf("the audit log lacks %s", want)
		}
	}
	if problems, err := st.VerifyAudit(ctx); err != nil || len(problems) > 0 {
		t.Fatalf("audit chain: %v %v", problems, err)
	}

	// Bob: untouched.
	bobReadable := func(keys *keyring.Keyring) {
		t.Helper()
		if files := testenv.Unzip(t, "file://"+filepath.Join(bobDir, "package.zip"), st, keys); files["report.html"] == "" {
			t.Fatalf("Bob's package: %v", files)
		}
		if ids, err := st.SubjectIdentities(ctx, keys, bobRec.SubjectID); err != nil || len(ids) != 1 || ids[0].Value != "bob@example.com" {
			t.Fatalf("Bob's identities: %v %v", ids, err)
		}
		if _, err := st.OpenHistory(ctx, keys, bobHistory); err != nil {
			t.Fatalf("Bob's history: %v", err)
		}
	}
	bobReadable(e.Keys)

	// Rotation: a new wrapping key re-wraps the keys; the data is not
	// touched, and reads with the new key alone.
	rotated, _ := keyring.New(testenv.TestKey)
	wrap := make([]byte, 32)
	rand.Read(wrap)
	if err := rotated.UseWrapKey(wrap); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(filepath.Join(bobDir, "package.zip"))
	n, err := st.RewrapSubjectKeys(ctx, e.Keys, rotated)
	if err != nil || n < 1 {
		t.Fatalf("rewrap: %d %v", n, err)
	}
	if again, err := st.RewrapSubjectKeys(ctx, e.Keys, rotated); err != nil || again != 0 {
		t.Fatalf("a second rotation: %d %v", again, err)
	}
	after, _ := os.ReadFile(filepath.Join(bobDir, "package.zip"))
	if string(before) != string(after) {
		t.Fatal("the rotation rewrote Bob's package")
	}
	bobReadable(rotated)
	if _, err := st.ExistingRequestKey(ctx, e.Keys, "BOB-ACC"); err == nil || !strings.Contains(err.Error(), "run worker keys rotate") {
		t.Fatalf("the old wrapping key after rotation: %v", err)
	}
	if _, err := st.ExistingRequestKey(ctx, rotated, "JANE-ACC"); !errors.Is(err, store.ErrKeyDestroyed) {
		t.Fatalf("the rotation brought Jane's key back: %v", err)
	}
}

// TestExpiredPackagesArePurged: once its download expires, a package and
// the exports it was made from are deleted by the engine's own loop, and
// the purge is audited once.
func TestExpiredPackagesArePurged(t *testing.T) {
	st := openPostgres(t)
	e := testengine.StartEngineWith(t, st, testengine.Options{Packages: domain.PackagePolicy{ExpireAfter: time.Second, Downloads: 1},
		Systems: []activities.System{{SystemRef: activities.SystemRef{Name: "billing", Department: "Finance"}, Connector: &testengine.Table{Rows: 2}}}})
	ctx := context.Background()
	if _, err := requests.Start(ctx, e.Client, input("EXP-1", "jane@example.com")); err != nil {
		t.Fatal(err)
	}
	v := e.Closed(t, "EXP-1")
	dir := filepath.Dir(strings.TrimPrefix(v.Package, "file://"))
	testenv.Eventually(t, testenv.Wait, func() (bool, string) {
		d, err := st.GetDownload(ctx, "EXP-1")
		_, gone := os.Stat(dir)
		return err == nil && d.PurgedAt != nil && errors.Is(gone, os.ErrNotExist), fmt.Sprintf("not purged: %+v %v, files: %v", d, err, gone)
	})
	log, _ := st.AuditLog(ctx, "EXP-1")
	n := 0
	for _, a := range log {
		if a.Action == "exports.purged" && strings.Contains(a.DetailRaw, "expired") {
			n++
		}
	}
	if n != 1 {
		t.Fatalf("%d purges audited, want 1", n)
	}
}
