package audit

import (
	"context"
	"io"
	"log/slog"
	"testing"
	"time"

	"github.com/lxcgate/lxcgate/internal/store"
	"github.com/lxcgate/lxcgate/internal/store/storetest"
)

func TestRetainPrunesOldRows(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	db := storetest.Open(t)
	l := New(db, slog.New(slog.NewTextHandler(io.Discard, nil)))
	tbl := store.New().Audit
	tbl.Insert(ctx, db, store.AuditEvent{At: time.Now().Add(-200 * 24 * time.Hour), Kind: KindLogin, User: "old"})
	l.Record(ctx, Event{Kind: KindLogin, User: "new", OK: true})
	done := make(chan struct{})
	go func() { l.Retain(ctx, 180*24*time.Hour, time.Hour); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		rows, err := l.Query(ctx, store.AuditFilter{})
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) == 1 && rows[0].User == "new" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("old row not pruned: %+v", rows)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
}
