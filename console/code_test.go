package console_test

import (
	"context"
	"path/filepath"
	"regexp"
	"testing"

	"github.com/chromedp/chromedp"

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
