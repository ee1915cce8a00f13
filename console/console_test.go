package console_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/dsrengine/dsr/activities"
	"github.com/dsrengine/dsr/connectors"
	"github.com/dsrengine/dsr/domain"
	"github.com/dsrengine/dsr/internal/testengine"
	"github.com/dsrengine/dsr/internal/testenv"
	"github.com/dsrengine/dsr/records"
	"github.com/dsrengine/dsr/requests"
	"github.com/dsrengine/dsr/store"
)

// browser starts headless Chromium for the test.
func browser(t *testing.T) context.Context {
	t.Helper()
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(testenv.Chromium(t)), chromedp.NoSandbox,
		chromedp.Flag("disable-dev-shm-usage", true))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancelCtx := chromedp.NewContext(actx)
	ctx, cancelTimeout := context.WithTimeout(ctx, 3*time.Minute)
	t.Cleanup(func() { cancelTimeout(); cancelCtx(); cancelAlloc() })
	return ctx
}

// waitText polls the page until sel's text contains want.
func waitText(t *testing.T, ctx context.Context, sel, want string) string {
	t.Helper()
	var text string
	testenv.Eventually(t, testenv.Wait, func() (bool, string) {
		text, _ = chromedp.Run(ctx, chromedp.Evaluate[string](`(document.querySelector(`+"`"+sel+"`"+`) || {}).textContent || ""`))
		if strings.Contains(text, want) {
			return true, ""
		}
		msg, _ := chromedp.Run(ctx, chromedp.Evaluate[string](`(document.getElementById("detail-message") || {}).textContent || ""`))
		return false, fmt.Sprintf("%s never showed %q; it shows %q (page message: %q)", sel, want, text, msg)
	})
	return text
}

// TestPrivacyCenterAndConsole drives the pages in real Chromium: a data
// subject asks to be erased from the privacy center; compliance signs in
// to the console, finds the request and verifies the subject; Finance's
// approver signs in and approves; an auditor reads the audit record.
func TestPrivacyCenterAndConsole(t *testing.T) {
	ctx := browser(t)
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "dsr.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	st.SyncDepartments(context.Background(), []records.Department{{Name: "Finance", Approvers: []string{"controller@acme.example"}}})
	e := testengine.StartEngine(t, st, activities.System{SystemRef: activities.SystemRef{Name: "billing", Department: "Finance"}, Connector: &linking{testengine.Table{Rows: 2}}})
	token := func(name, role, approver string, deps ...string) string {
		_, secret, err := st.CreateToken(context.Background(), store.NewToken{Name: name, Role: role, Approver: approver, Departments: deps})
		if err != nil {
			t.Fatal(err)
		}
		return secret
	}

	// The subject, without a token.
	err = chromedp.Do(ctx,
		chromedp.Navigate(e.Gateway+"/privacy"),
		chromedp.SetValue(chromedp.CSS("#type"), "erasure"),
		chromedp.SendKeys(chromedp.CSS("#email"), "Nora@Example.com"),
		chromedp.Click(chromedp.CSS("#submit")))
	if err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, "#form-error", "confirm that the request is about you")
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#declaration")), chromedp.Click(chromedp.CSS("#submit"))); err != nil {
		t.Fatal(err)
	}
	receipt := waitText(t, ctx, "#receipt", "was received. We will answer by")
	id := strings.Fields(strings.TrimPrefix(receipt, "Your request "))[0]
	// The receipt comes once Temporal holds the request; its first status
	// follows.
	v := e.WaitFor(t, id, domain.StatusVerifying)
	if v.Type != domain.Erasure || len(v.Timeline) == 0 || v.Timeline[0].Actor != "privacy-center" {
		t.Fatalf("the request from the form: %+v", v)
	}

	// Compliance: a wrong token is refused; the right one shows the list.
	err = chromedp.Do(ctx, chromedp.Navigate(e.Gateway+"/console/"), chromedp.SendKeys(chromedp.CSS("#token"), "dsr_wrong"), chromedp.Click(chromedp.CSS("#login-button")))
	if err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, "#login-error", "unknown or revoked API token")
	err = chromedp.Do(ctx, chromedp.SetValue(chromedp.CSS("#token"), token("compliance", store.RoleRequester, "")), chromedp.Click(chromedp.CSS("#login-button")))
	if err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, "#whoami", "compliance (requester)")
	row := `tr[data-id="` + id + `"]`
	// Refresh until the request is listed, then open it. A refresh still
	// under way redraws the list, and a click on the row it replaced
	// misses: the wait is for the click that lands.
	testenv.Eventually(t, testenv.Wait, func() (bool, string) {
		n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('`+row+`').length`))
		if n != 1 {
			chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#refresh")))
			return false, fmt.Sprintf("the request is in the console's list %d times", n)
		}
		err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(row)))
		return err == nil, fmt.Sprintf("opening the request from the list: %v", err)
	})
	waitText(t, ctx, "#detail-summary", "erasure under gdpr: verifying")
	// A GDPR deadline moves by at most two further months; three is refused.
	err = chromedp.Do(ctx, chromedp.SendKeys(chromedp.CSS("#action-text"), "many systems"), chromedp.SetValue(chromedp.CSS("#extend-by"), "days:45"), chromedp.Click(chromedp.CSS("#extend")))
	if err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, "#detail-message", "Refused:")
	err = chromedp.Do(ctx, chromedp.SetValue(chromedp.CSS("#extend-by"), "months:1"), chromedp.Click(chromedp.CSS("#extend")))
	if err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, "#detail-message", "Deadline extended")
	waitText(t, ctx, "#detail-timeline", "deadline extended by 1 month")
	err = chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`document.getElementById("action-text").value = ""`), chromedp.SendKeys(chromedp.CSS("#action-text"), "matched account login"), chromedp.Click(chromedp.CSS("#verify")))
	if err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, "#detail-message", "Identity verified.")

	// Billing's row names a customer number: compliance sees it masked,
	// with where it was found, and confirms it. Reopening the request is
	// how the console learns of it.
	e.Await(t, id, "the linked identity to confirm", func(v requests.View) bool { return v.WaitingFor == "compliance's confirmation of linked identities" })
	testenv.Eventually(t, testenv.Wait, func() (bool, string) {
		chromedp.Do(ctx, chromedp.Click(chromedp.CSS(row)))
		n, _ := chromedp.Run(ctx, chromedp.Evaluate[int](`document.querySelectorAll('.link-choice').length`))
		return n == 1, fmt.Sprintf("%d linked identities to choose from", n)
	})
	waitText(t, ctx, "#detail-links", "C***42")
	waitText(t, ctx, "#detail-links", "billing customers.customer_no")
	// Ticked and sent in one step: the detail view redraws when a reopening
	// answers, and a click on the box it replaced would miss.
	if err := chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`document.querySelector(".link-choice").click(); document.getElementById("links-confirm").click()`)); err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, "#detail-message", "Linked identities answered.")
	waitText(t, ctx, "#detail-links", "confirmed by api:compliance via api:compliance")
	e.WaitFor(t, id, domain.StatusAwaitingSignOff)

	// Finance's approver sees the request waiting for Finance and approves.
	finance := token("controller", store.RoleApprover, "controller@acme.example", "Finance")
	err = chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`sessionStorage.clear()`), chromedp.Navigate(e.Gateway+"/console/"),
		chromedp.SendKeys(chromedp.CSS("#token"), finance), chromedp.Click(chromedp.CSS("#login-button")))
	if err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, "#whoami", "controller (approver: Finance)")
	waitText(t, ctx, "#requests", id)
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(row))); err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, "#decide-department", "Finance")
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#approve"))); err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, "#detail-message", "Approved.")
	e.WaitFor(t, id, domain.StatusCompleted)

	// An auditor reads the audit record; no actions are offered.
	err = chromedp.Do(ctx, chromedp.Evaluate[chromedp.Void](`sessionStorage.clear()`), chromedp.Navigate(e.Gateway+"/console/"),
		chromedp.SendKeys(chromedp.CSS("#token"), token("auditor", store.RoleAuditor, "")), chromedp.Click(chromedp.CSS("#login-button")))
	if err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, "#requests", id)
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(row))); err != nil {
		t.Fatal(err)
	}
	waitText(t, ctx, "#detail-summary", "completed")
	steerHidden, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`document.getElementById("steer").classList.contains("hidden")`))
	if err != nil {
		t.Fatal(err)
	}
	if err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS("#evidence"))); err != nil {
		t.Fatal(err)
	}
	if !steerHidden {
		t.Fatal("an auditor is offered to steer the request")
	}
	record := waitText(t, ctx, "#evidence-timeline", "sign-off")
	for _, want := range []string{"controller@acme.example via api:controller", "identity verified", "erased", "intact ("} {
		if !strings.Contains(record, want) {
			t.Errorf("audit record lacks %q:\n%s", want, record)
		}
	}
	if strings.Contains(strings.ToLower(record), "nora") {
		t.Fatal("the audit record names the subject")
	}
}

// linking is a system whose rows name the subject's customer number in a
// link field.
type linking struct{ testengine.Table }

func (*linking) Linked(_ context.Context, ids []domain.Identity) ([]connectors.Link, error) {
	c, _ := domain.NewIdentity(domain.CustomerID, "C-1042")
	if slices.Contains(ids, c) {
		return nil, nil
	}
	return []connectors.Link{{Identity: c, Location: "customers.customer_no"}}, nil
}

// TestPrivacyCenterRights: in real Chromium, the form shows a correction's
// fields only for a correction, sends it to wait for the subject's code,
// and takes an opt-out of sale and sharing that needs no confirmation.
func TestPrivacyCenterRights(t *testing.T) {
	ctx := browser(t)
	st, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "dsr.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	e := testengine.StartEngine(t, st)
	visible := func(id string) bool {
		v, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`!document.getElementById("`+id+`").classList.contains("hidden")`))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	choose := func(kind string) {
		t.Helper()
		err := chromedp.Do(ctx, chromedp.SetValue(chromedp.CSS("#type"), kind),
			chromedp.Evaluate[chromedp.Void](`document.getElementById("type").dispatchEvent(new Event("change"))`))
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := chromedp.Do(ctx, chromedp.Navigate(e.Gateway+"/privacy")); err != nil {
		t.Fatal(err)
	}
	if visible("correction") || visible("grounds-row") {
		t.Fatal("an access request shows a correction's or a restriction's fields")
	}
	choose("rectification")
	if !visible("correction") || visible("grounds-row") {
		t.Fatal("a correction does not show its fields")
	}
	err = chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS("#field"), "name"),
		chromedp.SendKeys(chromedp.CSS("#value"), "Nora Smith"),
		chromedp.SendKeys(chromedp.CSS("#email"), "nora@example.com"),
		chromedp.Click(chromedp.CSS("#declaration")),
		chromedp.Click(chromedp.CSS("#submit")))
	if err != nil {
		t.Fatal(err)
	}
	receipt := waitText(t, ctx, "#receipt", "was received. We will answer by")
	id := strings.Fields(strings.TrimPrefix(receipt, "Your request "))[0]
	if v := e.WaitFor(t, id, domain.StatusVerifying); v.Type != domain.Rectification {
		t.Fatalf("the correction from the form: %+v", v.RequestState)
	}

	err = chromedp.Do(ctx, chromedp.Navigate(e.Gateway+"/privacy"))
	if err != nil {
		t.Fatal(err)
	}
	choose("opt_out")
	err = chromedp.Do(ctx,
		chromedp.SetValue(chromedp.CSS("#regulation"), "ccpa"),
		chromedp.SendKeys(chromedp.CSS("#email"), "nora@example.com"),
		chromedp.Click(chromedp.CSS("#declaration")),
		chromedp.Click(chromedp.CSS("#submit")))
	if err != nil {
		t.Fatal(err)
	}
	receipt = waitText(t, ctx, "#receipt", "It needs no confirmation.")
	id = strings.Fields(strings.TrimPrefix(receipt, "Your request "))[0]
	if visible("verify-section") {
		t.Fatal("the opt-out asks for a code")
	}
	if v := e.WaitFor(t, id, domain.StatusCompleted); v.Type != domain.OptOut {
		t.Fatalf("the opt-out from the form: %+v", v.RequestState)
	}
}
