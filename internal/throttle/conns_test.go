package throttle

import (
	"strings"
	"testing"
)

func TestConns(t *testing.T) {
	l := NewConns(2, 3)
	a1, _, _ := l.Acquire("a")
	a2, _, _ := l.Acquire("a")
	if s, why, limit := l.Acquire("a"); s != nil || limit != 2 || !strings.Contains(why, "authenticating") {
		t.Fatalf("third unauthenticated connection: %v %q %d", s, why, limit)
	}
	if s, _, _ := l.Acquire("b"); s == nil {
		t.Fatal("another source refused")
	}
	l.Authenticated(a1)
	l.Authenticated(a1) // twice changes nothing
	a3, _, _ := l.Acquire("a")
	if a3 == nil {
		t.Fatal("authentication did not free an unauthenticated place")
	}
	l.Authenticated(a2)
	if s, why, limit := l.Acquire("a"); s != nil || limit != 3 || strings.Contains(why, "authenticating") {
		t.Fatalf("fourth connection: %v %q %d", s, why, limit)
	}
	l.Release(a1)
	l.Release(a1) // a double close counts once
	if u, n := l.Counts("a"); u != 1 || n != 2 {
		t.Fatalf("counts after release: unauth %d, total %d", u, n)
	}
	l.Release(a2)
	l.Release(a3)
	l.Authenticated(a3) // after release: nothing
	if u, n := l.Counts("a"); u != 0 || n != 0 || len(l.by) != 1 {
		t.Fatalf("counts at the end: %d %d, %d sources held", u, n, len(l.by))
	}
}
