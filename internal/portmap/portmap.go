// Package portmap publishes container ports on host ports with iptables
// DNAT rules kept in lxcgate's own chains: a dispatch chain jumping on the
// destination port to one chain per block of 64 host ports, which holds
// the DNAT rules of those ports. Every rule carries a comment that encodes
// the whole mapping, so the actual state read back from the chains
// compares with the desired state by comment alone, and a reconcile
// applies only the difference: additions in one batch, deletions in one.
// On the nft backend the ruleset generation tells a reconcile whether it
// must read the chains at all.
package portmap

import (
	"context"
	"errors"
	"fmt"
	"hash/maphash"
	"log/slog"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lxcgate/lxcgate/internal/mapping"
	"github.com/lxcgate/lxcgate/internal/ref"
	"github.com/lxcgate/lxcgate/internal/tick"
)

// DefaultChainPrefix names lxcgate's chains: PREFIX-DNAT and its blocks
// PREFIX-D<n> (nat), and PREFIX-FWD (filter). Nothing outside them is
// written, but for the jumps. A second gateway on one host (a test's, say) needs a prefix of its own,
// or the two undo each other's rules.
const DefaultChainPrefix = "LXCGATE"

const commentPrefix = "lxcgate:"

// commentOf is the comment that identifies m's rule of this kind.
func commentOf(m mapping.Mapping, kind string) string {
	return string(appendComment(make([]byte, 0, 64), m, kind))
}

// appendComment appends commentOf(m, kind) to b. Built by hand: a
// reconcile formats one per mapping, 30,000 at scale.
func appendComment(b []byte, m mapping.Mapping, kind string) []byte {
	b = append(b, commentPrefix...)
	b = append(b, m.Owner...)
	b = append(b, '/')
	b = append(b, m.Name...)
	b = append(b, ':')
	b = append(b, m.Service...)
	b = append(b, ':')
	b = strconv.AppendInt(b, int64(m.HostPort), 10)
	b = append(b, ':')
	b = append(b, m.IP...)
	b = append(b, ':')
	b = strconv.AppendInt(b, int64(m.ContainerPort), 10)
	b = append(b, ':')
	b = append(b, kind...)
	return b
}

// Rule is one rule in a chain: the comment identifies it, the spec is what
// iptables prints after "-A CHAIN". A rule read back from the chains may
// carry where the backend found it instead of (or beside) its spec: the
// chain and the kernel's handle.
type Rule struct {
	Table   string
	Comment string
	Spec    string
	Chain   string
	Handle  uint64
}

// rulesOf returns a mapping's rules: its DNAT. (The FORWARD accept is one
// static rule for the whole port range; see IPTables.Ensure.)
func rulesOf(m mapping.Mapping) []Rule {
	dnat := commentOf(m, "dnat")
	// As fmt would: `-p tcp -m tcp --dport %d -m comment --comment "%s"
	// -j DNAT --to-destination %s:%d`, at a third of the cost.
	b := make([]byte, 0, 128+len(dnat))
	b = append(b, "-p tcp -m tcp --dport "...)
	b = strconv.AppendInt(b, int64(m.HostPort), 10)
	b = append(b, ` -m comment --comment "`...)
	b = append(b, dnat...)
	b = append(b, `" -j DNAT --to-destination `...)
	b = append(b, m.IP...)
	b = append(b, ':')
	b = strconv.AppendInt(b, int64(m.ContainerPort), 10)
	return []Rule{{Table: "nat", Comment: dnat, Spec: string(b)}}
}

// Backend reads and writes lxcgate's chains.
type Backend interface {
	// Ensure creates the chains, the jumps into them and the static
	// FORWARD accept, repairing any of them.
	Ensure() error
	// Rules lists the per-mapping rules now in lxcgate's chains; anything
	// else found there comes without a comment, to be deleted.
	Rules() ([]Rule, error)
	// Apply adds rules, then deletes rules: each of the two in one
	// transaction.
	Apply(del, add []Rule) error
	// Flush removes the chains and the jumps.
	Flush() error
}

// Source gives the desired mappings: those of running containers that have
// an address, and the running containers without one yet.
type Source interface {
	// AllMappings covers every container.
	AllMappings(ctx context.Context) (mapping.Desired, error)
	// Mappings covers one container; none when it is gone.
	Mappings(ctx context.Context, r ref.Ref) ([]mapping.Mapping, error)
}

// Unchanged is an optional Backend method: true when the chains are known
// to be as the backend last read or wrote them, so that a reconcile need
// not read them again.
type unchangedBackend interface{ Unchanged() bool }

// Mapper keeps the chains equal to the desired state.
type Mapper struct {
	backend Backend
	src     Source
	log     *slog.Logger

	mu      sync.Mutex                     // one writer at a time: AppendUnique-style check-then-act
	actual  map[string]Rule                // by comment; nil until read from the chains
	byRef   map[string]map[string]struct{} // actual's comments by "owner/name"
	seed    maphash.Seed
	sum     uint64 // of maphash(comment) over actual: the steady pass compares sums
	ensured bool

	// What monitoring reads without waiting on mu, which a reconcile
	// holds while LXD and iptables answer.
	rules   atomic.Int64 // per-mapping rules last known in the chains
	stateMu sync.Mutex
	syncErr error // why the chains may differ from the desired state; nil: in sync
	onSync  func(d time.Duration, err error)
}

var errNotSynced = errors.New("not reconciled yet")

// New returns a Mapper.
func New(b Backend, src Source, log *slog.Logger) *Mapper {
	return &Mapper{backend: b, src: src, log: log.With("component", "portmap"), syncErr: errNotSynced, seed: maphash.MakeSeed()}
}

// OnSync sets a function told how long each full reconcile took and how
// it ended; set it before Run.
func (m *Mapper) OnSync(fn func(d time.Duration, err error)) {
	m.stateMu.Lock()
	defer m.stateMu.Unlock()
	m.onSync = fn
}

// Rules returns how many per-mapping rules lxcgate last knew in its chains.
func (m *Mapper) Rules() int { return int(m.rules.Load()) }

// Synced returns nil when the last full reconcile succeeded and no update
// failed since, else why the chains may be out of step.
func (m *Mapper) Synced() error {
	m.stateMu.Lock()
	defer m.stateMu.Unlock()
	return m.syncErr
}

// noted records a full reconcile's outcome (err nil) or a failed update
// that left the chains in an unknown state.
func (m *Mapper) noted(d time.Duration, err error, full bool) {
	m.stateMu.Lock()
	m.syncErr = err
	fn := m.onSync
	m.stateMu.Unlock()
	if full && fn != nil {
		fn(d, err)
	}
}

// scope says which actual rules a reconcile owns: one container's
// (SyncOne), or all but those of the unknown containers, which are
// neither added nor removed (Sync).
type scope struct {
	one  string          // "owner/name"; "" for all
	skip map[string]bool // by "owner/name", in a full pass
}

func outside(unknown []ref.Ref) scope {
	s := scope{skip: map[string]bool{}}
	for _, r := range unknown {
		s.skip[r.String()] = true
	}
	return s
}

func (s scope) has(refKey string) bool {
	if s.one != "" {
		return refKey == s.one
	}
	return !s.skip[refKey]
}

// refOf is the "owner/name" of an lxcgate comment.
func refOf(comment string) string {
	rest := strings.TrimPrefix(comment, commentPrefix)
	if i := strings.IndexByte(rest, ':'); i >= 0 {
		return rest[:i]
	}
	return rest
}

// put and drop keep actual and its index by container together.
func (m *Mapper) put(r Rule) {
	if _, ok := m.actual[r.Comment]; !ok {
		m.sum += maphash.String(m.seed, r.Comment)
	}
	m.actual[r.Comment] = r
	k := refOf(r.Comment)
	if m.byRef[k] == nil {
		m.byRef[k] = map[string]struct{}{}
	}
	m.byRef[k][r.Comment] = struct{}{}
}

func (m *Mapper) drop(c string) {
	if _, ok := m.actual[c]; ok {
		m.sum -= maphash.String(m.seed, c)
	}
	delete(m.actual, c)
	k := refOf(c)
	if set := m.byRef[k]; set != nil {
		delete(set, c)
		if len(set) == 0 {
			delete(m.byRef, k)
		}
	}
}

// Result counts what a reconcile changed.
type Result struct{ Added, Removed int }

// Sync reconciles every mapping, reading the chains afresh: the safety net
// for changes made behind lxcgate's back.
func (m *Mapper) Sync(ctx context.Context) (res Result, err error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	start := time.Now()
	defer func() { m.noted(time.Since(start), err, true) }()
	// Desired is read under the lock too: two syncs must not apply
	// snapshots taken in one order in the other.
	d, err := m.src.AllMappings(ctx)
	if err != nil {
		return Result{}, err
	}
	var strays []Rule
	if u, ok := m.backend.(unchangedBackend); ok && m.actual != nil && u.Unchanged() {
		// Nothing committed to the ruleset since lxcgate read or wrote it:
		// the chains and jumps are as m.actual says.
		m.ensured = true
	} else if strays, err = m.load(); err != nil {
		return Result{}, err
	}
	return m.apply(d.Mappings, outside(d.Unknown), strays)
}

// SyncOne reconciles one container's mappings (key "owner/name") against
// what lxcgate last wrote, which is fast enough to follow every start and
// stop; Sync corrects anything this misses.
func (m *Mapper) SyncOne(ctx context.Context, r ref.Ref) (Result, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	desired, err := m.src.Mappings(ctx, r)
	if err != nil {
		return Result{}, err
	}
	var strays []Rule
	if m.actual == nil || !m.ensured {
		if strays, err = m.load(); err != nil {
			return Result{}, err
		}
	}
	return m.apply(desired, scope{one: r.String()}, strays)
}

// load makes sure of the chains and reads their rules into m.actual; it
// returns the rules that are not lxcgate's or appear twice, to be deleted.
func (m *Mapper) load() ([]Rule, error) {
	if err := m.ensure(); err != nil {
		return nil, err
	}
	rules, err := m.backend.Rules()
	if err != nil {
		m.actual = nil
		return nil, err
	}
	m.actual = make(map[string]Rule, len(rules))
	m.byRef, m.sum = map[string]map[string]struct{}{}, 0
	var strays []Rule
	for _, r := range rules {
		if _, dup := m.actual[r.Comment]; dup || !strings.HasPrefix(r.Comment, commentPrefix) {
			strays = append(strays, r)
			continue
		}
		m.put(r)
	}
	m.rules.Store(int64(len(m.actual)))
	return strays, nil
}

func (m *Mapper) ensure() error {
	if m.ensured {
		return nil
	}
	if err := m.backend.Ensure(); err != nil {
		return err
	}
	m.ensured = true
	return nil
}

// apply brings the actual rules within scope to desired, with m.mu held.
func (m *Mapper) apply(desired []mapping.Mapping, sc scope, extraDel []Rule) (Result, error) {
	if len(extraDel) == 0 && m.same(desired, sc) {
		return Result{}, nil
	}
	// By comment, which is all a mapping's one rule needs to be told
	// apart; the rule itself is formatted only when it is to be added.
	want := make(map[string]mapping.Mapping, len(desired))
	for _, d := range desired {
		want[commentOf(d, "dnat")] = d
	}
	var del, add []Rule
	del = append(del, extraDel...)
	if sc.one != "" {
		for c := range m.byRef[sc.one] {
			if _, ok := want[c]; !ok {
				del = append(del, m.actual[c])
			}
		}
	} else {
		for c, r := range m.actual {
			if _, ok := want[c]; !ok && sc.has(refOf(c)) {
				del = append(del, r)
			}
		}
	}
	for c, d := range want {
		if _, ok := m.actual[c]; !ok {
			add = append(add, rulesOf(d)...)
		}
	}
	if len(del) == 0 && len(add) == 0 {
		return Result{}, nil
	}
	sortRules(del)
	sortRules(add)
	if err := m.backend.Apply(del, add); err != nil {
		// The chains are in an unknown state: read them afresh next time.
		m.actual = nil
		m.ensured = false
		err = fmt.Errorf("update port mappings: %w", err)
		m.noted(0, err, false)
		return Result{}, err
	}
	for _, r := range del {
		m.drop(r.Comment)
	}
	for _, r := range add {
		m.put(r)
	}
	m.rules.Store(int64(len(m.actual)))
	removed := 0
	for _, r := range del {
		if !isChain(r) {
			removed++
		}
	}
	m.log.Debug("rules applied", "added", len(add), "removed", removed, "chains removed", len(del)-removed)
	return Result{Added: len(add), Removed: removed}, nil
}

// same tells that the actual rules in scope are the desired ones: the
// steady pass. For one container it looks each up; for all, it compares
// counts and sums of the comments' hashes (seeded per process), which
// reads desired in order and touches no map: at 30,000 rules the lookups
// cost ten times as much, in cache misses.
func (m *Mapper) same(desired []mapping.Mapping, sc scope) bool {
	if sc.one != "" {
		if len(m.byRef[sc.one]) != len(desired) {
			return false
		}
		for _, d := range desired {
			if _, ok := m.actual[commentOf(d, "dnat")]; !ok {
				return false
			}
		}
		return true
	}
	n, sum := len(m.actual), m.sum
	for k := range sc.skip {
		for c := range m.byRef[k] {
			n--
			sum -= maphash.String(m.seed, c)
		}
	}
	if n != len(desired) {
		return false
	}
	var got uint64
	buf := make([]byte, 0, 128)
	for _, d := range desired {
		buf = appendComment(buf[:0], d, "dnat")
		got += maphash.Bytes(m.seed, buf)
	}
	return got == sum
}

// isChain tells a "rule" that stands for an empty chain of lxcgate's, which
// the backend lists for removal: housekeeping, not a mapping's rule.
func isChain(r Rule) bool { return r.Comment == "" && r.Spec == "" && r.Handle == 0 }

func sortRules(rs []Rule) {
	slices.SortFunc(rs, func(a, b Rule) int {
		if c := strings.Compare(a.Table, b.Table); c != 0 {
			return c
		}
		return strings.Compare(a.Comment, b.Comment)
	})
}

// Status compares desired and actual, for "lxcgate portmap status".
type Status struct {
	Desired []string // comments
	Actual  []string
	Missing []string
	Extra   []string
}

// Check reads both sides without changing anything.
func (m *Mapper) Check(ctx context.Context) (Status, error) {
	d, err := m.src.AllMappings(ctx)
	if err != nil {
		return Status{}, err
	}
	desired := d.Mappings
	rules, err := m.backend.Rules()
	if err != nil {
		return Status{}, err
	}
	var st Status
	want := map[string]bool{}
	for _, d := range desired {
		for _, r := range rulesOf(d) {
			want[r.Comment] = true
			st.Desired = append(st.Desired, r.Comment)
		}
	}
	have := map[string]bool{}
	for _, r := range rules {
		if isChain(r) {
			continue
		}
		have[r.Comment] = true
		st.Actual = append(st.Actual, r.Comment)
		if !want[r.Comment] {
			st.Extra = append(st.Extra, r.Comment)
		}
	}
	for c := range want {
		if !have[c] {
			st.Missing = append(st.Missing, c)
		}
	}
	sort.Strings(st.Desired)
	sort.Strings(st.Actual)
	sort.Strings(st.Missing)
	sort.Strings(st.Extra)
	return st, nil
}

// ParseComment reads a mapping back from a rule comment.
func ParseComment(c string) (mapping.Mapping, string, error) {
	rest, ok := strings.CutPrefix(c, commentPrefix)
	parts := strings.Split(rest, ":")
	if !ok || len(parts) != 6 {
		return mapping.Mapping{}, "", errors.New("not an lxcgate rule comment")
	}
	owner, name, _ := strings.Cut(parts[0], "/")
	hp, err1 := strconv.Atoi(parts[2])
	cp, err2 := strconv.Atoi(parts[4])
	if err1 != nil || err2 != nil {
		return mapping.Mapping{}, "", errors.New("not an lxcgate rule comment")
	}
	return mapping.Mapping{Owner: owner, Name: name, Service: parts[1], HostPort: hp, IP: parts[3], ContainerPort: cp}, parts[5], nil
}

// Follow brings one container's rules up to date now. Doing it before
// returning means a stop's rule is gone by the time the user sees
// "Stopped". The source tells it again once DHCP has given a started
// container its address.
func (m *Mapper) Follow(r ref.Ref) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := m.SyncOne(ctx, r); err != nil {
		m.log.Warn("mapping update failed; the periodic reconcile retries", "container", r, "err", err)
	}
}

// Run reconciles every interval until ctx ends, and within a moment of
// any commit to nf_tables by anyone (see watchCommits): the safety net
// behind LXD's events, the repair after another tool rewrote the ruleset,
// and the retry after a write failed.
func (m *Mapper) Run(ctx context.Context, interval time.Duration) {
	kick := make(chan struct{}, 1)
	go func() {
		if err := watchCommits(ctx, kick); err != nil {
			m.log.Info("ruleset changes are not notified; the periodic pass repairs them", "every", interval, "err", err)
		}
	}()
	tick.EveryOr(ctx, interval, kick, settleAfterCommit, func() { m.pass(ctx) }, func() { m.repair(ctx) })
}

// repair is the pass after a commit notice: most commits are lxcgate's
// own (every start and stop), after which the ruleset generation says
// nothing else changed, and reading every container's mappings (LXD and
// the database) again would be waste.
func (m *Mapper) repair(ctx context.Context) {
	m.mu.Lock()
	ours := m.actual != nil
	m.mu.Unlock()
	if u, ok := m.backend.(unchangedBackend); ok && ours && u.Unchanged() {
		return
	}
	m.pass(ctx)
}

// pass is one full reconcile that re-checks the chains or table too.
func (m *Mapper) pass(ctx context.Context) {
	m.mu.Lock()
	m.ensured = false
	m.mu.Unlock()
	res, err := m.Sync(ctx)
	if err != nil {
		m.log.Warn("port mapping reconcile failed; will retry", "err", err)
	} else if res.Added+res.Removed > 0 {
		m.log.Info("port mappings repaired", "added", res.Added, "removed", res.Removed)
	}
}
