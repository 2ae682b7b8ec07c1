package e2e

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"
)

// Isolation against hostile input: snapshot names and sizes (see
// isolation_test.go for the isolation tests' rules).

// TestIsolationSnapshotNames: snapshot names that could escape the
// container's own snapshots are refused in one line naming the rule.
func TestIsolationSnapshotNames(t *testing.T) {
	g, prefix := labGW(t)
	alice := g.addUser("alice", "alice-password", false)
	g.start()
	project := prefix + "alice"
	if r := g.runWords("alice", alice, "", "launch", "sbox"); r.code != 0 {
		t.Fatalf("launch: %+v", r)
	}
	if r := g.runWords("alice", alice, "", "snapshot", "sbox", "s0"); r.code != 0 {
		t.Fatalf("snapshot: %+v", r)
	}
	state := func() string {
		list, _ := lxcAll("list", "--project", project, "--format", "csv", "-c", "ns")
		// A snapshot's size grows as the running container writes: left out.
		var snaps []snapshot
		r := g.runWords("alice", alice, "", "snapshots", "sbox", "--json")
		if err := json.Unmarshal([]byte(r.out), &snaps); err != nil {
			t.Fatalf("snapshots --json: %v %+v", err, r)
		}
		return fmt.Sprintf("%s\nsnapshots:%s\n%+v", list, lxdSnapshots(t, project, "sbox"), snaps)
	}
	before := state()
	long, huge := strings.Repeat("a", 64), strings.Repeat("s", 5000)
	for _, args := range [][]string{
		{"restore", "sbox", "other/snap", "--yes"},
		{"restore", "sbox", "../x", "--yes"},
		{"restore", "sbox", "../sbox", "--yes"},
		{"restore", "sbox", "s0/../s0", "--yes"},
		{"restore", "sbox", "..", "--yes"},
		{"restore", "sbox", long, "--yes"},
		{"snapshot", "sbox", "a/b"},
		{"snapshot", "sbox", ".."},
		{"snapshot", "sbox", "s0/x"},
		{"snapshot", "sbox", "x%2Fy"},
		{"snapshot", "sbox", "x?project=default"},
		{"snapshot", "sbox", long},
		{"snapshot", "sbox", huge},
		{"snapshot", "delete", "sbox", "../../x"},
		{"snapshot", "delete", "sbox", "s0/.."},
		{"snapshot", "delete", "sbox", "../sbox"},
		{"snapshot", "delete", "sbox", long},
		{"clone", "sbox", "x/y", "newbox"},
		{"clone", "sbox", "../s0", "newbox"},
		{"clone", "sbox", "s0/..", "newbox"},
		{"clone", "sbox", long, "newbox"},
		{"clone", "sbox", huge, "newbox"},
	} {
		shown := fmt.Sprintf("%.80q", args)
		r := g.runWords("alice", alice, "", args...)
		if r.code != 1 && r.code != 2 {
			t.Errorf("%s: exit %d, want 1 or 2: %.300q", shown, r.code, r.out+r.err)
		}
		if r.out != "" || !oneLine(r.err) || !strings.Contains(r.err, "snapshot name") {
			t.Errorf("%s: want one line naming the snapshot-name rule, got stdout %.200q stderr %.300q", shown, r.out, r.err)
		}
		if after := state(); after != before {
			t.Errorf("%s changed LXD or the gateway:\nbefore:\n%s\nafter:\n%s", shown, before, after)
			before = after
		}
	}
	if got := lxdNames(t, project); strings.Join(got, ",") != "sbox" {
		t.Errorf("alice's project holds %v", got)
	}
}

// TestIsolationOverflow: sizes and counts at and past int64, negative ones
// and repeated flags are refused in one line, and nothing is created.
func TestIsolationOverflow(t *testing.T) {
	g, prefix := labGW(t)
	alice := g.addUser("alice", "alice-password", false)
	g.start()
	project := prefix + "alice"
	if r := g.runWords("alice", alice, "", "create", "keep"); r.code != 0 {
		t.Fatalf("create keep: %+v", r)
	}
	names := func() string {
		var ns []string
		for _, c := range g.listJSON("alice", alice) {
			ns = append(ns, c.Name+":"+c.State)
		}
		return strings.Join(ns, ",")
	}
	quota := func() string { return g.mustLxcgate("", "user", "quota", "alice") }
	lxdBefore, listBefore, quotaBefore := strings.Join(lxdNames(t, project), ","), names(), quota()
	repeat := func(n int, words ...string) []string {
		var out []string
		for i := 0; i < n; i++ {
			out = append(out, words...)
		}
		return out
	}
	cases := [][]string{
		{"create", "x", "--cpu", "9223372036854775807"},
		{"create", "x", "--cpu", "9223372036854775808"},
		{"create", "x", "--cpu", "18446744073709551617"},
		{"create", "x", "--cpu", "-1"},
		{"create", "x", "--cpu", "-9223372036854775808"},
		{"create", "x", "--memory", "9999999999TiB"},
		{"create", "x", "--memory", "8EiB"},
		{"create", "x", "--memory", "16EiB"},
		{"create", "x", "--memory", "9223372036854775807"},
		{"create", "x", "--memory", "-1GiB"},
		{"create", "x", "--memory", "1e30"},
		{"create", "x", "--disk", "1e30"},
		{"create", "x", "--disk", "9999999999TiB"},
		{"create", "x", "--disk", "8EiB"},
		{"create", "x", "--gpu", "0,0"},
		{"create", "x", "--gpu", strings.TrimSuffix(strings.Repeat("0,", 5000), ",")},
		{"launch", "x", "--cpu", "9223372036854775807"},
		{"launch", "x", "--memory", "8EiB"},
		{"launch", "x", "--disk", "1e30"},
		append([]string{"create", "x"}, repeat(200, "--cpu", "1")...),
		append([]string{"create", "x"}, repeat(200, "--memory", "256MiB")...),
		append([]string{"create", "x"}, repeat(200, "--disk", "1GiB")...),
		append([]string{"create", "x"}, repeat(100, "--image", "lxcgate-busybox")...),
		{"create", "x", "--cpu", "1", "--cpu", "9223372036854775807"},
		{"create", "x", "--memory", "8EiB", "--memory", "256MiB"},
		{"create", "x", "--gpu", "all", "--gpu", "0"},
	}
	for _, args := range cases {
		shown := fmt.Sprintf("%.100q", args)
		if len(args) > 12 {
			shown = fmt.Sprintf("%q ... (%d words)", args[:6], len(args))
		}
		r := g.runWords("alice", alice, "", args...)
		if r.code != 1 && r.code != 2 {
			t.Errorf("%s: exit %d, want 1 or 2: %.300q", shown, r.code, r.out+r.err)
		}
		if r.out != "" || !oneLine(r.err) {
			t.Errorf("%s: want one line, got stdout %.200q stderr %.300q", shown, r.out, r.err)
		}
		lxdAfter, listAfter, quotaAfter := strings.Join(lxdNames(t, project), ","), names(), quota()
		if lxdAfter != lxdBefore || listAfter != listBefore || quotaAfter != quotaBefore {
			t.Errorf("%s changed something: LXD %q -> %q, list %q -> %q, quota use changed: %v", shown,
				lxdBefore, lxdAfter, listBefore, listAfter, quotaAfter != quotaBefore)
			// Back to the start, so that the next case is judged alone.
			g.runWords("alice", alice, "", "delete", "x", "--yes", "--force")
			lxcOut("delete", "--force", "--project", project, "x")
		}
	}
}
