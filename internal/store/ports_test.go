package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"

	"github.com/lxcgate/lxcgate/internal/store"
	"github.com/lxcgate/lxcgate/internal/store/storetest"
)

func TestPorts(t *testing.T) {
	ctx := context.Background()
	db := storetest.Open(t)
	alice := addUser(t, db, "alice")
	dev, box := addContainer(t, db, alice, "dev"), addContainer(t, db, alice, "box")
	for _, tc := range []struct {
		p    store.Port
		want error
	}{
		{store.Port{ContainerID: dev, Service: "ssh", ContainerPort: 22, HostPort: 20000}, nil},
		{store.Port{ContainerID: dev, Service: "app", ContainerPort: 5000, HostPort: 20001, UserAdded: true}, nil},
		{store.Port{ContainerID: box, Service: "ssh", ContainerPort: 22, HostPort: 20002}, nil},
		{store.Port{ContainerID: box, Service: "web", ContainerPort: 80, HostPort: 20000}, store.ErrUnique}, // host port taken
		{store.Port{ContainerID: dev, Service: "ssh", ContainerPort: 2222, HostPort: 20003}, store.ErrUnique},
		{store.Port{ContainerID: 99, Service: "ssh", ContainerPort: 22, HostPort: 20004}, store.ErrForeignKey},
		{store.Port{ContainerID: box, Service: "bad", ContainerPort: 0, HostPort: 20005}, store.ErrConstraint},
		// Web apps take no host port, any number of them.
		{store.Port{ContainerID: dev, Service: "jupyter", ContainerPort: 8888, UserAdded: true, Web: true}, nil},
		{store.Port{ContainerID: box, Service: "jupyter", ContainerPort: 8888, Web: true}, nil},
		{store.Port{ContainerID: box, Service: "jupyter", ContainerPort: 8889, Web: true}, store.ErrUnique},
	} {
		if err := st.Ports.Insert(ctx, db, tc.p); !errors.Is(err, tc.want) || (tc.want == nil && err != nil) {
			t.Errorf("insert %+v: %v, want %v", tc.p, err, tc.want)
		}
	}
	used, err := st.Ports.HostPorts(ctx, db)
	if err != nil || len(used) != 3 || !used[20000] || !used[20001] || !used[20002] {
		t.Fatalf("host ports: %v %v", used, err)
	}
	ps, err := st.Ports.List(ctx, db, dev)
	if err != nil || fmt.Sprint(ps) != fmt.Sprintf("[{%d app 5000 20001 true false} {%d jupyter 8888 0 true true} {%d ssh 22 20000 false false}]", dev, dev, dev) {
		t.Fatalf("list dev: %v %v", ps, err)
	}
	if ps, err := st.Ports.List(ctx, db); err != nil || len(ps) != 0 {
		t.Fatalf("list of nothing: %v %v", ps, err)
	}
	// Beyond one IN list the table is read whole and filtered.
	many := []store.ContainerID{box}
	for i := 0; i < 600; i++ {
		many = append(many, store.ContainerID(1000+i))
	}
	if ps, err := st.Ports.List(ctx, db, many...); err != nil || len(ps) != 2 || ps[0].ContainerID != box {
		t.Fatalf("list of many: %v %v", ps, err)
	}
	if err := st.Ports.DeleteAdded(ctx, db, dev, "ssh"); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("withdrew a configured service: %v", err)
	}
	if err := st.Ports.DeleteAdded(ctx, db, dev, "app"); err != nil {
		t.Fatal(err)
	}
	// A container's ports go with it.
	if err := st.Containers.Delete(ctx, db, dev); err != nil {
		t.Fatal(err)
	}
	if used, err := st.Ports.HostPorts(ctx, db); err != nil || len(used) != 1 || !used[20002] {
		t.Fatalf("after delete: %v %v", used, err)
	}
}

func TestPins(t *testing.T) {
	ctx := context.Background()
	db := storetest.Open(t)
	alice := addUser(t, db, "alice")
	dev, box := addContainer(t, db, alice, "dev"), addContainer(t, db, alice, "box")
	for _, step := range []struct {
		add  bool
		id   store.ContainerID
		snap string
	}{{true, dev, "s2"}, {true, dev, "s1"}, {true, dev, "s1"}, {true, box, "s1"}, {false, dev, "s2"}, {false, dev, "never"}} {
		f := st.Pins.Delete
		if step.add {
			f = st.Pins.Add
		}
		if err := f(ctx, db, step.id, step.snap); err != nil {
			t.Fatalf("%+v: %v", step, err)
		}
	}
	if err := st.Pins.Add(ctx, db, 99, "s1"); !errors.Is(err, store.ErrForeignKey) {
		t.Fatalf("pin of no container: %v", err)
	}
	for id, want := range map[store.ContainerID]string{dev: "[s1]", box: "[s1]", 99: "[]"} {
		if got, err := st.Pins.List(ctx, db, id); err != nil || fmt.Sprint(got) != want {
			t.Errorf("pins of %d: %v %v, want %s", id, got, err, want)
		}
	}
}

func TestContainerKeys(t *testing.T) {
	ctx := context.Background()
	db := storetest.Open(t)
	alice := addUser(t, db, "alice")
	box := addContainer(t, db, alice, "box")
	for _, k := range []store.ContainerKey{
		{ContainerID: box, Login: "ubuntu", Fingerprint: "SHA256:1", Comment: "c1"},
		{ContainerID: box, Login: "ubuntu", Fingerprint: "SHA256:2", Comment: "c2"},
		{ContainerID: box, Login: "ubuntu", Fingerprint: "SHA256:1", Comment: "again"},
		{ContainerID: box, Login: "root", Fingerprint: "SHA256:1", Comment: "root's"},
	} {
		if err := st.ContainerKeys.Add(ctx, db, k); err != nil {
			t.Fatalf("add %+v: %v", k, err)
		}
	}
	if err := st.ContainerKeys.Add(ctx, db, store.ContainerKey{ContainerID: 99, Login: "x", Fingerprint: "f"}); !errors.Is(err, store.ErrForeignKey) {
		t.Fatalf("key of no container: %v", err)
	}
	if err := st.ContainerKeys.Delete(ctx, db, box, "ubuntu", "SHA256:1"); err != nil {
		t.Fatal(err)
	}
	if err := st.ContainerKeys.Delete(ctx, db, box, "ubuntu", "SHA256:none"); err != nil {
		t.Fatal(err)
	}
	for login, want := range map[string]string{"ubuntu": "[SHA256:2]", "root": "[SHA256:1]", "nobody": "[]"} {
		if got, err := st.ContainerKeys.Fingerprints(ctx, db, box, login); err != nil || fmt.Sprint(got) != want {
			t.Errorf("%s: %v %v, want %s", login, got, err, want)
		}
	}
}
