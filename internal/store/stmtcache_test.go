package store_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/lxcgate/lxcgate/internal/store"
	"github.com/lxcgate/lxcgate/internal/store/storetest"
)

func TestPrepared(t *testing.T) {
	ctx := context.Background()
	db := storetest.Open(t)
	p := store.NewPrepared(db)
	defer p.Close()
	a := store.New().Audit
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Go(func() {
			for i := range 20 {
				if err := a.Insert(ctx, p, store.AuditEvent{At: time.Now(), Kind: "command", User: fmt.Sprint("u", w), Detail: fmt.Sprint(i)}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	wg.Wait()
	got, err := a.Query(ctx, p, store.AuditFilter{User: "u3"})
	if err != nil || len(got) != 20 {
		t.Fatalf("query through Prepared: %d rows, %v", len(got), err)
	}
	// Inside a transaction, and rolled back with it.
	tx, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Insert(ctx, p.InTx(tx), store.AuditEvent{At: time.Now(), Kind: "command", User: "tx"}); err != nil {
		t.Fatal(err)
	}
	tx.Rollback()
	if got, _ := a.Query(ctx, p, store.AuditFilter{User: "tx"}); len(got) != 0 {
		t.Fatalf("a rolled-back row is there: %+v", got)
	}
	// Past the bound, queries still run (unprepared), and errors still say why.
	for i := range 100 {
		var n int
		if err := p.QueryRowContext(ctx, fmt.Sprintf(`SELECT %d`, i)).Scan(&n); err != nil || n != i {
			t.Fatalf("query %d: %d, %v", i, n, err)
		}
	}
	if _, err := p.ExecContext(ctx, `INSERT INTO nowhere VALUES (1)`); err == nil {
		t.Fatal("an insert into a missing table succeeded")
	}
	if err := store.InsertAudit(ctx, p, []store.AuditEvent{{At: time.Now(), Kind: "login", User: "many"}, {At: time.Now(), Kind: "login", User: "many"}}); err != nil {
		t.Fatal(err)
	}
	if got, _ := a.Query(ctx, p, store.AuditFilter{User: "many"}); len(got) != 2 {
		t.Fatalf("InsertAudit: %d rows", len(got))
	}
}
