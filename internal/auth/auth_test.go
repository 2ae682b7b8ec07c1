package auth

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lxcgate/lxcgate/internal/throttle"
	"github.com/lxcgate/lxcgate/internal/users"
	gossh "golang.org/x/crypto/ssh"
)

// fakeStore counts lookups: implausible names must never reach it.
type fakeStore struct{ lookups atomic.Int32 }

func (f *fakeStore) Authenticate(_ context.Context, name, password string) (users.User, error) {
	f.lookups.Add(1)
	if name == "alice" && password == "right" {
		return users.User{Name: "alice", Role: users.RoleUser}, nil
	}
	return users.User{}, users.ErrAuth
}

func (f *fakeStore) UserByKey(context.Context, gossh.PublicKey) (users.User, error) {
	f.lookups.Add(1)
	return users.User{Name: "alice"}, nil
}

func (f *fakeStore) ChangePassword(context.Context, string, string, string) error { return nil }

func (f *fakeStore) Get(_ context.Context, name string) (users.User, error) {
	f.lookups.Add(1)
	return users.User{Name: name}, nil
}

func newAuth(perAddress int) (*Authenticator, *fakeStore, *throttle.Throttle) {
	st := &fakeStore{}
	th := throttle.New(throttle.Limits{PerAccount: 3, PerAddress: perAddress, Window: time.Minute, Lockout: time.Minute})
	return New(st, th), st, th
}

func TestImplausibleNamesNeverLookedUp(t *testing.T) {
	for _, name := range []string{
		strings.Repeat("a", 65),
		strings.Repeat("x", 20_000),
		"alice\n",
		"al\x00ice",
		"\xff\xfe",
		"ad\u202emin",
	} {
		a, st, th := newAuth(1000)
		if _, err := a.Password(context.Background(), name, "right", "10.0.0.1:5555"); !errors.Is(err, users.ErrAuth) {
			t.Errorf("Password(%q) = %v, want ErrAuth", name, err)
		}
		if _, err := a.Key(context.Background(), name, nil); !errors.Is(err, users.ErrAuth) {
			t.Errorf("Key(%q) = %v, want ErrAuth", name, err)
		}
		if _, err := a.User(context.Background(), name); !errors.Is(err, users.ErrNotFound) {
			t.Errorf("User(%q) = %v", name, err)
		}
		if n := st.lookups.Load(); n != 0 {
			t.Errorf("%q reached the store %d times", name, n)
		}
		if th.Len() == 0 {
			t.Errorf("%q was not counted as a failure", name)
		}
	}
	// A plausible name still is.
	a, st, _ := newAuth(1000)
	if _, err := a.Password(context.Background(), "alice", "right", "10.0.0.1:5555"); err != nil || st.lookups.Load() != 1 {
		t.Fatalf("alice: %v, %d lookups", err, st.lookups.Load())
	}
}

// A flood of junk names locks its address like wrong passwords do, and
// the lock says which key is locked.
func TestJunkNamesLockTheAddress(t *testing.T) {
	a, _, _ := newAuth(5)
	for i := 0; i < 5; i++ {
		a.Password(context.Background(), strings.Repeat("j", 100+i), "x", "[2001:db8:1:2::7]:22")
	}
	// Another address of the same /64 is the same source.
	_, err := a.Password(context.Background(), "alice", "right", "[2001:db8:1:2::99]:22")
	var le *LockedError
	if !errors.Is(err, ErrLocked) || !errors.As(err, &le) || le.Key != "address 2001:db8:1:2::/64" {
		t.Fatalf("after junk from the /64: %v", err)
	}
	if _, err := a.Password(context.Background(), "alice", "right", "[2001:db8:1:3::1]:22"); err != nil {
		t.Fatalf("another /64: %v", err)
	}
}

func TestAddrGroup(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"127.0.0.1:2222", "127.0.0.1"},
		{"10.1.2.3", "10.1.2.3"},
		{"[::ffff:10.1.2.3]:22", "10.1.2.3"},
		{"[2001:db8:aa:bb:1:2:3:4]:22", "2001:db8:aa:bb::/64"},
		{"[2001:db8:aa:bb::ffff]:1", "2001:db8:aa:bb::/64"},
		{"[fe80::1%eth0]:22", "fe80::/64"},
		{"[::1]:22", "::/64"},
		{"pipe", "pipe"},
	} {
		if got := AddrGroup(tc.in); got != tc.want {
			t.Errorf("AddrGroup(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}
