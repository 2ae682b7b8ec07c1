// Command appload measures a web app through the gateway's apps listener
// against the same app straight at its container's address, in one run:
// GET latency (sequential, keep-alive), WebSocket echo round trips, and
// the gateway's RSS growth with many WebSockets open at once.
//
//	appload -signin LINK -app URL -direct URL -pid PID [-n 2000] [-ws 1000]
//
// LINK is a sign-in link of 'ssh gw web'; URL the app's URL as 'ports'
// shows it; direct the same app at the container's address. bench/apps.sh
// runs it.
package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/gorilla/websocket"

	"github.com/lxcgate/lxcgate/bench/benchkit"
)

func main() {
	link := flag.String("signin", "", "a sign-in link of 'ssh gw web'")
	app := flag.String("app", "", "the app's URL through the gateway")
	direct := flag.String("direct", "", "the app's URL at the container")
	pid := flag.Int("pid", 0, "the gateway's pid")
	n := flag.Int("n", 2000, "requests and round trips each way")
	nws := flag.Int("ws", 1000, "WebSockets held open at once")
	path := flag.String("path", "", "what to GET under each URL")
	flag.Parse()
	if err := run(*link, *app, *direct, *path, *pid, *n, *nws); err != nil {
		fmt.Fprintln(os.Stderr, "appload:", err)
		os.Exit(1)
	}
}

func run(link, app, direct, path string, pid, n, nws int) error {
	c, err := signIn(link, app)
	if err != nil {
		return err
	}
	plain := &http.Client{}
	fmt.Printf("%-28s %10s %10s %8s\n", "", "direct", "gateway", "ratio")
	for round := 0; round < 2; round++ { // the first warms both paths
		d, err := getP50(plain, direct+path, n)
		if err != nil {
			return fmt.Errorf("direct GET: %w", err)
		}
		g, err := getP50(c, app+path, n)
		if err != nil {
			return fmt.Errorf("gateway GET: %w", err)
		}
		if round == 1 {
			fmt.Printf("%-28s %8.0fus %8.0fus %8.2fx\n", "GET p50", us(d), us(g), float64(g)/float64(d))
		}
	}
	if nws == 0 {
		return nil // GETs only (an app without the echo endpoint)
	}
	cookie := cookieHeader(c, app)
	for round := 0; round < 2; round++ {
		d, err := wsP50(direct+"ws", "", n)
		if err != nil {
			return fmt.Errorf("direct websocket: %w", err)
		}
		g, err := wsP50(app+"ws", cookie, n)
		if err != nil {
			return fmt.Errorf("gateway websocket: %w", err)
		}
		if round == 1 {
			fmt.Printf("%-28s %8.0fus %8.0fus %8.2fx\n", "WebSocket echo p50", us(d), us(g), float64(g)/float64(d))
		}
	}
	before, err := benchkit.RSS(pid)
	if err != nil {
		return err
	}
	var open []*websocket.Conn
	defer func() {
		for _, ws := range open {
			ws.Close()
		}
	}()
	for i := 0; i < nws; i++ {
		ws, _, err := websocket.DefaultDialer.Dial(wsURL(app+"ws"), http.Header{"Cookie": {cookie}})
		if err != nil {
			return fmt.Errorf("websocket %d: %w", i, err)
		}
		open = append(open, ws)
	}
	for _, ws := range open { // each carries one message: all are live
		if err := ws.WriteMessage(websocket.TextMessage, []byte("x")); err != nil {
			return err
		}
		if _, _, err := ws.ReadMessage(); err != nil {
			return err
		}
	}
	time.Sleep(time.Second)
	after, err := benchkit.RSS(pid)
	if err != nil {
		return err
	}
	fmt.Printf("%d WebSockets open: gateway RSS %d -> %d KiB (+%.1f MiB; target <= 64)\n", nws, before, after, float64(after-before)/1024)
	return nil
}

func us(d time.Duration) float64 { return float64(d) / float64(time.Microsecond) }

// signIn spends the link and opens the app once, for its origin's cookie.
func signIn(link, app string) (*http.Client, error) {
	u, err := url.Parse(link)
	if err != nil {
		return nil, err
	}
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, Transport: &http.Transport{MaxIdleConnsPerHost: 4}}
	base := u.Scheme + "://" + u.Host
	req, _ := http.NewRequest("POST", base+"/signin", strings.NewReader(url.Values{"t": {u.Query().Get("t")}}.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	req.Header.Set("Origin", base)
	resp, err := c.Do(req)
	if err != nil {
		return nil, err
	}
	resp.Body.Close()
	au, _ := url.Parse(app)
	resp, err = c.Get(base + "/apps" + au.Path)
	if err != nil {
		return nil, err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return nil, fmt.Errorf("opening the app: %s", resp.Status)
	}
	return c, nil
}

func cookieHeader(c *http.Client, app string) string {
	u, _ := url.Parse(app)
	var parts []string
	for _, ck := range c.Jar.Cookies(u) {
		parts = append(parts, ck.Name+"="+ck.Value)
	}
	return strings.Join(parts, "; ")
}

func getP50(c *http.Client, u string, n int) (time.Duration, error) {
	ds := make([]time.Duration, 0, n)
	for i := 0; i < n; i++ {
		t0 := time.Now()
		resp, err := c.Get(u)
		if err != nil {
			return 0, err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			return 0, fmt.Errorf("%s: %s", u, resp.Status)
		}
		ds = append(ds, time.Since(t0))
	}
	slices.Sort(ds)
	return ds[len(ds)/2], nil
}

func wsURL(u string) string { return "ws" + strings.TrimPrefix(u, "http") }

func wsP50(u, cookie string, n int) (time.Duration, error) {
	h := http.Header{}
	if cookie != "" {
		h.Set("Cookie", cookie)
	}
	ws, _, err := websocket.DefaultDialer.Dial(wsURL(u), h)
	if err != nil {
		return 0, err
	}
	defer ws.Close()
	ds := make([]time.Duration, 0, n)
	msg := []byte(strings.Repeat("x", 64))
	for i := 0; i < n; i++ {
		t0 := time.Now()
		if err := ws.WriteMessage(websocket.TextMessage, msg); err != nil {
			return 0, err
		}
		if _, _, err := ws.ReadMessage(); err != nil {
			return 0, err
		}
		ds = append(ds, time.Since(t0))
	}
	slices.Sort(ds)
	return ds[len(ds)/2], nil
}
