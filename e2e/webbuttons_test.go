package e2e

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// Scenario: alice signs in with the link 'web' printed, in a real
// headless browser, opens her container's page and presses Stop: the
// shell's details says it stopped. She presses Start: the shell's list
// says it runs. Each press ends on the page with one line saying what
// happened, and leaves its audit row.
// LXCGATE_E2E_SCREENSHOT=DIR writes the page with its buttons there
// (docs/page-buttons.png).
func TestWebButtonsInBrowser(t *testing.T) {
	chromiumPath(t)
	g, base := webGW(t)
	alice := g.addUser("alice", "alice-password", false)
	root := g.addUser("root1", "root-password", true)
	g.start()
	if r := g.sshKey("alice", alice, "", "launch", "btnbox"); r.code != 0 {
		t.Fatalf("launch: %+v", r)
	}
	if r := g.sshKey("alice", alice, "", "snapshot", "btnbox", "before", "--keep"); r.code != 0 {
		t.Fatalf("snapshot: %+v", r)
	}
	r := g.sshKey("alice", alice, "", "web")
	if r.code != 0 || !strings.Contains(r.out, "/signin?t=") {
		t.Fatalf("web: %+v", r)
	}

	// A clean stop of a real container takes a while: more than browser's 60 s in all.
	opts := append(chromedp.DefaultExecAllocatorOptions[:], chromedp.ExecPath(chromiumPath(t)), chromedp.NoSandbox,
		chromedp.Flag("disable-dev-shm-usage", true), chromedp.WindowSize(1280, 900))
	actx, cancelAlloc := chromedp.NewExecAllocator(context.Background(), opts...)
	defer cancelAlloc()
	bctx, cancelBrowser := chromedp.NewContext(actx)
	defer cancelBrowser()
	ctx, cancel := context.WithTimeout(bctx, 4*time.Minute)
	defer cancel()

	err := chromedp.Do(ctx, chromedp.Navigate(lastLine(r)), chromedp.WaitVisible(chromedp.CSS("#continue")),
		chromedp.Click(chromedp.CSS("#continue")), chromedp.WaitVisible(chromedp.CSS("#mine-h")),
		chromedp.Navigate(base+"/containers/btnbox"), chromedp.WaitVisible(chromedp.CSS("#stop")))
	if err != nil {
		t.Fatalf("sign in and open the page: %v", err)
	}
	// press clicks a button and waits for the page it leads to, known by
	// the button it enables; it returns that page's flash line.
	press := func(button, enabled string) string {
		t.Helper()
		err := chromedp.Do(ctx, chromedp.Click(chromedp.CSS(button)),
			chromedp.WaitVisible(chromedp.CSS(enabled+":not([disabled])")), chromedp.WaitVisible(chromedp.CSS("#flash")))
		if err != nil {
			t.Fatalf("press %s: %v", button, err)
		}
		flash, err := chromedp.Run(ctx, chromedp.Text(chromedp.CSS("#flash")))
		if err != nil {
			t.Fatalf("after %s: %v", button, err)
		}
		return flash
	}

	if flash := press("#stop", "#start"); flash != "Stopped btnbox." {
		t.Fatalf("after stop the page says %q", flash)
	}
	if d := g.details("alice", alice, "btnbox"); d.State != "stopped" {
		t.Fatalf("after the stop button details says %q", d.State)
	}
	if flash := press("#start", "#stop"); flash != "Started btnbox." {
		t.Fatalf("after start the page says %q", flash)
	}
	if cs := g.listJSON("alice", alice); len(cs) != 1 || cs[0].State != "running" {
		t.Fatalf("after the start button list says %+v", cs)
	}
	audit := g.sshKey("root1", root, "", "audit", "--limit", "100").out
	for _, want := range []string{"POST /containers/btnbox/stop => 303: Stopped btnbox.", "POST /containers/btnbox/start => 303: Started btnbox."} {
		if !strings.Contains(audit, want) {
			t.Errorf("the audit lacks %q:\n%s", want, audit)
		}
	}
	if dir := os.Getenv("LXCGATE_E2E_SCREENSHOT"); dir != "" {
		png, err := chromedp.Run(ctx, chromedp.FullScreenshot(100))
		if err != nil {
			t.Fatalf("screenshot: %v", err)
		}
		if err := os.WriteFile(filepath.Join(dir, "page-buttons.png"), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
