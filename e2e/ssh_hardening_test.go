package e2e

import (
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"
)

// ssh-audit finds nothing to fail and warns only about algorithm names
// newer than itself; OpenSSH clients with only what Debian 11's OpenSSH 8.4
// knows still connect.
func TestSSHAuditClean(t *testing.T) {
	need(t, "ssh-audit")
	g := newGW(t)
	key := g.addUser("alice", "alice-password", false)
	g.start()
	out, _ := exec.Command("ssh-audit", "-n", "-p", g.port, "127.0.0.1").CombinedOutput()
	report := string(out)
	if !strings.Contains(report, "(kex) curve25519-sha256") {
		t.Fatalf("ssh-audit did not report:\n%s", report)
	}
	fails, warns := 0, 0
	for _, line := range strings.Split(report, "\n") {
		switch {
		case strings.Contains(line, "[fail]"):
			fails++
			t.Errorf("ssh-audit fails: %s", strings.TrimSpace(line))
		case strings.Contains(line, "[warn]"):
			warns++
			if !strings.Contains(line, "unknown algorithm") {
				t.Errorf("ssh-audit warns: %s", strings.TrimSpace(line))
			}
		}
	}
	t.Logf("ssh-audit: %d fail, %d warn (unknown algorithms only)", fails, warns)
	// OpenSSH 8.4 (Debian 11) offers curve25519 and chacha20 or AES-GCM.
	for _, opts := range [][]string{
		{"-o", "KexAlgorithms=curve25519-sha256", "-o", "Ciphers=chacha20-poly1305@openssh.com"},
		{"-o", "KexAlgorithms=curve25519-sha256@libssh.org", "-o", "Ciphers=aes128-gcm@openssh.com"},
		{"-o", "KexAlgorithms=curve25519-sha256", "-o", "Ciphers=aes256-gcm@openssh.com", "-o", "MACs=hmac-sha2-256-etm@openssh.com"},
		{}, // this machine's defaults
	} {
		args := append(g.sshArgs("alice", append([]string{"-i", key, "-o", "BatchMode=yes"}, opts...)...), "whoami")
		if r := runCmd(t, "", "ssh", args...); r.code != 0 || !strings.Contains(r.out, "alice") {
			t.Errorf("ssh %v: %+v", opts, r)
		}
	}
	// And an old algorithm is refused.
	args := append(g.sshArgs("alice", "-i", key, "-o", "BatchMode=yes", "-o", "KexAlgorithms=ecdh-sha2-nistp256"), "whoami")
	if r := runCmd(t, "", "ssh", args...); r.code == 0 {
		t.Errorf("ecdh-sha2-nistp256 accepted: %+v", r)
	}
}

// 500 idle connections from one loopback address do not keep a user on
// another out: the per-source cap protects, whether or not the global cap
// would (600 lets them all in as far as it goes).
func TestIdleConnectionsFromOneSource(t *testing.T) {
	for _, tc := range []struct {
		name string
		env  []string
	}{
		{"default global cap", nil},
		{"global cap 600", []string{"LXCGATE_SSH_MAX_CONNECTIONS=600"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newGW(t, tc.env...)
			key := g.addUser("alice", "alice-password", false)
			g.start()
			_, refused := dialIdle(t, g, "127.0.0.3", 500)
			if refused < 500-32 {
				t.Errorf("only %d of 500 idle connections refused (32 may wait to authenticate)", refused)
			}
			start := time.Now()
			args := append(g.sshArgs("alice", "-b", "127.0.0.2", "-i", key, "-o", "BatchMode=yes"), "whoami")
			r := runCmd(t, "", "ssh", args...)
			if r.code != 0 || !strings.Contains(r.out, "alice (user), from 127.0.0.2") {
				t.Fatalf("login from 127.0.0.2 beside 500 idle connections: %+v", r)
			}
			t.Logf("login from 127.0.0.2 took %v beside 500 idle connections from 127.0.0.3", time.Since(start).Round(time.Millisecond))
			if n := strings.Count(g.logs(), "connection refused"); n > 2 {
				t.Errorf("%d log lines for the refusals, want one a minute", n)
			}
		})
	}
}

// 40 wrong passwords at once from one address (with the per-source caps
// and the lockout raised, so that every one reaches argon2): the hash
// semaphore keeps the gateway's memory to a few hashes' worth.
func TestConcurrentWrongPasswordsMemory(t *testing.T) {
	g := newGW(t,
		"LXCGATE_SSH_MAX_UNAUTHENTICATED_PER_ADDRESS=100", "LXCGATE_SSH_MAX_CONNECTIONS_PER_ADDRESS=100",
		"LXCGATE_AUTH_MAX_FAILURES=1000", "LXCGATE_AUTH_MAX_FAILURES_PER_ADDRESS=1000")
	key := g.addUser("alice", "alice-password", false)
	g.start()
	// One good login first, so that the baseline includes a warm server.
	if r := g.sshKey("alice", key, "", "whoami"); r.code != 0 {
		t.Fatalf("warm-up login: %+v", r)
	}
	time.Sleep(200 * time.Millisecond)
	nowBefore, peakBefore := g.rss()
	const attempts = 40
	var wg sync.WaitGroup
	var mu sync.Mutex
	var unexpected []error
	start := make(chan struct{})
	for i := 0; i < attempts; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			<-start
			c, err := gossh.Dial("tcp", "127.0.0.1:"+g.port, &gossh.ClientConfig{
				User: "alice", Auth: []gossh.AuthMethod{gossh.Password(fmt.Sprintf("wrong-password-%d", i))},
				HostKeyCallback: gossh.InsecureIgnoreHostKey(), Timeout: 60 * time.Second,
			})
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				c.Close()
				unexpected = append(unexpected, errors.New("a wrong password logged in"))
			} else if !strings.Contains(err.Error(), "unable to authenticate") {
				unexpected = append(unexpected, err)
			}
		}()
	}
	t0 := time.Now()
	close(start)
	wg.Wait()
	elapsed := time.Since(t0)
	nowAfter, peakAfter := g.rss()
	t.Logf("%d concurrent wrong passwords in %v: RSS %.1f -> %.1f MiB, peak %.1f -> %.1f MiB (growth %.1f MiB)",
		attempts, elapsed.Round(time.Millisecond), nowBefore, nowAfter, peakBefore, peakAfter, peakAfter-peakBefore)
	for _, err := range unexpected {
		t.Errorf("attempt: %v", err)
	}
	// 4 hashes of 19 MiB at once is 76 MiB live; the Go heap may reach
	// about twice its live size before a collection, and the 40
	// connections cost a few MiB: 200 MiB is well above that and well
	// below the 760 MiB that 40 unbounded hashes hold live.
	if growth := peakAfter - peakBefore; growth > 200 {
		t.Errorf("peak RSS grew by %.1f MiB, bound 200", growth)
	}
	if r := g.sshKey("alice", key, "", "whoami"); r.code != 0 || !strings.Contains(r.out, "alice") {
		t.Fatalf("key login after the flood: %+v", r)
	}
	db := openDB(t, g)
	var n int
	db.QueryRow(`SELECT count(*) FROM audit WHERE kind = 'login' AND ok = 0 AND user = 'alice'`).Scan(&n)
	if n != attempts {
		t.Errorf("%d failed logins audited, want %d", n, attempts)
	}
}

// An account disabled or deleted on the host ends its open sessions
// within a second or so.
func TestDisabledOrDeletedUserSessionEnds(t *testing.T) {
	g := newGW(t)
	aliceKey := g.addUser("alice", "alice-password", false)
	bobKey := g.addUser("bob", "bob-password", false)
	g.addUser("carol", "carol-password", false)
	g.start()
	for _, tc := range []struct {
		user, key string
		cmd       []string
		detail    string
	}{
		{"alice", aliceKey, []string{"user", "disable", "alice"}, "account disabled"},
		{"bob", bobKey, []string{"user", "del", "bob"}, "account deleted"},
	} {
		t.Run(tc.cmd[1], func(t *testing.T) {
			tt := g.tty(tc.user, "-i", tc.key, "-o", "BatchMode=yes")
			tt.expect("> ")
			g.mustLxcgate("", tc.cmd...)
			changed := time.Now()
			select {
			case <-tt.done:
				t.Logf("%s's session ended %v after 'lxcgate %s' returned", tc.user, time.Since(changed).Round(time.Millisecond), strings.Join(tc.cmd, " "))
			case <-time.After(1500 * time.Millisecond):
				t.Fatalf("%s's session outlived 'lxcgate %s' by 1.5 s; screen:\n%s", tc.user, strings.Join(tc.cmd, " "), tt.screen())
			}
			db := openDB(t, g)
			var n int
			db.QueryRow(`SELECT count(*) FROM audit WHERE kind = 'refusal' AND user = ? AND detail LIKE ?`, tc.user, tc.detail+"%").Scan(&n)
			if n != 1 {
				t.Errorf("%d audit records of the ended session, want 1", n)
			}
			if r := g.sshKey(tc.user, tc.key, "", "whoami"); r.code == 0 {
				t.Errorf("%s logged in again: %+v", tc.user, r)
			}
		})
	}
	// Others are untouched.
	if r := g.sshPassword("carol", "carol-password", "password", "whoami"); r.code != 0 {
		t.Fatalf("carol: %+v", r)
	}
}

// A 20 kB user name fails like any unknown name and leaves only a bounded
// trace in the audit table and the log.
func TestHugePreauthName(t *testing.T) {
	g := newGW(t)
	key := g.addUser("alice", "alice-password", false)
	g.start()
	name := strings.Repeat("A", 20_000)
	signer := loadSigner(t, key)
	for _, m := range []gossh.AuthMethod{gossh.Password("alice-password"), gossh.PublicKeys(signer)} {
		c, err := gossh.Dial("tcp", "127.0.0.1:"+g.port, &gossh.ClientConfig{
			User: name, Auth: []gossh.AuthMethod{m}, HostKeyCallback: gossh.InsecureIgnoreHostKey(), Timeout: 10 * time.Second,
		})
		if err == nil {
			c.Close()
			t.Fatal("a 20 kB name logged in")
		}
		if !strings.Contains(err.Error(), "unable to authenticate") {
			t.Fatalf("login with a 20 kB name: %v", err)
		}
	}
	time.Sleep(200 * time.Millisecond)
	db := openDB(t, g)
	var rows, maxUser, maxDetail, maxMethod int
	db.QueryRow(`SELECT count(*), coalesce(max(length(user)), 0), coalesce(max(length(detail)), 0), coalesce(max(length(method)), 0) FROM audit`).
		Scan(&rows, &maxUser, &maxDetail, &maxMethod)
	t.Logf("%d audit rows; longest user %d, detail %d, method %d bytes", rows, maxUser, maxDetail, maxMethod)
	if rows < 2 {
		t.Fatalf("%d audit rows for two failed logins", rows)
	}
	if maxUser > 300 || maxDetail > 300 || maxMethod > 300 {
		t.Fatalf("an audit row holds %d/%d/%d bytes of user/detail/method", maxUser, maxDetail, maxMethod)
	}
	if strings.Contains(g.logs(), strings.Repeat("A", 200)) {
		t.Fatal("the gateway log holds the long name")
	}
	if r := g.sshKey("alice", key, "", "whoami"); r.code != 0 {
		t.Fatalf("alice after the long names: %+v", r)
	}
}

// Session channels past the per-connection cap are refused, and the ones
// accepted, even filled to their 2 MiB windows without a shell, keep the
// gateway's memory bounded.
func TestChannelFloodOnOneConnection(t *testing.T) {
	g := newGW(t)
	key := g.addUser("alice", "alice-password", false)
	g.start()
	c, err := gossh.Dial("tcp", "127.0.0.1:"+g.port, &gossh.ClientConfig{
		User: "alice", Auth: []gossh.AuthMethod{gossh.PublicKeys(loadSigner(t, key))},
		HostKeyCallback: gossh.InsecureIgnoreHostKey(), Timeout: 10 * time.Second,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	time.Sleep(200 * time.Millisecond)
	nowBefore, peakBefore := g.rss()
	const capacity, window = 10, 2 << 20 // ssh.max_channels_per_connection; x/crypto's channel window
	var accepted []gossh.Channel
	refused := 0
	for i := 0; i < 200; i++ {
		ch, reqs, err := c.OpenChannel("session", nil)
		var oce *gossh.OpenChannelError
		switch {
		case err == nil:
			go gossh.DiscardRequests(reqs)
			accepted = append(accepted, ch)
		case errors.As(err, &oce) && oce.Reason == gossh.ResourceShortage:
			refused++
		default:
			t.Fatalf("channel %d: %v", i, err)
		}
	}
	if len(accepted) != capacity || refused != 200-capacity {
		t.Fatalf("%d channels accepted, %d refused; want %d and %d", len(accepted), refused, capacity, 200-capacity)
	}
	// Fill every accepted channel's window: the gateway buffers it all,
	// since no shell reads it.
	chunk := make([]byte, window)
	var wg sync.WaitGroup
	var written sync.Map
	for i, ch := range accepted {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := ch.Write(chunk); err != nil {
				written.Store(i, err)
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(20 * time.Second):
		t.Fatal("filling the channel windows did not finish")
	}
	written.Range(func(i, err any) bool { t.Errorf("filling channel %d: %v", i, err); return true })
	time.Sleep(300 * time.Millisecond)
	nowAfter, peakAfter := g.rss()
	t.Logf("%d channels open with %d MiB each buffered, %d refused: RSS %.1f -> %.1f MiB, peak %.1f -> %.1f MiB (growth %.1f MiB)",
		capacity, window>>20, refused, nowBefore, nowAfter, peakBefore, peakAfter, peakAfter-peakBefore)
	// cap x 2 MiB buffered, plus slack for the runtime and 190 refusals.
	if growth := peakAfter - peakBefore; growth > capacity*2+40 {
		t.Errorf("peak RSS grew by %.1f MiB, bound %d", growth, capacity*2+40)
	}
	db := openDB(t, g)
	var n int
	db.QueryRow(`SELECT count(*) FROM audit WHERE kind = 'refusal' AND detail LIKE 'too many channels%'`).Scan(&n)
	if n != 1 {
		t.Errorf("%d audit records for %d refused channels, want 1", n, refused)
	}
	// A closed channel frees its place.
	accepted[0].Close()
	deadline := time.Now().Add(5 * time.Second)
	for {
		s, err := c.NewSession()
		if err == nil {
			s.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no channel place after closing one: %v", err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
