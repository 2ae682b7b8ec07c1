// Command sessions measures what idle interactive sessions cost the
// gateway: it opens PTY shells over many users and source addresses (one
// connection each), waits for each prompt, and reads the gateway's RSS
// before and after; then it holds more of them and times fresh
// "ssh gw whoami" logins meanwhile.
//
//	sessions -gw ADDR -pid PID [-users 100] [-sessions 1000] [-hold 5000]
//
// The gateway needs caps raised for -hold (bench/sessions.sh sets them).
// Users come from "loginload setup".
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lxcgate/lxcgate/bench/benchkit"
	gossh "golang.org/x/crypto/ssh"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "sessions:", err)
		os.Exit(1)
	}
}

type shell struct {
	c *gossh.Client
	s *gossh.Session
}

func run() error {
	gw := flag.String("gw", "", "the gateway's address")
	pid := flag.Int("pid", 0, "the gateway's process id")
	nUsers := flag.Int("users", 100, "users (from loginload setup)")
	prefix := flag.String("prefix", "lb", "user name prefix")
	first := flag.Int("sessions", 1000, "idle shells measured for memory")
	hold := flag.Int("hold", 5000, "shells held while timing whoami (0: skip)")
	sources := flag.Int("sources", 100, "loopback source addresses")
	maxMiB := flag.Float64("max-mib", 0, "exit 1 when the first sessions cost more than this")
	maxMs := flag.Float64("max-whoami-ms", 0, "exit 1 when whoami's p99 at -hold is above this")
	linger := flag.Duration("linger", 0, "keep the shells open this long before leaving (to profile the gateway)")
	flag.Parse()
	if *gw == "" || *pid == 0 {
		return errors.New("-gw and -pid are required")
	}
	cfgs := make([]*gossh.ClientConfig, *nUsers)
	for i := range cfgs {
		cfgs[i] = benchkit.ClientConfig(benchkit.UserName(*prefix, i))
	}
	// The idle gateway: started, settled, no login yet.
	time.Sleep(2 * time.Second)
	before, err := benchkit.RSS(*pid)
	if err != nil {
		return err
	}
	var shells []shell
	defer func() {
		for _, sh := range shells {
			sh.c.Close()
		}
	}()
	open := func(n int) error {
		start := len(shells)
		out := make([]shell, n-start)
		errs := make([]error, n-start)
		var wg sync.WaitGroup
		sem := make(chan struct{}, 16)
		for i := range out {
			wg.Go(func() {
				sem <- struct{}{}
				defer func() { <-sem }()
				out[i], errs[i] = openShell(*gw, start+i, *sources, cfgs)
			})
		}
		wg.Wait()
		for i, sh := range out {
			if errs[i] != nil {
				return fmt.Errorf("shell %d: %w", start+i, errs[i])
			}
			shells = append(shells, sh)
		}
		return nil
	}
	t0 := time.Now()
	if err := open(*first); err != nil {
		return err
	}
	fmt.Printf("opened %d idle PTY shells over %d users in %v\n", *first, *nUsers, time.Since(t0).Round(time.Millisecond))
	time.Sleep(3 * time.Second)
	after, err := benchkit.RSS(*pid)
	if err != nil {
		return err
	}
	cost := float64(after-before) / 1024
	fmt.Printf("gateway RSS: idle %.1f MiB, with %d shells %.1f MiB: +%.1f MiB (%.1f KiB a shell)\n",
		float64(before)/1024, *first, float64(after)/1024, cost, float64(after-before)/float64(*first))
	fmt.Printf("ratio to the bound (+64 MiB per 1000): %.2f\n", cost*1000/float64(*first)/64)
	var failed []string
	if *maxMiB > 0 && cost > *maxMiB {
		failed = append(failed, fmt.Sprintf("+%.1f MiB above %.0f", cost, *maxMiB))
	}
	if *hold > 0 {
		t0 = time.Now()
		if err := open(*hold); err != nil {
			return err
		}
		fmt.Printf("holding %d idle PTY shells (opened in %v)\n", *hold, time.Since(t0).Round(time.Millisecond))
		time.Sleep(2 * time.Second)
		rss, _ := benchkit.RSS(*pid)
		fmt.Printf("gateway RSS with %d shells: %.1f MiB (+%.1f MiB over idle; %.1f MiB per 1000 past the first %d, which can reuse the idle gateway's free heap)\n",
			*hold, float64(rss)/1024, float64(rss-before)/1024, float64(rss-after)/1024*1000/float64(*hold-*first), *first)
		var lat []time.Duration
		for i := range 40 {
			d, err := whoami(*gw, *hold+i, *sources, cfgs)
			if err != nil {
				return fmt.Errorf("whoami with %d shells: %w", *hold, err)
			}
			lat = append(lat, d)
			time.Sleep(25 * time.Millisecond)
		}
		slices.Sort(lat)
		p50, p99 := lat[len(lat)/2], lat[len(lat)*99/100]
		fmt.Printf("ssh gw whoami (new connection, key login) with %d shells held: p50 %.1f ms, p99 %.1f ms, max %.1f ms\n",
			*hold, ms(p50), ms(p99), ms(lat[len(lat)-1]))
		if *maxMs > 0 && ms(p99) > *maxMs {
			failed = append(failed, fmt.Sprintf("whoami p99 %.1f ms above %.0f", ms(p99), *maxMs))
		}
	}
	if *linger > 0 {
		fmt.Printf("holding the shells for %v\n", *linger)
		time.Sleep(*linger)
	}
	if len(failed) > 0 {
		return errors.New(strings.Join(failed, "; "))
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// openShell logs in as user i%len(cfgs) from source i%sources, asks for a
// PTY and a shell, and returns once the prompt is there.
func openShell(addr string, i, sources int, cfgs []*gossh.ClientConfig) (shell, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	cfg := cfgs[i%len(cfgs)]
	c, err := benchkit.Dial(ctx, benchkit.Source(i%sources), addr, cfg)
	if err != nil {
		return shell{}, err
	}
	s, err := c.NewSession()
	if err != nil {
		c.Close()
		return shell{}, err
	}
	out, _ := s.StdoutPipe()
	// Nothing is typed, and stdin stays open: an idle shell, not one that
	// read EOF and left.
	if _, err := s.StdinPipe(); err != nil {
		c.Close()
		return shell{}, err
	}
	if err := s.RequestPty("xterm", 24, 80, gossh.TerminalModes{}); err != nil {
		c.Close()
		return shell{}, err
	}
	if err := s.Shell(); err != nil {
		c.Close()
		return shell{}, err
	}
	// Read until the prompt ("NAME@HOST> ").
	buf := make([]byte, 0, 1024)
	tmp := make([]byte, 512)
	done := make(chan error, 1)
	go func() {
		for {
			n, err := out.Read(tmp)
			buf = append(buf, tmp[:n]...)
			if strings.Contains(string(buf), "> ") {
				done <- nil
				go io.Copy(io.Discard, out) // keep the channel's window open
				return
			}
			if err != nil {
				done <- fmt.Errorf("no prompt (%q): %w", buf, err)
				return
			}
		}
	}()
	select {
	case err = <-done:
	case <-ctx.Done():
		err = errors.New("no prompt in time")
	}
	if err != nil {
		c.Close()
		return shell{}, err
	}
	return shell{c, s}, nil
}

// whoami times one fresh login running whoami.
func whoami(addr string, i, sources int, cfgs []*gossh.ClientConfig) (time.Duration, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cfg := cfgs[i%len(cfgs)]
	t0 := time.Now()
	c, err := benchkit.Dial(ctx, benchkit.Source(i%sources), addr, cfg)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	s, err := c.NewSession()
	if err != nil {
		return 0, err
	}
	defer s.Close()
	out, err := s.Output("whoami")
	if err != nil || !strings.HasPrefix(string(out), cfg.User) {
		return 0, fmt.Errorf("whoami: %v (%q)", err, out)
	}
	return time.Since(t0), nil
}
