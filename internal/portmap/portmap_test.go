package portmap

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/lxcgate/lxcgate/internal/mapping"
	"github.com/lxcgate/lxcgate/internal/ref"
)

// fakeBackend keeps rules in memory, as the chains would.
type fakeBackend struct {
	mu      sync.Mutex
	rules   []Rule
	applies int
	fail    error
}

func (f *fakeBackend) Ensure() error { return nil }

func (f *fakeBackend) Rules() ([]Rule, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]Rule(nil), f.rules...), nil
}

func (f *fakeBackend) Apply(del, add []Rule) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail != nil {
		return f.fail
	}
	f.applies++
	for _, d := range del {
		for i, r := range f.rules {
			if r == d {
				f.rules = append(f.rules[:i], f.rules[i+1:]...)
				break
			}
		}
	}
	f.rules = append(f.rules, add...)
	return nil
}

func (f *fakeBackend) Flush() error { f.rules = nil; return nil }

func (f *fakeBackend) comments() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, r := range f.rules {
		out = append(out, r.Comment)
	}
	sort.Strings(out)
	return out
}

type fakeSource struct {
	mu sync.Mutex
	m  []mapping.Mapping
}

func (s *fakeSource) set(m ...mapping.Mapping) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.m = m
}

func (s *fakeSource) AllMappings(context.Context) (mapping.Desired, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]mapping.Mapping, 0, len(s.m))
	var pending []ref.Ref
	for _, m := range s.m {
		if m.IP == "" {
			pending = append(pending, m.Ref())
		} else {
			out = append(out, m)
		}
	}
	return mapping.Desired{Mappings: out, Pending: pending}, nil
}

func (s *fakeSource) Mappings(_ context.Context, r ref.Ref) ([]mapping.Mapping, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []mapping.Mapping
	for _, m := range s.m {
		if m.IP != "" && m.Ref() == r {
			out = append(out, m)
		}
	}
	return out, nil
}

var aliceDev = ref.Ref{Owner: "alice", Name: "dev"}

func newMapper() (*Mapper, *fakeBackend, *fakeSource) {
	b, src := &fakeBackend{}, &fakeSource{}
	return New(b, src, slog.New(slog.NewTextHandler(io.Discard, nil))), b, src
}

var (
	dev = mapping.Mapping{Owner: "alice", Name: "dev", Service: "ssh", HostPort: 20000, IP: "10.166.0.5", ContainerPort: 22}
	web = mapping.Mapping{Owner: "bob", Name: "web", Service: "ssh", HostPort: 20001, IP: "10.166.0.6", ContainerPort: 22}
)

func TestSyncAppliesOnlyTheDifference(t *testing.T) {
	ctx := context.Background()
	m, b, src := newMapper()
	src.set(dev, web)
	if res, err := m.Sync(ctx); err != nil || res.Added != 2 || res.Removed != 0 {
		t.Fatalf("first sync: %+v %v", res, err)
	}
	if res, _ := m.Sync(ctx); res.Added+res.Removed != 0 || b.applies != 1 {
		t.Fatalf("nothing to change, yet %+v (%d applies)", res, b.applies)
	}
	// The address changes after a restart: the rules follow it.
	moved := dev
	moved.IP = "10.166.0.9"
	src.set(moved, web)
	if res, _ := m.SyncOne(ctx, aliceDev); res.Added != 1 || res.Removed != 1 {
		t.Fatalf("moved: %+v", res)
	}
	// Stopped: its rules go, bob's stay.
	src.set(web)
	m.SyncOne(ctx, aliceDev)
	got := b.comments()
	if len(got) != 1 || got[0] != commentOf(web, "dnat") {
		t.Fatalf("after stop: %v", got)
	}
}

func TestSyncRepairsChangesBehindItsBack(t *testing.T) {
	ctx := context.Background()
	m, b, src := newMapper()
	src.set(dev)
	m.Sync(ctx)
	src.set(dev, web)
	m.Sync(ctx)
	// Someone deletes one of ours and adds a rule of their own, and a
	// duplicate of ours, to lxcgate's chain.
	b.rules = append(b.rules[1:], Rule{Table: "nat", Comment: "", Spec: "-p tcp --dport 1 -j ACCEPT"}, b.rules[1])
	res, err := m.Sync(ctx)
	if err != nil || res.Added != 1 || res.Removed != 2 {
		t.Fatalf("repair: %+v %v", res, err)
	}
	want := []string{commentOf(dev, "dnat"), commentOf(web, "dnat")}
	sort.Strings(want)
	if fmt.Sprint(b.comments()) != fmt.Sprint(want) {
		t.Fatalf("chains: %v", b.comments())
	}
}

func TestFailedApplyIsRetriedFromTheChains(t *testing.T) {
	ctx := context.Background()
	m, b, src := newMapper()
	src.set(dev)
	b.fail = errors.New("iptables: lock held")
	if _, err := m.SyncOne(ctx, aliceDev); err == nil {
		t.Fatal("failure not reported")
	}
	b.fail = nil
	if res, err := m.SyncOne(ctx, aliceDev); err != nil || res.Added != 1 {
		t.Fatalf("retry: %+v %v", res, err)
	}
}

func TestParseComment(t *testing.T) {
	got, kind, err := ParseComment(commentOf(dev, "dnat"))
	if err != nil || got != dev || kind != "dnat" {
		t.Fatalf("%+v %s %v", got, kind, err)
	}
	if _, _, err := ParseComment("generated for LXD network lxdbr0"); err == nil {
		t.Fatal("parsed a foreign comment")
	}
}

func TestJumpsMatchOnlyTheHost(t *testing.T) {
	any := (&IPTables{nat: "LXCGATE-DNAT", filter: "LXCGATE-FWD"}).jumps()
	if len(any) != 3 || strings.Join(any[0].spec, " ") != "-m addrtype --dst-type LOCAL -j LXCGATE-DNAT" ||
		strings.Join(any[1].spec, " ") != "! -d 127.0.0.0/8 -m addrtype --dst-type LOCAL -j LXCGATE-DNAT" {
		t.Fatalf("local jumps: %+v", any)
	}
	narrowed := (&IPTables{nat: "LXCGATE-DNAT", filter: "LXCGATE-FWD", addrs: []string{"192.0.2.10"}}).jumps()
	if len(narrowed) != 3 || strings.Join(narrowed[0].spec, " ") != "-d 192.0.2.10/32 -j LXCGATE-DNAT" ||
		narrowed[2].chain != "FORWARD" {
		t.Fatalf("narrowed jumps: %+v", narrowed)
	}
}

var (
	_ Backend = (*fakeBackend)(nil)
	_ Source  = (*fakeSource)(nil)
)

// genBackend says whether the chains are unchanged since it last read or
// wrote them, as IPTables does from the ruleset generation.
type genBackend struct {
	fakeBackend
	unchanged bool
	reads     int
}

func (g *genBackend) Rules() ([]Rule, error) { g.reads++; return g.fakeBackend.Rules() }
func (g *genBackend) Unchanged() bool        { return g.unchanged }

// A reconcile reads the chains only when something may have changed them.
func TestSyncSkipsReadingUnchangedChains(t *testing.T) {
	ctx := context.Background()
	b, src := &genBackend{}, &fakeSource{}
	m := New(b, src, quiet())
	src.set(dev)
	b.unchanged = true // not trusted before a first read
	if res, err := m.Sync(ctx); err != nil || res.Added != 1 || b.reads != 1 {
		t.Fatalf("first: %+v %v, %d reads", res, err, b.reads)
	}
	src.set(dev, web)
	if res, err := m.Sync(ctx); err != nil || res.Added != 1 || b.reads != 1 {
		t.Fatalf("unchanged chains: %+v %v, %d reads", res, err, b.reads)
	}
	// Behind its back: the generation moved, the chains are read again.
	b.unchanged = false
	b.rules = b.rules[1:]
	if res, err := m.Sync(ctx); err != nil || res.Added != 1 || b.reads != 2 {
		t.Fatalf("changed chains: %+v %v, %d reads", res, err, b.reads)
	}
	// A failed write is never covered by "unchanged".
	b.unchanged = true
	b.fail = errors.New("iptables-restore: exit 1")
	src.set(dev)
	if _, err := m.Sync(ctx); err == nil {
		t.Fatal("failure not reported")
	}
	b.fail = nil
	if _, err := m.Sync(ctx); err != nil || b.reads != 3 {
		t.Fatalf("after a failure: %v, %d reads", err, b.reads)
	}
	if got := b.comments(); len(got) != 1 || got[0] != commentOf(dev, "dnat") {
		t.Fatalf("chains: %v", got)
	}
}
