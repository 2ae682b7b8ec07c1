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
	// The two ways take turns, 50 at a time, so that both meet the same
	// moments of a busy machine; the first turns warm both.
	d, g, err := interleave(n, func() error { return get(plain, direct+path) }, func() error { return get(c, app+path) })
	if err != nil {
		return fmt.Errorf("GET: %w", err)
	}
	fmt.Printf("%-28s %8.0fus %8.0fus %8.2fx\n", "GET p50", us(d), us(g), float64(g)/float64(d))
	if nws == 0 {
		return nil // GETs only (an app without the echo endpoint)
	}
	cookie := cookieHeader(c, app)
	dws, err := dialWS(direct+"ws", "")
	if err != nil {
		return fmt.Errorf("direct websocket: %w", err)
	}
	defer dws.Close()
	gws, err := dialWS(app+"ws", cookie)
	if err != nil {
		return fmt.Errorf("gateway websocket: %w", err)
	}
	defer gws.Close()
	d, g, err = interleave(n, func() error { return echo(dws) }, func() error { return echo(gws) })
	if err != nil {
		return fmt.Errorf("websocket echo: %w", err)
	}
	fmt.Printf("%-28s %8.0fus %8.0fus %8.2fx\n", "WebSocket echo p50", us(d), us(g), float64(g)/float64(d))
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

// interleave runs a and b n times each, in turns of 50 after 200 of
// each to warm up, and returns the median time of each.
func interleave(n int, a, b func() error) (time.Duration, time.Duration, error) {
	var da, db []time.Duration
	for _, f := range []func() error{a, b} {
		for i := 0; i < 200; i++ {
			if err := f(); err != nil {
				return 0, 0, err
			}
		}
	}
	for len(da) < n {
		for _, side := range []struct {
			f  func() error
			ds *[]time.Duration
		}{{a, &da}, {b, &db}} {
			for i := 0; i < 50; i++ {
				t0 := time.Now()
				if err := side.f(); err != nil {
					return 0, 0, err
				}
				*side.ds = append(*side.ds, time.Since(t0))
			}
		}
	}
	slices.Sort(da)
	slices.Sort(db)
	return da[len(da)/2], db[len(db)/2], nil
}

func get(c *http.Client, u string) error {
	resp, err := c.Get(u)
	if err != nil {
		return err
	}
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 {
		return fmt.Errorf("%s: %s", u, resp.Status)
	}
	return nil
}

func wsURL(u string) string { return "ws" + strings.TrimPrefix(u, "http") }

func dialWS(u, cookie string) (*websocket.Conn, error) {
	h := http.Header{}
	if cookie != "" {
		h.Set("Cookie", cookie)
	}
	ws, _, err := websocket.DefaultDialer.Dial(wsURL(u), h)
	return ws, err
}

var message = []byte(strings.Repeat("x", 64))

func echo(ws *websocket.Conn) error {
	if err := ws.WriteMessage(websocket.TextMessage, message); err != nil {
		return err
	}
	_, _, err := ws.ReadMessage()
	return err
}
