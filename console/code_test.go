package console_test

import (
	"context"
	"fmt"
	"path/filepath"
	"regexp"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/dsrengine/dsr/activities"
	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/internal/testengine"
	"github.com/dsrengine/dsr/store"
)

// TestPrivacyCenterCode drives the privacy center in real Chromium: the
// subject sends a request, reads the code in the e-mail the engine sent
// through SMTP, enters a wrong one and is told so, then the right one, and
// the request is verified as theirs.
func TestPrivacyCenterCode(t *testing.T) {
	ctx := browser(t)
	sink := testengine.MailSink(t)
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "dsr.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	e := testengine.StartEngineWith(t, st, testengine.Options{Mail: sink})

	err = chromedp.Do(ctx,
		chromedp.Navigate(e.Gateway+"/privacy"),
		chromedp.SendKeys(chromedp.CSS("#email"), "nora@example.com"),
		chromedp.Click(chromedp.CSS("#declaration")),
		chromedp.Click(chromedp.CSS("#submit")))
	if err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, "#receipt", "please confirm that the address is yours")
	var code string
	for _, m := range sink.Messages() {
		if c := regexp.MustCompile(`: (\d{6})$`).FindStringSubmatch(m.Subject); c != nil {
			code = c[1]
		}
	}
	if code == "" {
		t.Fatalf("no code e-mailed: %+v", sink.Messages())
	}
	wrong := "000000"
	if code == wrong {
		wrong = "111111"
	}
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#code"), wrong), chromedp.Click(chromedp.CSS("#verify"))); err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, "#verify-result", "the code is not right")
	if err := chromedp.Do(ctx, chromedp.SetValue(chromedp.CSS("#code"), code), chromedp.Click(chromedp.CSS("#verify"))); err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, "#verify-result", "your address is confirmed")
	id := ""
	for _, r := range sink.Messages() {
		if c := regexp.MustCompile(`\((\S+)\)$`).FindStringSubmatch(r.Subject); c != nil {
			id = c[1]
		}
	}
	v := e.WaitFor(t, id, domain.StatusCompleted)
	if !v.IdentityVerified {
		t.Fatalf("completed unverified: %+v", v)
	}

	// Compliance's console shows the mail view, as dev mode has it, and a
	// message opens as text.
	_, secret, err := st.CreateToken(context.Background(), store.NewToken{Name: "compliance", Role: store.RoleRequester})
	if err != nil {
		t.Fatal(err)
	}
	err = chromedp.Do(ctx, chromedp.Navigate(e.Gateway+"/console/"), chromedp.SendKeys(chromedp.CSS("#token"), secret), chromedp.Click(chromedp.CSS("#login-button")))
	if err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, "#mail-list", "Your code for request "+id)
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#mail-list tr:last-child"))); err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, "#mail-text", "To: nora@example.com")
}

// TestSubjectPortalInChromium: the subject requests their data on the
// privacy center, confirms with the e-mailed code, follows the request to
// its page, downloads the package, and is refused once the link is used
// up and once it expired; a fresh code opens the page again in a new tab.
func TestSubjectPortalInChromium(t *testing.T) {
	ctx := browser(t)
	sink := testengine.MailSink(t)
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "dsr.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	e := testengine.StartEngineWith(t, st, testengine.Options{Mail: sink, Packages: domain.PackagePolicy{ExpireAfter: 24 * time.Hour, Downloads: 1},
		Systems: []activities.System{{SystemRef: activities.SystemRef{Name: "billing", Department: "Finance", Purposes: []string{"invoicing"}},
			Connector: &testengine.Table{Rows: 2}}}})
	codeFor := func(to string) string {
		msgs := sink.Messages()
		for i := len(msgs) - 1; i >= 0; i-- {
			if c := regexp.MustCompile(`: (\d{6})$`).FindStringSubmatch(msgs[i].Subject); c != nil && msgs[i].To[0] == to {
				return c[1]
			}
		}
		t.Fatalf("no code e-mailed to %s", to)
		return ""
	}
	err = chromedp.Do(ctx,
		chromedp.Navigate(e.Gateway+"/privacy"),
		chromedp.SetValue(chromedp.CSS("#type"), "access"),
		chromedp.SendKeys(chromedp.CSS("#email"), "omar@example.com"),
		chromedp.Click(chromedp.CSS("#declaration")),
		chromedp.Click(chromedp.CSS("#submit")))
	if err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, "#receipt", "please confirm that the address is yours")
	id, err := chromedp.Run(ctx, chromedp.Evaluate[string](`requestID`))
	if err != nil || id == "" {
		t.Fatalf("request id: %q %v", id, err)
	}
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#code"), codeFor("omar@example.com")), chromedp.Click(chromedp.CSS("#verify"))); err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, "#verify-result", "your address is confirmed")
	e.WaitFor(t, id, domain.StatusCompleted)
	arts, err := st.Artifacts(context.Background(), id)
	if err != nil {
		t.Fatal(err)
	}
	var size int64 // of the zip, as the subject receives it (kept encrypted)
	for _, a := range arts {
		if a.Format == "zip" {
			size = a.SizeBytes
		}
	}

	// The code just entered opens the request's page: no second code.
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#follow"))); err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, "#status-stage", "completed")
	waitText(t, ctx, "#package-info", "You can download it 1 more time")
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#download"))); err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, "#download-result", fmt.Sprintf("Downloaded (%d bytes)", size))
	waitText(t, ctx, "#package-info", "downloaded as many times as allowed")
	if disabled, _ := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("download").disabled`)); !disabled {
		t.Fatal("the download button stays enabled after the last download")
	}

	// Another tab, later: the page needs a fresh code, and then says the
	// link expired once the package was purged.
	if err := st.MarkPurged(context.Background(), id, "expired", time.Now()); err != nil {
		t.Fatal(err)
	}
	err = chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`sessionStorage.clear()`),
		chromedp.Navigate(e.Gateway+"/privacy/status?request="+id), chromedp.Click(chromedp.CSS("#send-code")))
	if err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, "#open-result", "A code is on its way")
	if err := chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#code"), codeFor("omar@example.com")), chromedp.Click(chromedp.CSS("#open"))); err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, "#package-info", "the download link has expired")
}
