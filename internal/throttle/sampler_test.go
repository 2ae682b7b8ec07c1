package throttle

import (
	"strings"
	"testing"
	"time"
)

func TestSampler(t *testing.T) {
	now := time.Unix(1000, 0)
	s := NewSampler(time.Minute, 3)
	s.now = func() time.Time { return now }
	if ok, n := s.Allow("account alice"); !ok || n != 0 {
		t.Fatalf("first: %v %d", ok, n)
	}
	for i := 0; i < 50; i++ {
		if ok, _ := s.Allow("account alice"); ok {
			t.Fatalf("attempt %d recorded within the period", i)
		}
	}
	if ok, _ := s.Allow("address 10.0.0.1"); !ok {
		t.Fatal("another key was suppressed")
	}
	now = now.Add(time.Minute)
	if ok, n := s.Allow("account alice"); !ok || n != 50 {
		t.Fatalf("after the period: %v, suppressed %d, want 50", ok, n)
	}
	// Keys a flood adds past the bound share one overflow key.
	for i := 0; i < 100; i++ {
		s.Allow("address 10.1.0." + string(rune('a'+i%26)) + strings.Repeat("x", i))
	}
	if len(s.seen) > 3+1 {
		t.Fatalf("%d keys held, bound 3 (+ overflow)", len(s.seen))
	}
	// Suppressed events never reported in a record come out of Drain.
	s.Allow("account alice")
	s.Allow("account alice")
	now = now.Add(2 * time.Minute)
	if n := s.Drain(); n < 2 {
		t.Fatalf("Drain = %d, want at least the 2 alice events", n)
	}
	if n := s.Drain(); n != 0 {
		t.Fatalf("second Drain = %d", n)
	}
}

func TestBurstSampler(t *testing.T) {
	now := time.Unix(1000, 0)
	s := NewBurstSampler(time.Minute, 5, 10)
	s.SetClock(func() time.Time { return now })
	let := 0
	for range 100 {
		if ok, _ := s.Allow("198.51.100.7"); ok {
			let++
		}
	}
	if let != 5 {
		t.Fatalf("%d of 100 let through in a period, want 5", let)
	}
	now = now.Add(time.Minute)
	if ok, n := s.Allow("198.51.100.7"); !ok || n != 95 {
		t.Fatalf("after the period: %v, suppressed %d, want 95", ok, n)
	}
}
