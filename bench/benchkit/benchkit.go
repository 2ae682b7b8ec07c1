// Package benchkit is what the Go benchmarks under bench/ share: users with
// keys derived from their names (so that the setup and the load client
// agree without files), source addresses on loopback, and RSS readings.
package benchkit

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/lxcgate/lxcgate/internal/store"
	"github.com/lxcgate/lxcgate/internal/users"
	gossh "golang.org/x/crypto/ssh"
)

// UserName is the i-th benchmark user's name.
func UserName(prefix string, i int) string { return fmt.Sprintf("%s%03d", prefix, i) }

// Signer is the key of the named benchmark user, derived from the name.
func Signer(name string) gossh.Signer {
	seed := sha256.Sum256([]byte("lxcgate-bench-key:" + name))
	s, err := gossh.NewSignerFromKey(ed25519.NewKeyFromSeed(seed[:]))
	if err != nil {
		panic(err)
	}
	return s
}

// Setup creates n key-only users (prefix000...) in the gateway's database
// under data, migrating it first; existing users are kept.
func Setup(ctx context.Context, data, prefix string, n int) error {
	if err := os.MkdirAll(data, 0o700); err != nil {
		return err
	}
	db, err := store.Open(filepath.Join(data, "lxcgate.db"))
	if err != nil {
		return err
	}
	defer db.Close()
	if _, err := store.Migrate(ctx, db); err != nil {
		return err
	}
	st := users.New(db)
	for i := range n {
		name := UserName(prefix, i)
		line := gossh.MarshalAuthorizedKey(Signer(name).PublicKey())
		if _, err := st.AddWithKeys(ctx, name, users.RoleUser, line); err != nil && !strings.Contains(err.Error(), "exists") {
			return fmt.Errorf("user %s: %w", name, err)
		}
	}
	return nil
}

// Source is the k-th loopback source address (127.0.0.1+k), k < 250*250.
func Source(k int) *net.TCPAddr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, byte(k/250), byte(1+k%250))}
}

// RSS returns a process's resident memory in KiB (VmRSS).
func RSS(pid int) (int, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		return 0, err
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, "VmRSS:"); ok {
			return strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
		}
	}
	return 0, fmt.Errorf("no VmRSS for pid %d", pid)
}

// ClientConfig is key authentication as name, any host key.
func ClientConfig(name string) *gossh.ClientConfig {
	return &gossh.ClientConfig{
		User:            name,
		Auth:            []gossh.AuthMethod{gossh.PublicKeys(Signer(name))},
		HostKeyCallback: gossh.InsecureIgnoreHostKey(),
	}
}

// Dial connects from src to addr and logs in with cfg.
func Dial(ctx context.Context, src *net.TCPAddr, addr string, cfg *gossh.ClientConfig) (*gossh.Client, error) {
	d := net.Dialer{LocalAddr: src}
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	sc, chans, reqs, err := gossh.NewClientConn(c, addr, cfg)
	if err != nil {
		c.Close()
		return nil, err
	}
	return gossh.NewClient(sc, chans, reqs), nil
}

// CPU returns the user+system CPU time a process has used so far.
func CPU(pid int) (time.Duration, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return 0, err
	}
	// The fields after the command name, which is in parentheses.
	f := strings.Fields(string(b[bytes.LastIndexByte(b, ')')+1:]))
	if len(f) < 13 {
		return 0, fmt.Errorf("short /proc/%d/stat", pid)
	}
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * time.Second / 100, nil // USER_HZ
}
