package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/rs/zerolog"

	"github.com/holdfast/holdfast/shared/app"
	"github.com/holdfast/holdfast/shared/auditchain"
	"github.com/holdfast/holdfast/shared/testbed/azurite"
	"github.com/holdfast/holdfast/shared/testbed/localstack"
	"github.com/holdfast/holdfast/shared/testbed/scenario"
	"github.com/holdfast/holdfast/shared/testbed/scenario/runner"
)

// chromiumPath is Debian's chromium (installed by .ci/run);
// HOLDFAST_CHROMIUM overrides it.
func chromiumPath() string {
	if p := os.Getenv("HOLDFAST_CHROMIUM"); p != "" {
		return p
	}
	return "/usr/bin/chromium"
}

// screenshotDir is where the browser test leaves a PNG of each page.
const screenshotDir = "../bench/screenshots"

// browser drives one headless Chromium tab and collects every console
// error and uncaught exception the pages produce.
type browser struct {
	t    *testing.T
	ctx  context.Context
	mu   sync.Mutex
	errs []string
}

func newBrowser(t *testing.T) *browser {
	t.Helper()
	path := chromiumPath()
	if _, err := os.Stat(path); err != nil {
		// Fail, never skip: a dashboard test that skips would pass
		// without a browser having loaded anything.
		t.Fatalf("headless Chromium not found at %s (%v): install Debian's chromium (apt-get install -y chromium; .ci/run does) or set HOLDFAST_CHROMIUM", path, err)
	}
	opts := []chromedp.ExecAllocatorOption{
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.NoSandbox,
		chromedp.DisableGPU,
		chromedp.Flag("disable-quic", true),
		chromedp.NoFirstRun,
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.UserDataDir(t.TempDir()),
		chromedp.WindowSize(1280, 900),
	}
	actx, cancelA := chromedp.NewExecAllocator(context.Background(), opts...)
	ctx, cancel := chromedp.NewContext(actx)
	t.Cleanup(func() { cancel(); cancelA() })
	b := &browser{t: t, ctx: ctx}
	if err := chromedp.Do(ctx, chromedp.Navigate("about:blank")); err != nil {
		t.Fatalf("starting Chromium: %v", err)
	}
	msgs := chromedp.Console(ctx)
	go func() {
		for m, err := range msgs {
			if err != nil {
				return
			}
			if m.Type == chromedp.ConsoleError || m.IsException() {
				b.mu.Lock()
				b.errs = append(b.errs, string(m.Type)+": "+m.Text+" ("+m.URL+")")
				b.mu.Unlock()
			}
		}
	}()
	return b
}

func (b *browser) do(what string, steps ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, steps...); err != nil {
		// Say where the browser ended up: the page usually tells why.
		dctx, dcancel := context.WithTimeout(b.ctx, 5*time.Second)
		defer dcancel()
		loc, _ := chromedp.Run(dctx, chromedp.Location())
		body, _ := chromedp.Run(dctx, chromedp.Evaluate[string](`document.body ? document.body.innerText.slice(0, 600) : ""`))
		b.t.Fatalf("%s: %v (at %s: %q)", what, err, loc, body)
	}
}

func (b *browser) text(sel string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS(sel)))
	if err != nil {
		b.t.Fatalf("text of %s: %v", sel, err)
	}
	return s
}

func (b *browser) eval(js string) bool {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](js))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", js, err)
	}
	return ok
}

// load navigates, waits for main, checks the accessibility basics and
// the console, and writes a screenshot named name.png.
func (b *browser) load(url, name string) {
	b.t.Helper()
	b.do("load "+url, chromedp.Navigate(url), chromedp.WaitVisible(chromedp.CSS("main")))
	b.checkPage(name)
}

func (b *browser) checkPage(name string) {
	b.t.Helper()
	// Give late console messages (a blocked stylesheet, a CSP report)
	// a moment to arrive.
	time.Sleep(150 * time.Millisecond)
	b.mu.Lock()
	errs := append([]string(nil), b.errs...)
	b.errs = nil
	b.mu.Unlock()
	if len(errs) > 0 {
		b.t.Errorf("%s: console errors: %s", name, strings.Join(errs, "; "))
	}
	checks := []struct{ what, js string }{
		{"the page declares its language", `document.documentElement.lang === "en"`},
		{"exactly one h1", `document.querySelectorAll("h1").length === 1`},
		{"every visible form field has a label", `[...document.querySelectorAll("input:not([type=hidden]), select, textarea")].every(e => e.labels && e.labels.length > 0)`},
		{"the stylesheet applied (CSP allows it)", `getComputedStyle(document.querySelector("header.top")).display === "flex"`},
		{"no script on the page", `document.scripts.length === 0`},
		{"every table column has a header", `[...document.querySelectorAll("table")].every(t => t.querySelectorAll("thead th[scope=col]").length > 0)`},
	}
	for _, c := range checks {
		if !b.eval(c.js) {
			b.t.Errorf("%s: %s: no", name, c.what)
		}
	}
	// Keyboard: Tab from the top reaches the skip link, then the
	// navigation.
	b.do("focus the page", chromedp.Evaluate[chromedp.Void](`document.activeElement && document.activeElement.blur()`))
	b.do("tab", chromedp.KeyEvent("\t"))
	if !b.eval(`document.activeElement.classList.contains("skip")`) {
		b.t.Errorf("%s: the first Tab does not reach the skip link", name)
	}
	b.do("tab", chromedp.KeyEvent("\t"))
	if !b.eval(`document.activeElement.closest("nav") !== null`) {
		b.t.Errorf("%s: the second Tab does not reach the navigation", name)
	}
	b.do("blur", chromedp.Evaluate[chromedp.Void](`document.activeElement.blur()`))
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
	if err != nil {
		b.t.Fatalf("%s: screenshot: %v", name, err)
	}
	if err := os.MkdirAll(screenshotDir, 0o755); err != nil {
		b.t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(screenshotDir, name+".png"), png, 0o644); err != nil {
		b.t.Fatal(err)
	}
}

// rowText is the text of the calendar row of upn.
func (b *browser) rowText(upn string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	s, err := chromedp.Run(ctx, chromedp.Evaluate[string](`(() => { const r = [...document.querySelectorAll("table.cases tbody tr")].find(r => r.querySelector("th").textContent.trim() === `+jsString(upn)+`); return r ? r.innerText : ""; })()`))
	if err != nil {
		b.t.Fatalf("row of %s: %v", upn, err)
	}
	return s
}

func jsString(s string) string {
	r := strings.NewReplacer(`\`, `\\`, `"`, `\"`)
	return `"` + r.Replace(s) + `"`
}

// TestDashboardInBrowser plays the demo scenario against the local stack
// and reads the dashboard in headless Chromium, as `holdfast dev --listen`
// serves it: mid-scenario (day 0, 1h05) the calendar shows each leaver's
// state and the deadline the scenario implies, and an admin release goes
// through its confirmation page into the audit; at the end every leaver
// is listed, a rescued leaver's case page shows when its hold was placed,
// verified and in effect, and the exported audit verifies until a row is
// edited.
func TestDashboardInBrowser(t *testing.T) {
	b := newBrowser(t)
	raw, err := os.ReadFile("../scenarios/demo.json")
	if err != nil {
		t.Fatal(err)
	}
	sc, err := scenario.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	az := azurite.ForTest(t)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	st, err := localstack.Start(ctx, localstack.Options{Start: sc.Start, Settings: sc.Settings, AzuriteConnectionString: az.ConnectionString, TablePrefix: "dash", Log: zerolog.Nop()})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	base, err := st.ServeAPI("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}

	// The pause: before the first step on day 4, after the deletions and
	// licence removal of the first hour.
	pause := -1
	for i, s := range sc.Steps {
		if s.Offset() >= 4*24*time.Hour {
			pause = i
			break
		}
	}
	if pause < 0 {
		t.Fatal("demo has no step on day 4")
	}
	// The deadlines the scenario implies: 30 days after each deletion or
	// licence removal played before the pause (the earliest per user).
	implied := map[string]time.Time{}
	for _, s := range sc.Steps[:pause] {
		if s.Admin != nil && (s.Admin.Action == "deleteUser" || s.Admin.Action == "removeLicense") {
			d := sc.Start.Add(s.Offset()).Add(30 * 24 * time.Hour)
			if cur, ok := implied[s.Admin.UPN]; !ok || d.Before(cur) {
				implied[s.Admin.UPN] = d
			}
		}
	}
	if len(implied) < 3 {
		t.Fatalf("expected the demo to start at least 3 clocks in its first hour, found %v", implied)
	}
	var leavers []string
	for _, s := range sc.Steps {
		if s.HR != nil && s.HR.UPN != "" && !contains(leavers, s.HR.UPN) {
			leavers = append(leavers, s.HR.UPN)
		}
		if s.Admin != nil && !contains(leavers, s.Admin.UPN) {
			leavers = append(leavers, s.Admin.UPN)
		}
	}

	midDone := false
	r := &runner.Runner{Stack: st, BeforeStep: func(ctx context.Context, i int) error {
		if i != pause {
			return nil
		}
		midDone = true
		b.load(base, "calendar")
		for upn, d := range implied {
			row := b.rowText(upn)
			if row == "" {
				t.Errorf("calendar mid-demo: no row for %s", upn)
				continue
			}
			if day := d.UTC().Format("Mon 2 Jan 2006"); !strings.Contains(row, day) {
				t.Errorf("calendar mid-demo: %s row %q does not show the implied deadline %s", upn, row, day)
			}
			if !strings.Contains(row, "days left") {
				t.Errorf("calendar mid-demo: %s row %q shows no time left", upn, row)
			}
		}
		if row := b.rowText("bob@contoso.test"); !strings.Contains(row, "At risk") {
			t.Errorf("calendar mid-demo: bob (deleted, retain) is not at risk: %q", row)
		}
		if row := b.rowText("gus@contoso.test"); !strings.Contains(row, "Blocked") {
			t.Errorf("calendar mid-demo: gus is not blocked: %q", row)
		}
		// The state filter works without JavaScript: a plain GET.
		b.load(base+"?state=blocked", "calendar-blocked")
		if b.rowText("gus@contoso.test") == "" || b.rowText("bob@contoso.test") != "" {
			t.Errorf("state filter: gus shown %v, bob hidden %v", b.rowText("gus@contoso.test") != "", b.rowText("bob@contoso.test") == "")
		}
		adminRelease(t, b, base)
		return nil
	}}
	rep, err := r.Run(ctx, sc)
	if err != nil {
		t.Fatal(err)
	}
	if !midDone {
		t.Fatal("the mid-demo checks did not run")
	}
	if !rep.OK {
		t.Errorf("demo expectations failed after the dashboard release: %+v", rep.Expectations)
	}

	// The end of the demo: every leaver listed with a state.
	b.load(base, "calendar-end")
	for _, upn := range leavers {
		row := b.rowText(upn)
		if row == "" {
			t.Errorf("calendar at the end: %s missing", upn)
		}
	}
	if row := b.rowText("carol@contoso.test"); !strings.Contains(row, "purged") {
		t.Errorf("carol (released, purged) row: %q", row)
	}
	// bob was rescued: his case page shows the hold's evidence.
	b.do("open bob", chromedp.Click(chromedp.Search(`//a[text()="bob@contoso.test"]`)), chromedp.WaitVisible(chromedp.CSS("#evidence-h")))
	b.checkPage("case-rescued")
	// The top of the page (evidence) as the viewport shows it, for the docs.
	top, err := chromedp.Run(b.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(screenshotDir, "case-rescued-top.png"), top, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, sel := range []string{".ev-placed", ".ev-verified", ".ev-effective"} {
		if v := b.text(sel); !strings.Contains(v, "2026") {
			t.Errorf("bob's case page %s: %q, want a time", sel, v)
		}
	}
	if v := b.text("p.chain"); !strings.Contains(v, "verified") {
		t.Errorf("bob's audit chain: %q", v)
	}
	loc, err := chromedp.Run(b.ctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	bobKey := loc[strings.LastIndex(loc, "/")+1:]
	b.load(base+"ui/rejected", "rejected")
	if v := b.text("table.rejected"); !strings.Contains(v, "invalid") && !strings.Contains(v, "Remove-Mailbox") {
		t.Errorf("rejected page does not show the demo's malformed event: %q", v)
	}
	// As devCmd does after the scenario: each timer function once.
	for _, fn := range []string{app.FnExpirySweep, app.FnReconcile} {
		if _, err := st.FireTimer(ctx, fn); err != nil {
			t.Fatal(err)
		}
	}
	b.load(base+"ui/health", "health")
	if v := b.text("table.health"); !strings.Contains(v, "not configured") || !strings.Contains(v, "Last sweep") || strings.Contains(v, "never") {
		t.Errorf("health page (Graph subscription not configured, sweeps and reconciles recorded): %q", v)
	}

	// Evidence export: verifies as exported, from storage, and fails
	// naming the row once one row is edited.
	for _, format := range []string{"json", "csv"} {
		export := get(t, base+"ui/case/"+bobKey+"/evidence."+format)
		if v := verifyExport(export, ""); v.Err != nil || v.Result.Verified < 5 {
			t.Fatalf("%s export: %+v", format, v)
		}
		target := "Get-Mailbox confirms LitigationHoldEnabled"
		if !bytes.Contains(export, []byte(target)) {
			t.Fatalf("%s export has no verifyHold row", format)
		}
		edited := bytes.Replace(export, []byte(target), []byte("Get-Mailbox confirmed nothing"), 1)
		v := verifyExport(edited, "")
		var bad *auditchain.BadRowError
		if !errors.As(v.Err, &bad) {
			t.Fatalf("%s: edited export verified: %+v", format, v)
		}
		if !strings.Contains(v.Rows[bad.Row-1].Detail, "confirmed nothing") {
			t.Errorf("%s: named row %d (%s), not the edited one", format, bad.Row, v.Rows[bad.Row-1].Detail)
		}
		var out bytes.Buffer
		if err := report(&out, v); err == nil || !strings.Contains(out.String(), "row ") {
			t.Errorf("%s: verify-audit report %q, err %v", format, out.String(), err)
		}
	}
	if v := verifyStored(ctx, st.App.Store, bobKey); v.Err != nil {
		t.Errorf("stored audit: %v", v.Err)
	}
}

// adminRelease releases gus from his case page through the confirmation
// step and checks the audit names the admin.
func adminRelease(t *testing.T, b *browser, base string) {
	b.do("open gus", chromedp.Navigate(base), chromedp.WaitVisible(chromedp.CSS("main")),
		chromedp.Click(chromedp.Search(`//a[text()="gus@contoso.test"]`)), chromedp.WaitVisible(chromedp.CSS("#admin-h")))
	b.checkPage("case-blocked")
	b.do("fill release", chromedp.SendKeys(chromedp.ID("release-param"), "legal confirmed no hold needed"),
		chromedp.SendKeys(chromedp.ID("release-actor"), "Test Admin"),
		chromedp.Click(chromedp.CSS(`form.op input[value=release] ~ button`)),
		chromedp.WaitVisible(chromedp.CSS("button.danger")))
	b.checkPage("confirm")
	if v := b.text("main"); !strings.Contains(v, "legal confirmed no hold needed") || !strings.Contains(v, "admin:dashboard:Test Admin") {
		t.Errorf("confirm page does not show what will happen: %q", v)
	}
	b.do("confirm", chromedp.Click(chromedp.CSS("button.danger")), chromedp.WaitVisible(chromedp.CSS("p.done")))
	b.checkPage("case-released")
	if v := b.text("p.summary"); !strings.Contains(v, "released") {
		t.Errorf("after release the case reads %q", v)
	}
	if v := b.text("table.timeline"); !strings.Contains(v, "admin:dashboard:Test Admin") || !strings.Contains(v, "legal confirmed no hold needed") {
		t.Errorf("timeline has no audited release: %q", v)
	}
}

func get(t *testing.T, url string) []byte {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil || resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %v %s", url, resp.StatusCode, err, b)
	}
	return b
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}
