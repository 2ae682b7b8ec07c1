package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/gorilla/websocket"
)

// jupyterImage is the lab's image with Debian's Jupyter (scripts/lab.sh).
const jupyterImage = "lxcgate-jupyter"

// startJupyter starts Jupyter in a container as ubuntu under base URL
// base, without its own token: the gateway's sign-in guards it.
func startJupyter(t *testing.T, project, name, base string) {
	t.Helper()
	cmd := "setsid jupyter notebook --no-browser --ip=0.0.0.0 --port=8888 --NotebookApp.base_url=" + base +
		" --NotebookApp.token= --NotebookApp.password= --NotebookApp.allow_remote_access=True --NotebookApp.disable_check_xsrf=True" +
		" >/tmp/jupyter.log 2>&1 </dev/null &"
	lxc(t, "exec", name, "--project", project, "--user", "1000", "--group", "1000", "--env", "HOME=/home/ubuntu",
		"--cwd", "/home/ubuntu", "--", "sh", "-c", cmd)
}

// Scenario: alice runs Jupyter in her container and publishes it with
// 'port add --web'. Headless Chromium signs in through 'ssh gw web',
// follows the page's link and sees the notebook UI; a client through the
// proxy starts a kernel and runs 1+1 over the kernel's WebSocket. Bob's
// browser gets 404 for it, an unsigned one is sent to sign in, and the
// app's port answers on no host port.
func TestJupyterThroughGateway(t *testing.T) {
	chromiumPath(t)
	g, base, appsBase := appsGW(t, "LXCGATE_CONTAINERS_MEMORY=1GiB")
	alice := g.addUser("alice", "alice-password", false)
	bob := g.addUser("bob", "bob-password", false)
	g.start()
	project := g.prefix + "alice"
	g.must("alice", alice, "", "launch", "nb", "--image", jupyterImage)
	startJupyter(t, project, "nb", "/alice/nb/jupyter/")
	g.must("alice", alice, "", "port", "add", "nb", "8888", "--web", "--name", "jupyter")
	appURL := appsBase + "/alice/nb/jupyter/"

	ac := webSession(t, g, base, "alice", alice)
	fetch(t, ac, base+"/apps/alice/nb/jupyter/") // the app origin's cookie
	deadline := time.Now().Add(2 * time.Minute)
	for {
		code, body, _ := fetch(t, ac, appURL+"api/kernelspecs")
		if code == 200 && strings.Contains(body, "python3") {
			break
		}
		if time.Now().After(deadline) {
			out, _ := lxcExec(project, "nb", "tail -20 /tmp/jupyter.log")
			t.Fatalf("Jupyter did not come up through the gateway: %d %.200s\n%s", code, body, out)
		}
		time.Sleep(time.Second)
	}
	// No host port answers for it: the only ways in are the gateway's.
	if r := g.must("alice", alice, "", "ports", "nb", "--json"); strings.Contains(r.out, `"host_port":8888`) {
		t.Fatalf("ports: %s", r.out)
	}

	// A kernel, 1+1 over its WebSocket.
	req, _ := http.NewRequest("POST", appURL+"api/kernels", strings.NewReader(`{"name":"python3"}`))
	req.Header.Set("Content-Type", "application/json")
	resp, err := ac.Do(req)
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("start a kernel: %v %v", resp, err)
	}
	var kernel struct{ ID string }
	json.NewDecoder(resp.Body).Decode(&kernel)
	resp.Body.Close()
	var cookies []string
	for _, c := range ac.Jar.Cookies(mustParse(appsBase)) {
		cookies = append(cookies, c.Name+"="+c.Value)
	}
	ws, wresp, err := websocket.DefaultDialer.Dial("ws://"+strings.TrimPrefix(appURL, "http://")+"api/kernels/"+kernel.ID+"/channels",
		http.Header{"Cookie": {strings.Join(cookies, "; ")}})
	if err != nil {
		t.Fatalf("kernel websocket: %v %v", err, wresp)
	}
	defer ws.Close()
	if got := runCell(t, ws, "1+1"); got != "2" {
		t.Fatalf("1+1 gave %q", got)
	}

	// A notebook with that cell, for the browser to show.
	nb := `{"type":"notebook","content":{"nbformat":4,"nbformat_minor":5,"metadata":{"kernelspec":{"name":"python3","display_name":"Python 3","language":"python"}},` +
		`"cells":[{"cell_type":"code","id":"c1","metadata":{},"execution_count":1,"source":"1+1",` +
		`"outputs":[{"output_type":"execute_result","execution_count":1,"metadata":{},"data":{"text/plain":"2"}}]}]}}`
	req, _ = http.NewRequest("PUT", appURL+"api/contents/demo.ipynb", strings.NewReader(nb))
	req.Header.Set("Content-Type", "application/json")
	if resp, err := ac.Do(req); err != nil || resp.StatusCode/100 != 2 {
		t.Fatalf("save a notebook: %v %v", resp, err)
	}

	// The browser: sign in, the page's link, the notebook UI.
	r := g.must("alice", alice, "", "web")
	ctx, done := browser(t, chromedp.WindowSize(1280, 800))
	defer done()
	err = chromedp.Do(ctx, chromedp.Navigate(lastLine(r)), chromedp.WaitVisible(chromedp.CSS("#continue")),
		chromedp.Click(chromedp.CSS("#continue")), chromedp.WaitVisible(chromedp.CSS("#mine-h")),
		chromedp.Navigate(base+"/containers/nb"), chromedp.WaitVisible(chromedp.CSS(`a[href="/apps/alice/nb/jupyter"]`)),
		chromedp.Click(chromedp.CSS(`a[href="/apps/alice/nb/jupyter"]`)), chromedp.WaitVisible(chromedp.CSS("#notebook_list")))
	if err != nil {
		t.Fatalf("the notebook UI in the browser: %v", err)
	}
	title, err := chromedp.Run(ctx, chromedp.Title())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(title, "Home") && !strings.Contains(title, "Jupyter") {
		t.Fatalf("title %q", title)
	}
	if dir := os.Getenv("LXCGATE_E2E_SCREENSHOT"); dir != "" {
		err := chromedp.Do(ctx, chromedp.Navigate(appURL+"notebooks/demo.ipynb"), chromedp.WaitVisible(chromedp.CSS("#notebook-container")),
			chromedp.Sleep(2*time.Second))
		if png, perr := chromedp.Run(ctx, chromedp.FullScreenshot(100)); err == nil && perr == nil {
			os.WriteFile(dir+"/jupyter-through-gateway.png", png, 0o644)
		}
	}

	// Bob's browser: 404; an unsigned one: sent to sign in.
	bc := webSession(t, g, base, "bob", bob)
	if code, _, _ := fetch(t, bc, base+"/apps/alice/nb/jupyter/"); code != http.StatusNotFound {
		t.Fatalf("bob: %d", code)
	}
	if code, _, _ := fetch(t, bc, appURL, "Accept", "text/html"); code != http.StatusNotFound && code != http.StatusUnauthorized {
		t.Fatalf("bob at the app's URL: %d", code)
	}
	bctx, bdone := browser(t)
	defer bdone()
	if err := chromedp.Do(bctx, chromedp.Navigate(appURL), chromedp.WaitVisible(chromedp.CSS("body"))); err != nil {
		t.Fatal(err)
	}
	where, err := chromedp.Run(bctx, chromedp.Location())
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(where, base+"/apps/alice/nb/jupyter/") {
		t.Fatalf("an unsigned browser ended at %s", where)
	}
}

// runCell runs code in a Jupyter kernel over its channels WebSocket and
// returns the result's text/plain.
func runCell(t *testing.T, ws *websocket.Conn, code string) string {
	t.Helper()
	id := fmt.Sprint(time.Now().UnixNano())
	msg := map[string]any{
		"header":        map[string]any{"msg_id": id, "username": "e2e", "session": "e2e", "msg_type": "execute_request", "version": "5.3"},
		"parent_header": map[string]any{}, "metadata": map[string]any{}, "channel": "shell", "buffers": []any{},
		"content": map[string]any{"code": code, "silent": false, "store_history": false, "user_expressions": map[string]any{},
			"allow_stdin": false, "stop_on_error": true},
	}
	if err := ws.WriteJSON(msg); err != nil {
		t.Fatalf("execute_request: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	deadline, _ := ctx.Deadline()
	ws.SetReadDeadline(deadline)
	for {
		var m struct {
			MsgType      string `json:"msg_type"`
			ParentHeader struct {
				MsgID string `json:"msg_id"`
			} `json:"parent_header"`
			Content struct {
				Data   map[string]string `json:"data"`
				Ename  string            `json:"ename"`
				Evalue string            `json:"evalue"`
			} `json:"content"`
		}
		if err := ws.ReadJSON(&m); err != nil {
			t.Fatalf("waiting for the result: %v", err)
		}
		if m.ParentHeader.MsgID != id {
			continue
		}
		switch m.MsgType {
		case "execute_result":
			return m.Content.Data["text/plain"]
		case "error":
			t.Fatalf("the kernel failed: %s %s", m.Content.Ename, m.Content.Evalue)
		}
	}
}
