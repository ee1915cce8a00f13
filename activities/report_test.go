package activities_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"image"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/dsrengine/dsr/activities"
	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/internal/testenv"
	"github.com/dsrengine/dsr/records"
	"github.com/dsrengine/dsr/store"
)

// reportPackage assembles a package for one system that declares every
// fact GDPR Art. 15(1) and (2) asks about, and returns its report.html.
func reportPackage(t *testing.T, reg domain.Regulation, rows int) string {
	t.Helper()
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "dsr.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	received := time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)
	if _, err := st.RecordProvisional(context.Background(), records.Request{ID: "REP-1", Type: domain.Access, Regulation: reg, Status: domain.StatusReceived,
		ReceivedAt: received, DueAt: domain.DueAt(reg, received), WorkflowID: domain.WorkflowID("REP-1")}, "cli:test"); err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	b.WriteString(`{"customers": {"categories": {"email": ["contact"]}, "undeclared_columns": [], "rows": [`)
	for i := range rows {
		if i > 0 {
			b.WriteString(",")
		}
		// A hostile value: the page must show it as text, never run it.
		b.WriteString(`{"id": ` + string(rune('0'+i%10)) + `, "email": "jane@example.com", "credit_score": 712, "first_name": "<script>document.title='owned'</script>Jane"}`)
	}
	b.WriteString(`]}}`)
	export := filepath.Join(t.TempDir(), "crm.json")
	writeExport(t, st, "REP-1", export, b.String())
	sum := sha256.Sum256([]byte(b.String()))
	in := activities.PackageInput{RequestID: "REP-1", Type: domain.Access, Regulation: reg,
		Systems: []activities.SystemSummary{{
			System: "crm", Department: "Sales", Records: int64(rows), File: "systems/crm.json",
			Purposes: []string{"credit-checks", "customer-relationship"}, LegalBasis: "contract (GDPR Art. 6(1)(b))",
			Recipients: []string{"ScoreCo Ltd (processor)"}, SoldOrShared: true, Retention: "6 years after the last order",
			Categories:         []activities.Category{{Name: "contact", Fields: []string{"email", "first_name"}}, {Name: "financial", Fields: []string{"credit_score"}}},
			Source:             "bought from DataBroker Inc., a list of movers",
			Transfers:          []activities.Transfer{{To: "ScoreCo Inc., United States", Safeguard: "EU standard contractual clauses (2021/914)"}},
			AutomatedDecisions: "a credit limit is set from the credit score; a low score lowers the limit",
		}},
		Artifacts: []records.Artifact{{ID: "REP-1/crm", RequestID: "REP-1", System: "crm", Format: "json", Location: "file://" + export, SHA256: hex.EncodeToString(sum[:])}}}
	pkg, err := (&activities.Activities{Store: st, Keys: testKeys, ExportDir: t.TempDir()}).AssemblePackage(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	return testenv.Unzip(t, pkg.Location, st, testKeys)["report.html"]
}

// TestReportHoldsEveryArticle15Item: report.html says, for a system that
// declares each, every item GDPR Art. 15(1) and (2) lists, groups the
// fields by category in words, and shows hostile values as text.
func TestReportHoldsEveryArticle15Item(t *testing.T) {
	page := reportPackage(t, domain.GDPR, 3)
	for item, want := range map[string]string{
		"(a) purposes":          "credit checks; customer relationship",
		"legal basis":           "contract (GDPR Art. 6(1)(b))",
		"(b) categories":        "<strong>Contact</strong>: email, first name",
		"(b) categories, 2":     "<strong>Financial</strong>: credit score",
		"(c) recipients":        "<li>ScoreCo Ltd (processor)</li>",
		"sale or sharing":       "Yes: this data is sold to or shared with",
		"(d) retention":         "6 years after the last order",
		"(e) rectification":     "rectified",
		"(e) erasure":           "erased (Art. 17)",
		"(e) restriction":       "restrict its processing (Art. 18)",
		"(e) objection":         "object to its processing",
		"(f) complaint":         "complain to the data protection supervisory authority",
		"(g) source":            "bought from DataBroker Inc., a list of movers",
		"(h) automated":         "a credit limit is set from the credit score",
		"15(2) transfers":       "To ScoreCo Inc., United States, protected by EU standard contractual clauses (2021/914)",
		"grouped columns":       `<th colspan="2" scope="colgroup">Contact</th><th colspan="1" scope="colgroup">Financial</th><th colspan="1" scope="colgroup">Other details</th>`,
		"columns in words":      `<th scope="col">email</th><th scope="col">first name</th><th scope="col">credit score</th><th scope="col">id</th>`,
		"hostile value as text": "&lt;script&gt;document.title=&#39;owned&#39;&lt;/script&gt;Jane",
		"the CSV":               "Also in systems/crm/customers.csv",
	} {
		if !strings.Contains(page, want) {
			t.Errorf("%s: the report lacks %q", item, want)
		}
	}
	if strings.Contains(page, "<script>") {
		t.Fatal("the report carries a script")
	}
	for reg, want := range map[domain.Regulation]string{
		domain.UKGDPR: "Information Commissioner's Office",
		domain.CCPA:   "to opt out of the sale or sharing",
		domain.LGPD:   "anonymised, blocked or deleted",
	} {
		if page := reportPackage(t, reg, 1); !strings.Contains(page, want) && !strings.Contains(page, strings.ReplaceAll(want, "'", "&#39;")) {
			t.Errorf("%s: the rights section lacks %q", reg, want)
		}
	}
	// A long table shows its first rows and says where the rest is.
	if page := reportPackage(t, domain.GDPR, 150); strings.Count(page, "<td>jane@example.com</td>") != 100 || !strings.Contains(page, "And 50 more rows: all of them are in systems/crm/customers.csv") {
		t.Fatal("a table of 150 rows is not cut at 100 with the rest named")
	}
}

// TestReportRendersInChromium opens report.html in Chromium, as a subject
// would from the unzipped package, and checks the screenshot: a page of
// text and tables, nothing blocked, the hostile value shown, not run.
func TestReportRendersInChromium(t *testing.T) {
	page := reportPackage(t, domain.GDPR, 3)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write([]byte(page))
	}))
	defer srv.Close()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(testenv.Chromium(t)), chromedp.NoSandbox,
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.WindowSize(1200, 900))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	ctx, cancel := chromedp.NewContext(actx)
	defer cancel()
	ctx, cancelT := context.WithTimeout(ctx, 2*time.Minute)
	defer cancelT()
	if err := chromedp.Do(ctx, chromedp.Navigate(srv.URL+"/report.html"), chromedp.WaitVisible(chromedp.CSS("#rights"))); err != nil {
		t.Fatal(err)
	}
	title, err := chromedp.Run(ctx, chromedp.Title())
	if err != nil {
		t.Fatal(err)
	}
	tables, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("table").length`))
	headings, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll("h2").length`))
	cell, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector("#system-crm tbody tr td:nth-child(2)").textContent`))
	shot, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		t.Fatal(err)
	}
	if title != "Your data: request REP-1" || tables != 1 || headings != 3 || !strings.HasPrefix(cell, "<script>") {
		t.Fatalf("title %q, %d tables, %d headings, first name cell %q", title, tables, headings, cell)
	}
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("screenshot: %v", err)
	}
	if dir := os.Getenv("DSR_TEST_SHOTS"); dir != "" { // to look at the page
		if err := os.WriteFile(filepath.Join(dir, "report.png"), shot, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	// A rendered page is tall (the whole report), mostly white, with dark
	// text and the table header's tint: a blank or unstyled page is not.
	b := img.Bounds()
	if b.Dy() < 1200 {
		t.Fatalf("the page is %d px tall: the report did not render", b.Dy())
	}
	white, dark, tint := count(img)
	total := b.Dx() * b.Dy()
	if white < total/2 || dark < total/200 || tint == 0 {
		t.Fatalf("screenshot %dx%d: %d white, %d dark, %d header-tint pixels", b.Dx(), b.Dy(), white, dark, tint)
	}
}

// count sorts a screenshot's pixels: white, dark (text) and the table
// header's background (#eef2f7).
func count(img image.Image) (white, dark, tint int) {
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			r, g, bl = r>>8, g>>8, bl>>8
			switch {
			case r > 250 && g > 250 && bl > 250:
				white++
			case r < 90 && g < 90 && bl < 90:
				dark++
			case r == 0xee && g == 0xf2 && bl == 0xf7:
				tint++
			}
		}
	}
	return
}
