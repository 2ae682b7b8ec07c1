package web_test

import (
	"testing"
	"time"

	"github.com/lxcgate/lxcgate/internal/auth"
	"github.com/lxcgate/lxcgate/internal/throttle"
	"github.com/lxcgate/lxcgate/internal/web"
)

// Scenario: a guesser tries bad tokens on the web, then passwords over
// SSH: both doors spend one failure budget per address, so the web's
// failures lock the address out of SSH too.
func TestWebFailuresCountAgainstSSH(t *testing.T) {
	th := throttle.New(throttle.Limits{PerAccount: 100, PerAddress: 3, Window: time.Minute, Lockout: time.Minute})
	l := newLab(t, func(o *web.Options) { o.Throttle = th })
	addr := auth.AddrGroup("127.0.0.1:1")
	for range 3 {
		l.want("GET", "/api/v1/containers", "not-a-token", "", 401, "invalid or expired token")
	}
	if lock, locked := th.Locked("alice", addr); !locked || lock.Key != "address "+addr {
		t.Fatalf("after 3 web failures SSH is not locked: %+v %v", lock, locked)
	}
	l.want("GET", "/api/v1/containers", l.token("alice"), "", 429, "too many failed sign-ins from your address")
}

// Scenario: SSH failures from an address close the web's door to tokens
// from it as well.
func TestSSHFailuresCountAgainstWeb(t *testing.T) {
	th := throttle.New(throttle.Limits{PerAccount: 100, PerAddress: 2, Window: time.Minute, Lockout: time.Minute})
	l := newLab(t, func(o *web.Options) { o.Throttle = th })
	addr := auth.AddrGroup("127.0.0.1:1")
	tok := l.token("alice")
	l.want("GET", "/api/v1/containers", tok, "", 200, "")
	th.Failure("alice", addr)
	th.Failure("bob", addr)
	l.want("GET", "/api/v1/containers", tok, "", 429, "too many failed sign-ins from your address")
}
