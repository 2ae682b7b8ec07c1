// Command directload measures many logins into containers at once: USERS
// users each launch a container through the gateway, then SESSIONS fresh
// connections at once (user i%USERS, login "USER+box") each run one
// command inside and check its output and exit status. It prints the
// errors, the latency percentiles (connect to exit) and the gateway's RSS
// growth.
//
//	directload setup -data DIR [-users 10] [-prefix dl]
//	directload run -gw ADDR -pid PID [-users 10] [-sessions 100] [-image lxcgate-busybox]
//
// bench/direct.sh runs it, from the lab's client namespace, with the
// gateway's session and per-address caps raised.
package main

import (
	"cmp"
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/lxcgate/lxcgate/bench/benchkit"
	gossh "golang.org/x/crypto/ssh"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: directload setup|run [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "setup":
		err = setup(os.Args[2:])
	case "run":
		err = run(os.Args[2:])
	default:
		err = fmt.Errorf("unknown subcommand %q; use setup or run", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "directload:", err)
		os.Exit(1)
	}
}

func setup(args []string) error {
	fs := flag.NewFlagSet("setup", flag.ExitOnError)
	data := fs.String("data", "", "the gateway's data directory")
	users := fs.Int("users", 10, "users to make")
	prefix := fs.String("prefix", "dl", "user name prefix")
	fs.Parse(args)
	if *data == "" {
		return errors.New("setup: -data is required")
	}
	return benchkit.Setup(context.Background(), *data, *prefix, *users)
}

type options struct {
	gw, prefix, image, command string
	pid, users, sessions       int
}

func run(args []string) error {
	var o options
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	fs.StringVar(&o.gw, "gw", "", "the gateway's address")
	fs.IntVar(&o.pid, "pid", 0, "the gateway's process id (for its RSS)")
	fs.IntVar(&o.users, "users", 10, "users (from setup), one container each")
	fs.IntVar(&o.sessions, "sessions", 100, "sessions at once")
	fs.StringVar(&o.prefix, "prefix", "dl", "user name prefix")
	fs.StringVar(&o.image, "image", "lxcgate-busybox", "the containers' image")
	fs.StringVar(&o.command, "command", "echo ok", "what each session runs; it must print ok")
	fs.Parse(args)
	if o.gw == "" || o.pid == 0 {
		return errors.New("run: -gw and -pid are required")
	}
	t0 := time.Now()
	if err := launchAll(o); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "directload: %d containers launched in %.1f s\n", o.users, time.Since(t0).Seconds())
	// One session into each container first, so that the burst measures
	// sessions, not the first exec into a fresh container.
	for u := range o.users {
		if _, err := session(o, u); err != nil {
			return fmt.Errorf("warm-up into %s's box: %w", benchkit.UserName(o.prefix, u), err)
		}
	}
	return burst(o)
}

// launchAll has every user launch "box" through the gateway, at once.
func launchAll(o options) error {
	errs := make([]error, o.users)
	var wg sync.WaitGroup
	for u := range o.users {
		wg.Go(func() {
			name := benchkit.UserName(o.prefix, u)
			out, err := gwCommand(o.gw, name, "launch box --image "+o.image)
			if err != nil {
				errs[u] = fmt.Errorf("%s: launch: %w (%s)", name, err, strings.TrimSpace(out))
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// burst opens o.sessions sessions at once and reports on them.
func burst(o options) error {
	before, err := benchkit.RSS(o.pid)
	if err != nil {
		return err
	}
	lat := make([]time.Duration, o.sessions)
	errs := make([]error, o.sessions)
	var wg sync.WaitGroup
	gate := make(chan struct{})
	for i := range o.sessions {
		wg.Go(func() {
			<-gate
			lat[i], errs[i] = session(o, i)
		})
	}
	peak := watchRSS(o.pid)
	t0 := time.Now()
	close(gate)
	wg.Wait()
	wall := time.Since(t0)
	high := peak()
	var ok []time.Duration
	kinds := map[string]int{}
	for i, err := range errs {
		if err != nil {
			// The user's name varies; the reason is what counts.
			_, why, _ := strings.Cut(err.Error(), "+box: ")
			kinds[cmp.Or(why, err.Error())]++
			continue
		}
		ok = append(ok, lat[i])
	}
	slices.Sort(ok)
	failed := o.sessions - len(ok)
	fmt.Printf("%d exec sessions at once (%q, a fresh connection each) into %d containers of %d users: %d errors, all done in %.0f ms\n",
		o.sessions, o.command, o.users, o.users, failed, ms(wall))
	if len(ok) > 0 {
		fmt.Printf("latency of the %d that succeeded (connect to exit status), ms: p50 %.0f, p90 %.0f, p99 %.0f, max %.0f\n",
			len(ok), ms(pct(ok, 50)), ms(pct(ok, 90)), ms(pct(ok, 99)), ms(ok[len(ok)-1]))
	}
	fmt.Printf("gateway RSS during the burst: %.1f MiB before, peak %.1f MiB (+%.1f MiB)\n",
		float64(before)/1024, float64(high)/1024, float64(high-before)/1024)
	for why, n := range kinds {
		fmt.Printf("  %d x %s\n", n, strings.TrimSpace(why))
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d sessions failed", failed, o.sessions)
	}
	return nil
}

// session logs in as user i%users into their box, runs the command, and
// returns the time from dialling to its exit status.
func session(o options, i int) (time.Duration, error) {
	name := benchkit.UserName(o.prefix, i%o.users)
	cfg := benchkit.ClientConfig(name)
	cfg.User = name + "+box"
	t0 := time.Now()
	c, err := dial(o.gw, cfg)
	if err != nil {
		return 0, err
	}
	defer c.Close()
	s, err := c.NewSession()
	if err != nil {
		return 0, err
	}
	defer s.Close()
	out, err := s.CombinedOutput(o.command)
	if err != nil || strings.TrimSpace(string(out)) != "ok" {
		return 0, fmt.Errorf("%s: %v (%q)", cfg.User, err, out)
	}
	return time.Since(t0), nil
}

// gwCommand runs one gateway command as name and returns its output.
func gwCommand(addr, name, cmd string) (string, error) {
	c, err := dial(addr, benchkit.ClientConfig(name))
	if err != nil {
		return "", err
	}
	defer c.Close()
	s, err := c.NewSession()
	if err != nil {
		return "", err
	}
	defer s.Close()
	out, err := s.CombinedOutput(cmd)
	return string(out), err
}

// dial logs in to addr with cfg; the connection lives two minutes at most,
// so that nothing hangs the benchmark.
func dial(addr string, cfg *gossh.ClientConfig) (*gossh.Client, error) {
	c, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(2 * time.Minute))
	sc, chans, reqs, err := gossh.NewClientConn(c, addr, cfg)
	if err != nil {
		c.Close()
		return nil, err
	}
	return gossh.NewClient(sc, chans, reqs), nil
}

// watchRSS samples pid's RSS every 10 ms until the returned function is
// called, which returns the highest sample in KiB.
func watchRSS(pid int) func() int {
	stop := make(chan struct{})
	res := make(chan int)
	go func() {
		high := 0
		t := time.NewTicker(10 * time.Millisecond)
		defer t.Stop()
		for {
			if v, err := benchkit.RSS(pid); err == nil && v > high {
				high = v
			}
			select {
			case <-stop:
				res <- high
				return
			case <-t.C:
			}
		}
	}()
	return func() int { close(stop); return <-res }
}

func pct(sorted []time.Duration, p int) time.Duration {
	return sorted[min(len(sorted)-1, len(sorted)*p/100)]
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }
