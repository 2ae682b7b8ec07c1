package apps

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// transport is the proxy's HTTP/1.1 client to apps, with keep-alive. A
// round trip runs on the request's own goroutine, writing the request and
// reading the answer on a pooled connection: net/http's Transport hands
// each request to a writer and a reader goroutine of the connection, and
// those two wake-ups cost a small VM a third of a proxied request.
type transport struct {
	dial          func(ctx context.Context, network, addr string) (net.Conn, error)
	headerTimeout time.Duration // an answer's header must come within this
	maxIdle       int           // idle connections kept per app address
	idleFor       time.Duration // an idle connection older than this is closed

	mu   sync.Mutex
	idle map[string][]*backendConn
}

type backendConn struct {
	net.Conn
	br   *bufio.Reader // reads through head while an answer's header is read
	bw   *bufio.Writer
	head *headLimit
	used time.Time
}

// maxAnswerHeader bounds what an app may send before its body: a
// container that sends headers without end does not grow the gateway.
const maxAnswerHeader = 1 << 20

// headLimit is the connection as the reader sees it: while armed, at
// most left bytes come through.
type headLimit struct {
	net.Conn
	armed bool
	left  int
}

func (h *headLimit) Read(p []byte) (int, error) {
	if !h.armed {
		return h.Conn.Read(p)
	}
	if h.left <= 0 {
		return 0, errors.New("the app's answer header is over 1 MiB")
	}
	if len(p) > h.left {
		p = p[:h.left]
	}
	n, err := h.Conn.Read(p)
	h.left -= n
	return n, err
}

func newTransport(timeout time.Duration) *transport {
	d := &net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}
	return &transport{dial: d.DialContext, headerTimeout: timeout, maxIdle: 32, idleFor: 30 * time.Second,
		idle: map[string][]*backendConn{}}
}

// aLongTimeAgo is a deadline that ends a blocked read or write at once.
var aLongTimeAgo = time.Unix(1, 0)

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	// A request without a body may be sent again on a fresh connection
	// when a kept one turns out closed by the app.
	replayable := req.Body == nil || req.Body == http.NoBody
	for attempt := 0; ; attempt++ {
		c, reused, err := t.get(req.Context(), req.URL.Host, replayable)
		if err != nil {
			return nil, err
		}
		resp, err := t.roundTrip(c, req)
		if err == nil {
			return resp, nil
		}
		c.Close()
		if !reused || attempt > 0 || !replayable || req.Context().Err() != nil || isTimeout(err) {
			return nil, err
		}
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func (t *transport) roundTrip(c *backendConn, req *http.Request) (*http.Response, error) {
	stop := context.AfterFunc(req.Context(), func() { c.SetDeadline(aLongTimeAgo) })
	if t.headerTimeout > 0 {
		c.SetReadDeadline(time.Now().Add(t.headerTimeout))
	}
	if err := req.Write(c.bw); err != nil {
		stop()
		return nil, err
	}
	if err := c.bw.Flush(); err != nil {
		stop()
		return nil, err
	}
	c.head.armed, c.head.left = true, maxAnswerHeader
	resp, err := http.ReadResponse(c.br, req)
	// 1xx answers before the real one (100 Continue, 103 Early Hints)
	// are skipped; 101 is the real one of an upgrade.
	for err == nil && resp.StatusCode >= 100 && resp.StatusCode < 200 && resp.StatusCode != http.StatusSwitchingProtocols {
		resp, err = http.ReadResponse(c.br, req)
	}
	c.head.armed = false
	if !stop() {
		return nil, req.Context().Err()
	}
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Time{})
	if resp.StatusCode == http.StatusSwitchingProtocols {
		resp.Body = &upgraded{c}
		return resp, nil
	}
	resp.Body = &keptBody{ReadCloser: resp.Body, c: c, t: t, keep: !resp.Close && !req.Close}
	return resp, nil
}

// get returns a kept connection to addr, or a new one. A request with a
// body, which cannot be sent twice, takes only one kept a moment ago.
func (t *transport) get(ctx context.Context, addr string, replayable bool) (*backendConn, bool, error) {
	now := time.Now()
	fresh := t.idleFor
	if !replayable {
		fresh = time.Second
	}
	t.mu.Lock()
	for list := t.idle[addr]; len(list) > 0; list = t.idle[addr] {
		c := list[len(list)-1]
		t.idle[addr] = list[:len(list)-1]
		if now.Sub(c.used) < fresh {
			t.mu.Unlock()
			return c, true, nil
		}
		go c.Close() // off the lock
	}
	if len(t.idle[addr]) == 0 {
		delete(t.idle, addr)
	}
	t.mu.Unlock()
	conn, err := t.dial(ctx, "tcp", addr)
	if err != nil {
		return nil, false, err
	}
	head := &headLimit{Conn: conn}
	return &backendConn{Conn: conn, br: bufio.NewReaderSize(head, 8<<10), bw: bufio.NewWriterSize(conn, 8<<10), head: head}, false, nil
}

// put keeps a connection whose last answer was read whole.
func (t *transport) put(c *backendConn) {
	c.used = time.Now()
	t.mu.Lock()
	if len(t.idle[c.RemoteAddr().String()]) >= t.maxIdle {
		t.mu.Unlock()
		c.Close()
		return
	}
	t.idle[c.RemoteAddr().String()] = append(t.idle[c.RemoteAddr().String()], c)
	t.mu.Unlock()
}

// CloseIdle closes every kept connection.
func (t *transport) CloseIdle() {
	t.mu.Lock()
	idle := t.idle
	t.idle = map[string][]*backendConn{}
	t.mu.Unlock()
	for _, list := range idle {
		for _, c := range list {
			c.Close()
		}
	}
}

// keptBody gives its connection back once the answer was read to its end,
// and closes it otherwise.
type keptBody struct {
	io.ReadCloser
	c         *backendConn
	t         *transport
	keep, eof bool
	closed    bool
}

func (b *keptBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF {
		b.eof = true
	}
	return n, err
}

func (b *keptBody) Close() error {
	if b.closed {
		return nil
	}
	b.closed = true
	err := b.ReadCloser.Close()
	if b.keep && b.eof && err == nil && b.c.br.Buffered() == 0 {
		b.t.put(b.c)
		return nil
	}
	return b.c.Close()
}

// upgraded is the connection after 101 Switching Protocols (WebSockets),
// both ways; what the app sent with its answer is read first.
type upgraded struct{ c *backendConn }

func (u *upgraded) Read(p []byte) (int, error)  { return u.c.br.Read(p) }
func (u *upgraded) Write(p []byte) (int, error) { return u.c.Conn.Write(p) }
func (u *upgraded) Close() error                { return u.c.Conn.Close() }
