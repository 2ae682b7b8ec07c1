package main

import (
	"strings"
	"testing"
)

// 'lxcgate user' runs the shell's user command: its checks and messages,
// written in the host's style (lower case, no full stop), and the host's
// errors ("lxcgate: ...", with a hint).
func TestHostUserRunsTheShells(t *testing.T) {
	data := testData(t)
	key := "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl bob@laptop\n"
	for _, tc := range []struct {
		stdin    string
		args     []string
		code     int
		out, err string
	}{
		{"bob-password-1\n", []string{"user", "add", "bob", "--password-stdin"}, 0, "", "added bob (user)\n"},
		{"bob-password-1\n", []string{"user", "add", "bob", "--password-stdin"}, 1, "", "lxcgate: user add: bob exists; nothing changed\n"},
		{"", []string{"user", "add", "carol"}, 1, "", "stdin is not a terminal: pass --password-stdin"},
		{key, []string{"user", "key", "add", "bob"}, 0, "", " ssh-ed25519 bob@laptop to bob\n"},
		{"", []string{"user", "key", "list", "bob", "--json"}, 0, `"comment": "bob@laptop"`, ""},
		{"", []string{"user", "key", "del", "bob", "SHA256:nope"}, 1, "", "(see 'lxcgate user key list')"},
		{"bob-password-2\n", []string{"user", "passwd", "bob", "--password-stdin"}, 0, "", "password of bob changed\n"},
		{"", []string{"user", "disable", "bob"}, 0, "", "disabled bob\n"},
		{"", []string{"user", "list", "--format=csv"}, 0, "bob,user,true,true,1,", ""},
		{"", []string{"user", "del", "--", "-x"}, 1, "", "lxcgate: user del: no such user"},
		{"", []string{"user", "del", "bob"}, 0, "", "deleted bob; their containers, if any, stay in LXD\n"},
	} {
		code, out, errw := lxcgate(t, tc.stdin, append([]string{"--data", data}, tc.args...)...)
		if code != tc.code || !strings.Contains(out, tc.out) || !strings.Contains(errw, tc.err) {
			t.Errorf("%q: %d out %q err %q; want %d %q %q", tc.args, code, out, errw, tc.code, tc.out, tc.err)
		}
	}
}
