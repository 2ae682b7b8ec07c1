package shell

import "testing"

// Tab completes command names and aliases, flag names (admin-only ones
// for admins), a flag's listed values, and positional arguments: the
// caller's own container names and sub-commands.
func TestCompletion(t *testing.T) {
	sh, _ := newContainerShell(t)
	exec(sh, alice, false, "create devbox", "")
	exec(sh, bob, false, "create dbob", "")
	for _, tc := range []struct {
		user      string
		line, out string
	}{
		{"alice", "who", "whoami "},
		{"alice", "snapsh", "snapshot"}, // snapshot and snapshots: their common prefix
		{"alice", "inf", "info "},
		{"alice", "delete d", "delete devbox "}, // not bob's dbob
		{"alice", "delete --yes d", "delete --yes devbox "},
		{"alice", "delete devbox --f", "delete devbox --force "},
		{"alice", "list --format y", "list --format yaml "},
		{"alice", "list --a", ""}, // --all is an admin's
		{"root1", "list --a", "list --all "},
		{"alice", "port a", "port add "},
		{"alice", "port add d", "port add devbox "},
		{"alice", "port add devbox 80 --name j", ""},
		{"alice", "snapshot del", "snapshot delete "},
		{"alice", "snapshot delete d", "snapshot delete devbox "},
		{"alice", "autosnap devbox h", "autosnap devbox hourly "},
		{"alice", "key devbox --type r", "key devbox --type rsa "},
		{"alice", "help del", "help delete "},
		{"alice", "quota a", ""}, // naming a user is an admin's
		{"alice", "nosuch d", ""},
	} {
		s := &Session{sh: sh, user: alice, ctx: t.Context()}
		if tc.user == "root1" {
			s.user = root
		}
		got, ok := s.complete(tc.line)
		if got != tc.out || ok != (tc.out != "") {
			t.Errorf("%s: Tab on %q gave %q, %v; want %q", tc.user, tc.line, got, ok, tc.out)
		}
	}
	lob := &Session{sh: sh, user: lobby, lobby: true, ctx: t.Context()}
	if got, _ := lob.complete("w"); got != "" {
		t.Errorf("the lobby completes %q", got)
	}
	if got, _ := lob.complete("lo"); got != "log" {
		t.Errorf("the lobby's 'lo' completes to %q", got)
	}
}
