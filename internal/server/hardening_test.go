package server

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/lxcgate/lxcgate/internal/testlog"
)

func captureLog(o *Options) *testlog.Buffer {
	buf := &testlog.Buffer{}
	o.Log = slog.New(slog.NewTextHandler(buf, nil))
	return buf
}

// Names sent before authentication are recorded bounded and escaped, and
// never looked up.
func TestHostileUserNames(t *testing.T) {
	var logs *testlog.Buffer
	g := startGateway(t, func(o *Options) { logs = captureLog(o) })
	for _, name := range []string{
		strings.Repeat("A", 20_000),
		"alice\nlogin ok user=admin",
		"\x1b]0;pwned\x07",
		"ad\u202emin",
		"\xff\xfe\xfd",
	} {
		for _, m := range []gossh.AuthMethod{gossh.Password("alice-password"), gossh.PublicKeys(g.aliceK)} {
			if c, err := g.dial(t, name, m); err == nil {
				c.Close()
				t.Fatalf("%q logged in", name[:min(len(name), 20)])
			}
		}
	}
	rows, err := g.db.Query(`SELECT user, detail, method FROM audit`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	seen := 0
	for rows.Next() {
		var user, detail, method string
		rows.Scan(&user, &detail, &method)
		seen++
		if len(user) > 200 || len(detail) > 300 {
			t.Errorf("audit row with a %d-byte user, %d-byte detail", len(user), len(detail))
		}
		if strings.ContainsAny(user, "\n\x1b\x07\u202e") || strings.Contains(user, "\xff") {
			t.Errorf("raw control or invalid bytes in an audit user: %q", user)
		}
	}
	if seen < 10 {
		t.Fatalf("%d audit rows, want one per attempt", seen)
	}
	if strings.Contains(logs.String(), strings.Repeat("A", 100)) {
		t.Fatal("the log holds the 20 kB name")
	}
	for _, line := range strings.Split(logs.String(), "\n") {
		if len(line) > 1000 {
			t.Fatalf("a %d-byte log line", len(line))
		}
	}
}

// A locked-out account hammered with passwords gets one audit record per
// minute, not one per attempt.
func TestLockoutRefusalsSampled(t *testing.T) {
	var logs *testlog.Buffer
	g := startGateway(t, func(o *Options) { logs = captureLog(o) })
	for i := 0; i < 15; i++ {
		if c, err := g.dial(t, "alice", gossh.Password("wrong-password")); err == nil {
			c.Close()
			t.Fatal("wrong password accepted")
		}
	}
	var all, locked int
	g.db.QueryRow(`SELECT count(*) FROM audit WHERE kind = 'login' AND ok = 0 AND user = 'alice'`).Scan(&all)
	g.db.QueryRow(`SELECT count(*) FROM audit WHERE kind = 'login' AND ok = 0 AND user = 'alice' AND detail LIKE 'too many failed attempts%'`).Scan(&locked)
	if all != 4 || locked != 1 {
		t.Fatalf("%d failed-login records (%d for the lockout); want 3 wrong passwords + 1 lockout", all, locked)
	}
	if n := strings.Count(logs.String(), "password refused"); n != 0 {
		t.Fatalf("%d log lines for locked attempts", n)
	}
}

func TestAlgorithms(t *testing.T) {
	g := startGateway(t, nil)
	dial := func(cfg gossh.Config) error {
		c, err := gossh.Dial("tcp", g.addr, &gossh.ClientConfig{Config: cfg, User: "alice",
			Auth: []gossh.AuthMethod{gossh.PublicKeys(g.aliceK)}, HostKeyCallback: gossh.InsecureIgnoreHostKey(), Timeout: 5 * time.Second})
		if err == nil {
			c.Close()
		}
		return err
	}
	for _, kex := range kexAlgorithms {
		for _, cipher := range ciphers {
			if err := dial(gossh.Config{KeyExchanges: []string{kex}, Ciphers: []string{cipher}}); err != nil {
				t.Errorf("%s with %s: %v", kex, cipher, err)
			}
		}
	}
	for _, tc := range []gossh.Config{
		{KeyExchanges: []string{gossh.KeyExchangeECDHP256}},
		{KeyExchanges: []string{gossh.KeyExchangeDH14SHA256}},
		{KeyExchanges: []string{gossh.InsecureKeyExchangeDH14SHA1}},
		{Ciphers: []string{gossh.CipherAES128CTR}},
		{Ciphers: []string{gossh.InsecureCipherAES128CBC}},
		{Ciphers: []string{gossh.CipherAES256CTR}, MACs: []string{gossh.HMACSHA256}},
	} {
		if err := dial(tc); err == nil {
			t.Errorf("%+v accepted", tc)
		}
	}
}
