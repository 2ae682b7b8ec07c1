package containers

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/lxcgate/lxcgate/internal/store"
)

// Regression: two gateways on one database handed out the same routed
// address. Each kept its creates' addresses in its own memory, and LXD
// does not check routed NICs without a parent: while gateway 1's create
// was between placement and LXD, gateway 2 saw the address free.
func TestRoutedAddressTwoGateways(t *testing.T) {
	ctx := context.Background()
	s1, fake := newCluster(t)
	s1.conf().Quota.CPU, s1.conf().Quota.Memory = 10, 10<<30
	s2 := New(s1.db, fake, *s1.conf(), slog.New(slog.NewTextHandler(io.Discard, nil)))
	var inner error
	first := CreateRequest{Name: "one", Host: "member1", Progress: func(line string) {
		if strings.HasPrefix(line, "Placed on") && inner == nil {
			// Gateway 1 has chosen its address; gateway 2 creates now.
			_, inner = s2.Create(ctx, "bob", CreateRequest{Name: "two", Host: "member1"})
			if inner == nil {
				inner = errDone
			}
		}
	}}
	if _, err := s1.Create(ctx, "alice", first); err != nil {
		t.Fatal(err)
	}
	if inner != errDone {
		t.Fatalf("gateway 2's create: %v", inner)
	}
	a, b := fake.Instances["lxcgate-alice/one"], fake.Instances["lxcgate-bob/two"]
	if a == nil || b == nil || a.Routed == "" || a.Routed == b.Routed {
		t.Fatalf("two gateways gave out %v and %v", a, b)
	}
	// Deleting a container frees its address for the next create.
	if err := s1.Delete(ctx, "bob", "two", true); err != nil {
		t.Fatal(err)
	}
	c, err := s2.Create(ctx, "bob", CreateRequest{Name: "three", Host: "member1"})
	if err != nil || fake.Instances["lxcgate-bob/three"].Routed != b.Routed {
		t.Fatalf("after a delete: %+v %v, want %s again", c, err, b.Routed)
	}
}

var errDone = errorString("done")

type errorString string

func (e errorString) Error() string { return string(e) }

// A create that fails gives its address back, and one that died between
// its claim and its reservation does not hold it for ever: the next
// allocation in the subnet, or a reconcile, drops a stale claim.
func TestRoutedAddressFreedOnFailureAndCrash(t *testing.T) {
	ctx := context.Background()
	s, fake := newCluster(t)
	if _, err := s.Create(ctx, "alice", CreateRequest{Name: "bad", Host: "member1", Image: "no-such"}); err == nil {
		t.Fatal("create of a missing image succeeded")
	}
	if claims, _ := s.st.Routed.List(ctx, s.db); len(claims) != 0 {
		t.Fatalf("a failed create kept %+v", claims)
	}
	// A crash after the claim: the claim is there, unbound, and old.
	uid, _ := s.st.Users.ID(ctx, s.db, "alice")
	m := fake.Cluster[0]
	if err := s.st.Routed.Claim(ctx, s.db, store.RoutedAddress{Subnet: m.Subnet, Address: "10.200.1.130", UserID: uid,
		Name: "lost", ClaimedAt: time.Now().Add(-time.Hour)}); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Create(ctx, "alice", CreateRequest{Name: "ok", Host: "member1"}); err != nil {
		t.Fatal(err)
	}
	if got := fake.Instances["lxcgate-alice/ok"].Routed; got != "10.200.1.130" {
		t.Fatalf("the stale claim still holds the address: got %s", got)
	}
	// Reconcile adopts an address LXD holds without a claim (made before
	// the claims were recorded) and drops a claim LXD contradicts.
	fake.Instances["lxcgate-alice/ok"].Routed = "10.200.1.140"
	if err := s.Reconcile(ctx); err != nil {
		t.Fatal(err)
	}
	claims, _ := s.st.Routed.List(ctx, s.db)
	if len(claims) != 1 || claims[0].Address != "10.200.1.140" || claims[0].Name != "ok" || claims[0].ContainerID == 0 {
		t.Fatalf("after reconcile: %+v", claims)
	}
}

// A move claims the address in the new member's subnet and gives the old
// one back; the claims always name what the NIC holds.
func TestRoutedAddressFollowsMove(t *testing.T) {
	ctx := context.Background()
	s, fake := newCluster(t)
	if _, err := s.Create(ctx, "alice", CreateRequest{Name: "a", Host: "member1"}); err != nil {
		t.Fatal(err)
	}
	if err := s.Move(ctx, "alice", "a", "member2"); err != nil {
		t.Fatal(err)
	}
	claims, err := s.st.Routed.List(ctx, s.db)
	want := fake.Instances["lxcgate-alice/a"].Routed
	if err != nil || len(claims) != 1 || claims[0].Address != want || claims[0].Subnet != "10.200.2.128/25" || claims[0].ContainerID == 0 {
		t.Fatalf("claims after the move: %+v %v (NIC %s)", claims, err, want)
	}
	// The old address is free again: the next create on member1 takes it.
	if _, err := s.Create(ctx, "bob", CreateRequest{Name: "b", Host: "member1"}); err != nil {
		t.Fatal(err)
	}
	if got := fake.Instances["lxcgate-bob/b"].Routed; got != "10.200.1.130" {
		t.Fatalf("member1's first address after the move: %s", got)
	}
}
