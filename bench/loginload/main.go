// Command loginload measures parallel key logins: workers that each dial,
// authenticate with a key and run "whoami", over many users and many
// loopback source addresses, against lxcgate and against a bare x/crypto
// server, alternating in one run, and prints logins per second and the
// ratio.
//
//	loginload bare -listen 127.0.0.1:PORT          the bare server (any key; exec answers the user name)
//	loginload setup -data DIR [-users N]           the gateway's benchmark users, with their keys
//	loginload run -bare ADDR -gw ADDR [-users N] [-workers 8] [-duration 5s] [-rounds 3]
//
// bench/logins.sh runs all three.
package main

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lxcgate/lxcgate/bench/benchkit"
	gossh "golang.org/x/crypto/ssh"
)

func main() {
	if len(os.Args) < 2 {
		usage()
	}
	var err error
	switch os.Args[1] {
	case "bare":
		err = bare(os.Args[2:])
	case "setup":
		err = setup(os.Args[2:])
	case "run":
		err = run(os.Args[2:])
	default:
		usage()
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "loginload:", err)
		os.Exit(1)
	}
}

func usage() {
	fmt.Fprintln(os.Stderr, "usage: loginload bare|setup|run [flags]")
	os.Exit(2)
}

// bare serves SSH with nothing but what a login and "whoami" need.
func bare(args []string) error {
	fs := flag.NewFlagSet("bare", flag.ExitOnError)
	listen := fs.String("listen", "127.0.0.1:0", "address")
	fs.Parse(args)
	_, priv, _ := ed25519.GenerateKey(rand.Reader)
	hk, err := gossh.NewSignerFromKey(priv)
	if err != nil {
		return err
	}
	cfg := &gossh.ServerConfig{
		PublicKeyCallback: func(gossh.ConnMetadata, gossh.PublicKey) (*gossh.Permissions, error) { return nil, nil },
	}
	cfg.AddHostKey(hk)
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	fmt.Println(ln.Addr().String())
	for {
		c, err := ln.Accept()
		if err != nil {
			return err
		}
		go serveBare(c, cfg)
	}
}

func serveBare(c net.Conn, cfg *gossh.ServerConfig) {
	defer c.Close()
	sc, chans, reqs, err := gossh.NewServerConn(c, cfg)
	if err != nil {
		return
	}
	go gossh.DiscardRequests(reqs)
	for nc := range chans {
		if nc.ChannelType() != "session" {
			nc.Reject(gossh.UnknownChannelType, "no")
			continue
		}
		ch, creqs, err := nc.Accept()
		if err != nil {
			continue
		}
		go func() {
			defer ch.Close()
			for r := range creqs {
				if r.Type != "exec" {
					r.Reply(false, nil)
					continue
				}
				r.Reply(true, nil)
				fmt.Fprintln(ch, sc.User())
				ch.SendRequest("exit-status", false, gossh.Marshal(struct{ Status uint32 }{0}))
				return
			}
		}()
	}
}

func setup(args []string) error {
	fs := flag.NewFlagSet("setup", flag.ExitOnError)
	data := fs.String("data", "", "the gateway's data directory")
	n := fs.Int("users", 100, "users")
	prefix := fs.String("prefix", "lb", "user name prefix")
	fs.Parse(args)
	if *data == "" {
		return errors.New("setup: -data is required")
	}
	return benchkit.Setup(context.Background(), *data, *prefix, *n)
}

type result struct {
	logins, errors int
	elapsed, cpu   time.Duration // cpu: the server's
	lat            []time.Duration
	firstErr       error
}

func (r result) rate() float64 { return float64(r.logins) / r.elapsed.Seconds() }

func (r result) pct(p float64) time.Duration {
	if len(r.lat) == 0 {
		return 0
	}
	slices.Sort(r.lat)
	return r.lat[int(float64(len(r.lat)-1)*p)]
}

func run(args []string) error {
	fs := flag.NewFlagSet("run", flag.ExitOnError)
	bareAddr := fs.String("bare", "", "the bare server's address")
	gwAddr := fs.String("gw", "", "the gateway's address")
	n := fs.Int("users", 100, "users (created by setup)")
	prefix := fs.String("prefix", "lb", "user name prefix")
	workers := fs.Int("workers", 8, "parallel clients")
	sources := fs.Int("sources", 64, "loopback source addresses 127.0.0.1...")
	dur := fs.Duration("duration", 5*time.Second, "length of one round against one server")
	rounds := fs.Int("rounds", 3, "rounds against each server, alternating")
	min := fs.Float64("min-ratio", 0, "exit 1 when lxcgate/bare is below this")
	barePID := fs.Int("bare-pid", 0, "the bare server's process, to report its CPU per login")
	gwPID := fs.Int("gw-pid", 0, "the gateway's process, likewise")
	fs.Parse(args)
	if *bareAddr == "" || *gwAddr == "" {
		return errors.New("run: -bare and -gw are required")
	}
	cfgs := make([]*gossh.ClientConfig, *n)
	for i := range cfgs {
		cfgs[i] = benchkit.ClientConfig(benchkit.UserName(*prefix, i))
	}
	// Both must answer before anything is timed.
	for _, a := range []string{*bareAddr, *gwAddr} {
		if err := login(a, benchkit.Source(0), cfgs[0]); err != nil {
			return fmt.Errorf("warm-up against %s: %w", a, err)
		}
	}
	var tb, tg result
	var next atomic.Int64
	for r := range *rounds {
		order := []string{*bareAddr, *gwAddr}
		if r%2 == 1 {
			order[0], order[1] = order[1], order[0]
		}
		for _, a := range order {
			name, into, pid := "bare", &tb, *barePID
			if a == *gwAddr {
				name, into, pid = "lxcgate", &tg, *gwPID
			}
			cpu0, _ := benchkit.CPU(pid)
			res := load(a, cfgs, *workers, *sources, *dur, &next)
			if pid > 0 {
				cpu1, _ := benchkit.CPU(pid)
				res.cpu = cpu1 - cpu0
			}
			fmt.Printf("round %d %-8s %7.1f logins/s  p50 %5.1f ms  p99 %5.1f ms  errors %d\n", r+1, name, res.rate(),
				ms(res.pct(0.5)), ms(res.pct(0.99)), res.errors)
			if res.firstErr != nil {
				fmt.Printf("  first error: %v\n", res.firstErr)
			}
			into.logins += res.logins
			into.errors += res.errors
			into.elapsed += res.elapsed
			into.cpu += res.cpu
			into.lat = append(into.lat, res.lat...)
		}
	}
	ratio := tg.rate() / tb.rate()
	fmt.Printf("parallel key logins + whoami, %d workers, %d users, %d sources, %d x %v each\n", *workers, *n, *sources, *rounds, *dur)
	fmt.Printf("%-8s %9s %8s %8s %7s %14s\n", "", "logins/s", "p50 ms", "p99 ms", "errors", "server CPU/login")
	for _, x := range []struct {
		n string
		r result
	}{{"bare", tb}, {"lxcgate", tg}} {
		perLogin := "-"
		if x.r.cpu > 0 && x.r.logins > 0 {
			perLogin = fmt.Sprintf("%.0f us", float64(x.r.cpu.Microseconds())/float64(x.r.logins))
		}
		fmt.Printf("%-8s %9.1f %8.1f %8.1f %7d %14s\n", x.n, x.r.rate(), ms(x.r.pct(0.5)), ms(x.r.pct(0.99)), x.r.errors, perLogin)
	}
	fmt.Printf("ratio lxcgate/bare (logins/s): %.3f\n", ratio)
	if tg.logins == 0 || tb.logins == 0 || tg.errors > 0 || tb.errors > 0 {
		return errors.New("logins failed")
	}
	if ratio < *min {
		return fmt.Errorf("ratio %.3f below %.3f", ratio, *min)
	}
	return nil
}

func ms(d time.Duration) float64 { return float64(d.Microseconds()) / 1000 }

// load runs workers against addr for d; each login takes the next user and
// the next source address, round robin.
func load(addr string, cfgs []*gossh.ClientConfig, workers, sources int, d time.Duration, next *atomic.Int64) result {
	var mu sync.Mutex
	var res result
	deadline := time.Now().Add(d)
	start := time.Now()
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			var lat []time.Duration
			ok, bad := 0, 0
			var first error
			for time.Now().Before(deadline) {
				i := int(next.Add(1))
				t0 := time.Now()
				if err := login(addr, benchkit.Source(i%sources), cfgs[i%len(cfgs)]); err != nil {
					bad++
					if first == nil {
						first = err
					}
					continue
				}
				lat = append(lat, time.Since(t0))
				ok++
			}
			mu.Lock()
			res.logins += ok
			res.errors += bad
			res.lat = append(res.lat, lat...)
			if res.firstErr == nil {
				res.firstErr = first
			}
			mu.Unlock()
		})
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	return res
}

// login dials, authenticates and runs whoami, whose output must name the user.
func login(addr string, src *net.TCPAddr, cfg *gossh.ClientConfig) error {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	c, err := benchkit.Dial(ctx, src, addr, cfg)
	if err != nil {
		return err
	}
	defer c.Close()
	s, err := c.NewSession()
	if err != nil {
		return err
	}
	defer s.Close()
	out, err := s.Output("whoami")
	if err != nil {
		return fmt.Errorf("whoami: %w (%q)", err, out)
	}
	if !strings.HasPrefix(string(out), cfg.User) {
		return fmt.Errorf("whoami answered %q, not %s", out, cfg.User)
	}
	return nil
}
