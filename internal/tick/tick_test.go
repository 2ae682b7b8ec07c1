package tick

import (
	"context"
	"sync/atomic"
	"testing"
	"time"
)

func TestEveryUntilCancelled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var n atomic.Int32
	done := make(chan struct{})
	go func() {
		Every(ctx, time.Millisecond, func() {
			if n.Add(1) == 3 {
				cancel()
			}
		})
		close(done)
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Every did not return after its context ended")
	}
	if got := n.Load(); got < 3 {
		t.Fatalf("f ran %d times before the end, want 3 or more", got)
	}
}

func TestEveryNotAtOnce(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	Every(ctx, time.Hour, func() { t.Fatal("f ran before the first tick") })
}

// A wake calls f after the settling time, once for the wakes that came
// meanwhile, long before the interval.
func TestEveryOrWakes(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wake := make(chan struct{}, 1)
	calls := make(chan time.Time, 10)
	go EveryOr(ctx, time.Hour, wake, 20*time.Millisecond, func() { t.Error("the interval's f on a wake") }, func() { calls <- time.Now() })
	woke := time.Now()
	wake <- struct{}{}
	time.Sleep(5 * time.Millisecond)
	wake <- struct{}{} // while settling
	select {
	case at := <-calls:
		if at.Sub(woke) < 20*time.Millisecond {
			t.Fatalf("f after %v, before the settling time", at.Sub(woke))
		}
	case <-time.After(5 * time.Second):
		t.Fatal("a wake did not call f")
	}
	select {
	case <-calls:
		t.Fatal("two calls for one settled burst")
	case <-time.After(100 * time.Millisecond):
	}
}
