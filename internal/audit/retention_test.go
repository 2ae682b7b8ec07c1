package audit

import (
	"context"
	"fmt"
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
		rows, err := l.Query(ctx, Filter{})
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

// Scenario: a flood fills the disk through the audit table faster than
// age-based retention empties it. With a cap on rows, the background
// pruning keeps the newest rows only.
func TestCapKeepsNewestRows(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	db := storetest.Open(t)
	l := New(db, slog.New(slog.NewTextHandler(io.Discard, nil)))
	rows := make([]store.AuditEvent, 0, 5000)
	for i := range 5000 {
		rows = append(rows, store.AuditEvent{At: time.Now(), Kind: KindWeb, Detail: fmt.Sprint("row ", i)})
	}
	if err := store.InsertAudit(ctx, db, rows); err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() { l.Cap(ctx, 100, time.Hour); close(done) }()
	deadline := time.Now().Add(5 * time.Second)
	for {
		var total int
		var oldest string
		if err := db.QueryRow(`SELECT count(*) FROM audit`).Scan(&total); err != nil {
			t.Fatal(err)
		}
		db.QueryRow(`SELECT detail FROM audit ORDER BY id LIMIT 1`).Scan(&oldest)
		if total == 100 {
			if oldest != "row 4900" {
				t.Fatalf("oldest kept row %q, want row 4900", oldest)
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d rows, want 100", total)
		}
		time.Sleep(10 * time.Millisecond)
	}
	cancel()
	<-done
}
