package audit

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/lxcgate/lxcgate/internal/store"
	"github.com/lxcgate/lxcgate/internal/store/storetest"
)

func countRows(t *testing.T, l *Log, where string, args ...any) int {
	t.Helper()
	var n int
	if err := l.db.QueryRow(`SELECT count(*) FROM audit WHERE `+where, args...).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// Concurrent Records each return with their row in the table, every row
// once, however the rows were grouped.
func TestRecordConcurrent(t *testing.T) {
	l := New(storetest.Open(t), slog.New(slog.NewTextHandler(io.Discard, nil)))
	const workers, each = 16, 40
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				detail := fmt.Sprintf("w%d-%d", w, i)
				if i%2 == 0 {
					l.Record(context.Background(), Event{Kind: KindCommand, User: "alice", Detail: detail, OK: true})
				} else {
					l.RecordSoon(context.Background(), Event{Kind: KindLogin, User: "alice", Detail: detail, OK: true})
					l.Sync()
				}
				if n := countRows(t, l, `detail = ?`, detail); n != 1 {
					t.Errorf("%s: %d rows right after it was recorded", detail, n)
				}
			}
		})
	}
	wg.Wait()
	if n := countRows(t, l, `1`); n != workers*each {
		t.Fatalf("%d rows, want %d", n, workers*each)
	}
}

// A row from RecordSoon reaches the table by itself within flushDelay, and
// at once with a Sync or a Query.
func TestRecordSoon(t *testing.T) {
	l := New(storetest.Open(t), slog.New(slog.NewTextHandler(io.Discard, nil)))
	l.RecordSoon(context.Background(), Event{Kind: KindLogin, User: "bob", Detail: "timer", OK: true})
	deadline := time.Now().Add(time.Second)
	for countRows(t, l, `detail = 'timer'`) == 0 {
		if time.Now().After(deadline) {
			t.Fatal("a RecordSoon row never reached the table")
		}
		time.Sleep(time.Millisecond)
	}
	l.RecordSoon(context.Background(), Event{Kind: KindLogin, User: "bob", Detail: "queried", OK: true})
	got, err := l.Query(context.Background(), Filter{User: "bob"})
	if err != nil || len(got) != 2 || got[0].Detail != "queried" {
		t.Fatalf("Query after RecordSoon: %+v, %v", got, err)
	}
	for i := range 3 * store.AuditBatchMax {
		l.Soon().Record(context.Background(), Event{Kind: KindCommand, User: "carol", Detail: fmt.Sprint(i)})
	}
	l.Sync()
	if n := countRows(t, l, `user = 'carol'`); n != 3*store.AuditBatchMax {
		t.Fatalf("%d rows after Sync, want %d", n, 3*store.AuditBatchMax)
	}
	l.Sync() // nothing pending: returns at once
}

// A batch longer than one statement's worth goes in several, all rows once.
func TestInsertLongBatch(t *testing.T) {
	db := storetest.Open(t)
	l := New(db, slog.New(slog.NewTextHandler(io.Discard, nil)))
	rows := make([]store.AuditEvent, store.AuditBatchMax+3)
	for i := range rows {
		rows[i] = store.AuditEvent{At: time.Now(), Kind: KindCommand, User: "dave", Detail: fmt.Sprint(i)}
	}
	l.insert(rows)
	if n := countRows(t, l, `user = 'dave'`); n != len(rows) {
		t.Fatalf("%d rows, want %d", n, len(rows))
	}
}
