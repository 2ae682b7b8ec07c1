package users

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countHashes replaces idKey with a slow stand-in that records how many
// run at once.
func countHashes(t *testing.T) (peak *atomic.Int32) {
	t.Helper()
	var now atomic.Int32
	peak = new(atomic.Int32)
	real := idKey
	idKey = func(pw, salt []byte, time, mem uint32, threads uint8, keyLen uint32) []byte {
		n := now.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		defer now.Add(-1)
		sleep(20)
		return real(pw, salt, 1, 8, 1, keyLen) // cheap parameters: the test counts, it does not hash
	}
	t.Cleanup(func() { idKey = real; SetMaxConcurrentHashes(0) })
	return peak
}

func sleep(ms int) { time.Sleep(time.Duration(ms) * time.Millisecond) }

func TestConcurrentHashesBounded(t *testing.T) {
	for _, tc := range []struct{ n, extra int }{{1, 5}, {4, 36}, {0, 10}} {
		peak := countHashes(t)
		SetMaxConcurrentHashes(tc.n)
		want := tc.n
		if want <= 0 {
			want = DefaultMaxConcurrentHashes
		}
		hash, err := HashPassword("correct horse")
		if err != nil {
			t.Fatal(err)
		}
		peak.Store(0)
		var wg sync.WaitGroup
		var good atomic.Int32
		for i := 0; i < want+tc.extra; i++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				pw := "wrong guess"
				if i%2 == 0 {
					pw = "correct horse"
				}
				if ok, err := VerifyPassword(hash, pw); err == nil && ok {
					good.Add(1)
				}
			}()
		}
		wg.Wait()
		if p := int(peak.Load()); p > want || p == 0 {
			t.Errorf("N=%d with %d verifications: %d hashes ran at once", tc.n, want+tc.extra, p)
		}
		if int(good.Load()) != (want+tc.extra+1)/2 {
			t.Errorf("N=%d: %d right passwords accepted, want %d", tc.n, good.Load(), (want+tc.extra+1)/2)
		}
	}
}

// A caller waiting for a slot gives up when its context ends (the client
// hung up), without hashing.
func TestHashWaitRespectsContext(t *testing.T) {
	peak := countHashes(t)
	SetMaxConcurrentHashes(1)
	hash, _ := HashPassword("correct horse")
	slots := *hashSlots.Load()
	slots <- struct{}{} // every slot taken
	defer func() { <-slots }()
	peak.Store(0)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	start := time.Now()
	ok, err := VerifyPasswordContext(ctx, hash, "correct horse")
	if ok || !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("VerifyPasswordContext = %v, %v; want the context's error", ok, err)
	}
	if d := time.Since(start); d > time.Second {
		t.Fatalf("waited %v", d)
	}
	if peak.Load() != 0 {
		t.Fatal("hashed without a slot")
	}
}

func TestCorruptHashParametersRefused(t *testing.T) {
	for _, enc := range []string{
		"$argon2id$v=19$m=4194304,t=2,p=1$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U",
		"$argon2id$v=19$m=19456,t=1000,p=1$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U",
		"$argon2id$v=19$m=19456,t=2,p=0$c2FsdHNhbHRzYWx0c2FsdA$a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2V5a2U",
	} {
		if ok, err := VerifyPassword(enc, "x"); ok || !errors.Is(err, errBadHash) {
			t.Errorf("%s: %v %v", enc, ok, err)
		}
	}
}
