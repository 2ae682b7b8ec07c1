package store_test

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/lxcgate/lxcgate/internal/store"
	"github.com/lxcgate/lxcgate/internal/store/storetest"
)

var st = store.New()

func addUser(t *testing.T, q store.Querier, name string) store.UserID {
	t.Helper()
	id, err := st.Users.Insert(context.Background(), q, name, "user", "", time.Unix(100, 0))
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func addContainer(t *testing.T, q store.Querier, uid store.UserID, name string) store.ContainerID {
	t.Helper()
	id, err := st.Containers.Insert(context.Background(), q, store.Container{UserID: uid, Name: name, State: store.StateReady})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

func TestTxCommitsOrLeavesNothing(t *testing.T) {
	ctx := context.Background()
	db := storetest.Open(t)
	boom := errors.New("boom")
	err := store.Tx(ctx, db, func(q store.Querier) error {
		addUser(t, q, "alice")
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("fn's error: %v", err)
	}
	if _, err := st.Users.Get(ctx, db, "alice"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("a failed transaction left a user: %v", err)
	}
	func() {
		defer func() {
			if recover() == nil {
				t.Fatal("panic swallowed")
			}
		}()
		_ = store.Tx(ctx, db, func(q store.Querier) error {
			addUser(t, q, "alice")
			panic("boom")
		})
	}()
	// The panic released the write lock: the next transaction commits.
	if err := store.Tx(ctx, db, func(q store.Querier) error { addUser(t, q, "bob"); return nil }); err != nil {
		t.Fatal(err)
	}
	us, err := st.Users.List(ctx, db)
	if err != nil || len(us) != 1 || us[0].Name != "bob" {
		t.Fatalf("after commit: %+v %v", us, err)
	}
}

var errFull = errors.New("full")

// Twenty sessions race for one slot, each checking the use and reserving
// in one transaction: exactly one gets it, and nobody fails for a lock.
func TestTxRaceForTheLastSlot(t *testing.T) {
	ctx := context.Background()
	db := storetest.Open(t)
	uid := addUser(t, db, "alice")
	const racers = 20
	var wg sync.WaitGroup
	errs := make(chan error, racers)
	start := make(chan struct{})
	for i := 0; i < racers; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			<-start
			errs <- store.Tx(ctx, db, func(q store.Querier) error {
				u, err := st.Containers.Usage(ctx, q, uid)
				if err != nil {
					return err
				}
				if u.Containers >= 1 {
					return errFull
				}
				time.Sleep(time.Millisecond) // widen the window between check and insert
				_, err = st.Containers.Insert(ctx, q, store.Container{UserID: uid, Name: fmt.Sprintf("c%d", i), State: store.StateCreating})
				return err
			})
		}(i)
	}
	close(start)
	wg.Wait()
	close(errs)
	won := 0
	for err := range errs {
		switch {
		case err == nil:
			won++
		case !errors.Is(err, errFull):
			t.Errorf("unexpected: %v", err)
		}
	}
	u, err := st.Containers.Usage(ctx, db, uid)
	if won != 1 || err != nil || u.Containers != 1 {
		t.Fatalf("%d won, %d rows (%v)", won, u.Containers, err)
	}
}

// A database that stays locked beyond busy_timeout is tried again.
func TestTxRetriesWhileBusy(t *testing.T) {
	ctx := context.Background()
	file := filepath.Join(t.TempDir(), "db.sqlite")
	db := storetest.OpenFile(t, file)
	impatient, err := sql.Open("sqlite", "file:"+file+"?_pragma=busy_timeout(0)&_txlock=immediate")
	if err != nil {
		t.Fatal(err)
	}
	defer impatient.Close()
	holder, err := db.BeginTx(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	addUser(t, holder, "alice")
	go func() {
		time.Sleep(30 * time.Millisecond)
		if err := holder.Commit(); err != nil {
			t.Error(err)
		}
	}()
	err = store.Tx(ctx, impatient, func(q store.Querier) error {
		addUser(t, q, "bob")
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n, err := st.Users.List(ctx, db); err != nil || len(n) != 2 {
		t.Fatalf("users: %+v %v", n, err)
	}
}
