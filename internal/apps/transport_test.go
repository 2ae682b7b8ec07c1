package apps

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// Sequential requests share one kept connection; one the app closed is
// replaced without the client noticing; an answer read halfway closes
// its connection.
func TestTransportKeepsConnections(t *testing.T) {
	var conns atomic.Int32
	app := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/big" {
			w.Write([]byte(strings.Repeat("x", 1<<20)))
			return
		}
		io.WriteString(w, "ok")
	}))
	app.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	app.Start()
	defer app.Close()
	tr := newTransport(time.Second)
	defer tr.CloseIdle()
	get := func(path string, readAll bool) {
		t.Helper()
		req, _ := http.NewRequest("GET", app.URL+path, nil)
		resp, err := tr.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		if readAll {
			io.Copy(io.Discard, resp.Body)
		} else {
			resp.Body.Read(make([]byte, 10))
		}
		resp.Body.Close()
	}
	for i := 0; i < 20; i++ {
		get("/", true)
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("20 requests took %d connections", n)
	}
	app.CloseClientConnections() // the app drops its idle connection
	time.Sleep(50 * time.Millisecond)
	get("/", true)
	if n := conns.Load(); n != 2 {
		t.Fatalf("after the app dropped it: %d connections", n)
	}
	get("/big", false)
	get("/", true)
	if n := conns.Load(); n != 3 {
		t.Fatalf("after an answer read halfway: %d connections", n)
	}
	// A cancelled request ends at once.
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", app.URL+"/", nil)
	if _, err := tr.RoundTrip(req); err == nil {
		t.Fatal("a cancelled request went through")
	}
}

// An app that sends headers without end is cut off at 1 MiB: the
// gateway does not read on.
func TestTransportBoundsAnswerHeader(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		c.Read(make([]byte, 4096))
		io.WriteString(c, "HTTP/1.1 200 OK\r\n")
		line := "X-Junk: " + strings.Repeat("a", 1000) + "\r\n"
		for i := 0; i < 5000; i++ {
			if _, err := io.WriteString(c, line); err != nil {
				return
			}
		}
	}()
	tr := newTransport(5 * time.Second)
	req, _ := http.NewRequest("GET", "http://"+ln.Addr().String()+"/", nil)
	if _, err := tr.RoundTrip(req); err == nil || !strings.Contains(err.Error(), "over 1 MiB") {
		t.Fatalf("5 MB of headers: %v", err)
	}
}
