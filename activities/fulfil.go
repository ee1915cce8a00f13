package activities

import (
	"archive/zip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.temporal.io/sdk/activity"
	"go.temporal.io/sdk/temporal"

	"github.com/dsrengine/dsr/connectors"
	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/keyring"
	"github.com/dsrengine/dsr/records"
)

// SystemInput names one system and the subject, for export and erasure.
type SystemInput struct {
	RequestID  string            `json:"request_id"`
	System     string            `json:"system"`
	Identities []domain.Identity `json:"identities"`
	// Pass names an erasure again after the first (data found again by
	// the aftercare): it keeps a baseline of its own, so its counts are
	// its own.
	Pass string `json:"pass,omitempty"`
}

// Exported is one system's export: the counts and where the file is. The
// data itself never enters the workflow's history.
type Exported struct {
	Result   connectors.Result `json:"result"`
	Artifact records.Artifact  `json:"artifact"`
}

// Export writes one system's data on the subject to a file under ExportDir
// and records it as an artifact. A retry rewrites the same file and finds
// the artifact already recorded, so it never acts twice.
func (a *Activities) Export(ctx context.Context, in SystemInput) (Exported, error) {
	sys, err := a.system(in.System)
	if err != nil {
		return Exported{}, err
	}
	dir, err := a.requestDir(in.RequestID)
	if err != nil {
		return Exported{}, err
	}
	key, err := a.fileKey(ctx, in.RequestID)
	if err != nil {
		return Exported{}, err
	}
	path := filepath.Join(dir, in.System+".json")
	var res connectors.Result
	defer keepAlive(ctx, "exporting "+in.System)()
	sum, size, err := writeAtomically(path, key, func(w io.Writer) error {
		var err error
		res, err = sys.Connector.Export(ctx, in.Identities, w)
		return err
	})
	if err != nil {
		return Exported{}, connectorError("export from "+in.System, err)
	}
	res.System = in.System
	art := records.Artifact{ID: in.RequestID + "/" + in.System, RequestID: in.RequestID, System: in.System, Format: "json",
		Location: "file://" + path, SHA256: sum, SizeBytes: size}
	if err := a.Store.AddArtifact(ctx, art); err != nil {
		return Exported{}, err
	}
	return Exported{Result: res, Artifact: art}, nil
}

// Gathered is one system's answer to an access request in one step: what
// it holds and, where it holds anything, the export.
type Gathered struct {
	Found    connectors.Result `json:"found"`
	Exported *Exported         `json:"exported,omitempty"`
}

// DiscoverAndExport asks a system what it holds on the subject and, if
// anything, exports it, in one activity. The workflow uses it where the
// export cannot depend on anything decided between the two (no sign-off,
// no identities still to confirm), saving a round trip per system. A
// retry does both again: the export replaces its file, and its artifact
// is recorded once.
func (a *Activities) DiscoverAndExport(ctx context.Context, in SystemInput) (Gathered, error) {
	found, err := a.Discover(ctx, DiscoverInput{RequestID: in.RequestID, System: in.System, Identities: in.Identities})
	if err != nil {
		return Gathered{}, err
	}
	out := Gathered{Found: found}
	if found.Total() == 0 {
		return out, nil
	}
	exported, err := a.Export(ctx, in)
	if err != nil {
		return Gathered{}, err
	}
	out.Exported = &exported
	return out, nil
}

// SystemSummary is what the access package says of one system: what is
// held, why, on which legal basis, who receives it, whether it is sold or
// shared, and how long it is kept.
type SystemSummary struct {
	System       string   `json:"system"`
	Department   string   `json:"department"`
	Records      int64    `json:"records"`
	Purposes     []string `json:"purposes,omitempty"`
	LegalBasis   string   `json:"legal_basis,omitempty"`
	Recipients   []string `json:"recipients"` // [] says "shared with no one"
	SoldOrShared bool     `json:"sold_or_shared"`
	Retention    string   `json:"retention,omitempty"`
	// Categories, Source, Transfers and AutomatedDecisions are the rest
	// of what GDPR Art. 15(1)-(2) and 14(2) ask the answer to say.
	Categories         []Category `json:"categories,omitempty"`
	Source             string     `json:"source,omitempty"`
	Transfers          []Transfer `json:"transfers,omitempty"`
	AutomatedDecisions string     `json:"automated_decisions,omitempty"`
	// Tables are the system's tables as CSV files in the package.
	Tables []string `json:"tables,omitempty"`
	Kept   string   `json:"kept_because,omitempty"`
	File   string   `json:"file,omitempty"`
	// Note says how data held outside the engine's reach was handled.
	Note string `json:"note,omitempty"`
}

// PackageInput assembles an access or portability package.
type PackageInput struct {
	RequestID  string             `json:"request_id"`
	Type       domain.RequestType `json:"type"`
	Regulation domain.Regulation  `json:"regulation"`
	Systems    []SystemSummary    `json:"systems"`
	Artifacts  []records.Artifact `json:"artifacts"`
}

// AssemblePackage zips every system's export with a manifest that opens
// the lid: per system the purposes, legal basis, recipients, sale or
// sharing and retention. Portability gets the same in machine-readable
// form; every file in the package is JSON.
func (a *Activities) AssemblePackage(ctx context.Context, in PackageInput) (records.Artifact, error) {
	defer keepAlive(ctx, "assembling the package")()
	dir, err := a.requestDir(in.RequestID)
	if err != nil {
		return records.Artifact{}, err
	}
	for i := range in.Systems {
		if in.Systems[i].Recipients == nil {
			in.Systems[i].Recipients = []string{}
		}
	}
	key, err := a.fileKey(ctx, in.RequestID)
	if err != nil {
		return records.Artifact{}, err
	}
	path := filepath.Join(dir, "package.zip")
	sum, size, err := writeAtomically(path, key, func(w io.Writer) error {
		z := zip.NewWriter(w)
		// Each export is copied into the zip as a stream, hashed on the
		// way: a package of gigabytes needs no more memory than a buffer.
		// A changed export fails the whole package, which is then not kept.
		// Each table goes in as CSV too, streamed the same way.
		tables := map[string][]*csvTable{}
		for _, art := range in.Artifacts {
			src := strings.TrimPrefix(art.Location, "file://")
			if err := addZipFile(z, "systems/"+art.System+".json", src, art.SHA256, key); err != nil {
				return fmt.Errorf("export of %s: %w", art.System, corrupt(err))
			}
			written, err := addCSVs(z, art.System, src, art.SHA256, key)
			if err != nil {
				return fmt.Errorf("export of %s as CSV: %w", art.System, corrupt(err))
			}
			tables[art.System] = written
		}
		for i := range in.Systems {
			for _, t := range tables[in.Systems[i].System] {
				in.Systems[i].Tables = append(in.Systems[i].Tables, t.file)
			}
		}
		if err := addReport(z, in, tables); err != nil {
			return fmt.Errorf("report: %w", err)
		}
		manifest, err := json.MarshalIndent(map[string]any{
			"request_id": in.RequestID, "type": in.Type, "regulation": in.Regulation, "systems": in.Systems,
		}, "", "  ")
		if err != nil {
			return err
		}
		// Fixed timestamps keep the package byte-identical across retries.
		if err := addZip(z, "manifest.json", manifest); err != nil {
			return err
		}
		return z.Close()
	})
	if err != nil {
		return records.Artifact{}, fmt.Errorf("assemble package of %s: %w", in.RequestID, err)
	}
	art := records.Artifact{ID: in.RequestID + "/package", RequestID: in.RequestID, System: "", Format: "zip",
		Location: "file://" + path, SHA256: sum, SizeBytes: size}
	if err := a.Store.AddArtifact(ctx, art); err != nil {
		return records.Artifact{}, err
	}
	policy := a.Packages
	if policy.Downloads == 0 {
		policy = domain.DefaultPackages()
	}
	return art, a.Store.OfferDownload(ctx, in.RequestID, time.Now().Add(policy.ExpireAfter), policy.Downloads)
}

// addZipFile streams a file into the zip and checks it against the
// digest it was recorded with.
func addZipFile(z *zip.Writer, name, path, digest string, key []byte) error {
	f, err := openFile(path, key)
	if err != nil {
		return err
	}
	defer f.Close()
	w, err := zipEntry(z, name)
	if err != nil {
		return err
	}
	h := sha256.New()
	if _, err := io.Copy(io.MultiWriter(w, h), f); err != nil {
		return err
	}
	if hex.EncodeToString(h.Sum(nil)) != digest {
		return tampered()
	}
	return nil
}

// corrupt makes an export that no longer decrypts a tampered one.
func corrupt(err error) error {
	if errors.Is(err, keyring.ErrCorrupt) || errors.Is(err, keyring.ErrNotEncrypted) {
		return tampered()
	}
	return err
}

// tampered is the error of an export that no longer matches the digest
// it was recorded with: permanent, since no retry can restore it.
func tampered() error {
	return temporal.NewNonRetryableApplicationError("it changed since it was written", "Tampered", nil)
}

// zipEntry opens a file in the package. Fixed timestamps keep the package
// byte-identical across retries.
func zipEntry(z *zip.Writer, name string) (io.Writer, error) {
	return z.CreateHeader(&zip.FileHeader{Name: name, Method: zip.Deflate, Modified: time.Unix(0, 0).UTC()})
}

func addZip(z *zip.Writer, name string, b []byte) error {
	w, err := zipEntry(z, name)
	if err != nil {
		return err
	}
	_, err = w.Write(b)
	return err
}

// Erase applies one system's erasure strategy. Connectors are idempotent:
// erasing again after a crash finds only what is left. So that the
// evidence still counts what the attempts before it erased, the first
// attempt keeps a baseline in the store (what the system held, per
// location, before anything changed); a later attempt adds the baseline
// less what it finds left to what it erases itself.
func (a *Activities) Erase(ctx context.Context, in SystemInput) (connectors.Result, error) {
	sys, err := a.system(in.System)
	if err != nil {
		return connectors.Result{}, err
	}
	defer keepAlive(ctx, "erasing "+in.System)()
	left, err := sys.Connector.Discover(ctx, in.Identities)
	if err != nil {
		return connectors.Result{}, connectorError("erase in "+in.System, err)
	}
	key := in.RequestID
	if in.Pass != "" {
		key += "/" + in.Pass
	}
	baseline, err := a.Store.ErasureBaseline(ctx, key, in.System, erasable(left))
	if err != nil {
		return connectors.Result{}, err
	}
	res, err := sys.Connector.Erase(ctx, in.Identities, connectors.EraseOptions{})
	if err != nil {
		return connectors.Result{}, connectorError("erase in "+in.System, err)
	}
	res = withEarlierWork(res, baseline, erasable(left))
	res.System = in.System
	return res, nil
}

// erasable is what discovery found that erasure changes, per location.
func erasable(found connectors.Result) map[string]int64 {
	out := map[string]int64{}
	for _, r := range found.Records {
		if r.Action == "found" {
			out[r.Location] += r.Count
		}
	}
	return out
}

// withEarlierWork adds to each location's change what earlier attempts
// changed there: the baseline less what this attempt found left.
func withEarlierWork(res connectors.Result, baseline, left map[string]int64) connectors.Result {
	res.Records = slices.Clone(res.Records)
	for _, i := range res.OwnChanges() {
		r := &res.Records[i]
		if earlier := baseline[r.Location] - left[r.Location]; earlier > 0 {
			r.Count += earlier
		}
	}
	return res
}

// keepAlive heartbeats every few seconds until stopped, so that the
// activity's short heartbeat timeout tells a live worker in a long
// statement from a dead one, which Temporal then retries elsewhere.
func keepAlive(ctx context.Context, progress string) (stop func()) {
	if !activity.IsActivity(ctx) { // called directly, as the tests do
		return func() {}
	}
	done := make(chan struct{})
	activity.RecordHeartbeat(ctx, progress)
	go func() {
		t := time.NewTicker(heartbeatEvery)
		defer t.Stop()
		for {
			select {
			case <-done:
				return
			case <-ctx.Done():
				return
			case <-t.C:
				activity.RecordHeartbeat(ctx, progress)
			}
		}
	}()
	return func() { close(done) }
}

// heartbeatEvery is well inside the workflows' heartbeat timeout (10 s).
const heartbeatEvery = 2 * time.Second

// SuppressInput puts a subject's identities on the suppression list.
type SuppressInput struct {
	RequestID  string            `json:"request_id"`
	Identities []domain.Identity `json:"identities"`
}

// Suppress adds the keyed hash of every identity to the suppression list,
// so the person is not re-imported or re-marketed; nothing readable stays.
func (a *Activities) Suppress(ctx context.Context, in SuppressInput) error {
	for _, id := range in.Identities {
		if err := a.Store.Suppress(ctx, string(id.Kind), a.Keys.Hash(string(id.Kind), id.Value), "erased", in.RequestID); err != nil {
			return err
		}
	}
	return a.Store.AppendAudit(ctx, records.AuditEntry{RequestID: in.RequestID, Actor: "engine", Action: "subject.suppressed",
		Detail: map[string]any{"identities": len(in.Identities)}})
}

func (a *Activities) requestDir(requestID string) (string, error) {
	if a.ExportDir == "" {
		err := errors.New("no export directory configured")
		return "", temporal.NewNonRetryableApplicationError(err.Error(), "BadConfig", err)
	}
	if err := domain.ValidateRequestID(requestID); err != nil {
		return "", temporal.NewNonRetryableApplicationError(err.Error(), "BadConfig", err)
	}
	dir := filepath.Join(a.ExportDir, requestID)
	return dir, os.MkdirAll(dir, 0o700)
}

// writeAtomically writes through a temporary file and renames it, so a
// crash never leaves a half-written file in place. The file is encrypted
// under key (keyring's chunked format, bound to the file's name); it
// returns the SHA-256 and size of what was written before encryption,
// which is what the evidence and the package check.
func writeAtomically(path string, key []byte, write func(io.Writer) error) (string, int64, error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return "", 0, err
	}
	defer os.Remove(tmp.Name())
	enc, err := keyring.NewFileWriter(tmp, key, filepath.Base(path))
	if err != nil {
		tmp.Close()
		return "", 0, err
	}
	h := sha256.New()
	cw := &countWriter{w: io.MultiWriter(enc, h)}
	if err := write(cw); err != nil {
		tmp.Close()
		return "", 0, err
	}
	if err := enc.Close(); err != nil {
		tmp.Close()
		return "", 0, err
	}
	if err := tmp.Chmod(0o600); err != nil {
		tmp.Close()
		return "", 0, err
	}
	if err := tmp.Close(); err != nil {
		return "", 0, err
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return "", 0, err
	}
	return hex.EncodeToString(h.Sum(nil)), cw.n, nil
}

// openFile reads a file writeAtomically wrote. One written before files
// were encrypted (a request in flight across the upgrade) is read as it is:
// every reader checks the digest the export was recorded with, which still
// refuses a changed file.
func openFile(path string, key []byte) (io.ReadCloser, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	r, _, err := keyring.OpenFile(f, key)
	if err != nil {
		f.Close()
		return nil, err
	}
	return struct {
		io.Reader
		io.Closer
	}{r, f}, nil
}

// fileKey is the key of a request's files. A subject whose key was
// destroyed (erased) has none, and no retry brings it back.
func (a *Activities) fileKey(ctx context.Context, requestID string) ([]byte, error) {
	key, err := a.Store.RequestKey(ctx, a.Keys, requestID)
	if errors.Is(err, records.ErrKeyDestroyed) {
		return nil, temporal.NewNonRetryableApplicationError(err.Error(), "KeyDestroyed", err)
	}
	return key, err
}

type countWriter struct {
	w io.Writer
	n int64
}

func (c *countWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
