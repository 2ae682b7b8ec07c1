package throttle

import (
	"testing"
	"time"
)

func TestRate(t *testing.T) {
	now := time.Unix(0, 0)
	l := NewRate(2, time.Minute, func() time.Time { return now })
	if !l.Take("a") || !l.Take("a") || l.Take("a") || !l.Empty("a") || !l.Take("b") {
		t.Fatal("burst of 2")
	}
	now = now.Add(30 * time.Second)
	if !l.Take("a") || l.Take("a") {
		t.Fatal("refill of 1 in half a period")
	}
}
