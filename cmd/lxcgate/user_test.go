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

// 'lxcgate user add --key' makes a key-only user; 'user invite' prints a
// code and the command that redeems it, with the gateway's address.
func TestHostUserKeyOnlyAndInvite(t *testing.T) {
	data := testData(t)
	key := "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl bob@laptop"
	key2 := "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIC7dqWkh9oiGgwqzHNu7ILNWhzIq5Tr+9O43xJzY0aUx\n"
	for _, tc := range []struct {
		stdin    string
		args     []string
		code     int
		out, err string
	}{
		{"", []string{"user", "add", "bob", "--key", key}, 0, "", "added bob (user), key-only: 1 key(s), no password\n"},
		{key2, []string{"user", "add", "ann", "--key-stdin", "--admin"}, 0, "", "added ann (admin), key-only"},
		{"", []string{"user", "add", "cy", "--key", "ssh-ed25519 nope"}, 1, "", "lxcgate: user add: invalid public key on line 1"},
		{"", []string{"user", "add", "cy", "--key", key}, 1, "", "already registered"},
		{"-----BEGIN OPENSSH PRIVATE KEY-----\nxx\n", []string{"user", "add", "cy", "--key-stdin"}, 1, "", "that is a private key"},
		{"", []string{"user", "add", "invite", "--key", key}, 1, "", "reserved name"},
		{"", []string{"user", "add", "cy", "--key", key, "--key-stdin"}, 2, "", "not both"},
		{"", []string{"user", "list", "--format=csv"}, 0, "bob,user,false,false,1,", ""},
		{"", []string{"user", "list"}, 0, "cy", ""},
		{"", []string{"user", "invite", "dee"}, 0, "ssh -p 2222 invite@", ""},
		{"", []string{"user", "invite", "bob", "--expires", "7d", "--json"}, 0, `"created": false`, ""},
		{"", []string{"user", "invite", "bob", "--expires", "31d"}, 2, "", "not between 1m and 30d"},
		{"", []string{"user", "invite", "bob", "--expires", "soon"}, 2, "", "--expires"},
		{"", []string{"user", "invite", "nobody!"}, 1, "", "invalid user name"},
		{"", []string{"user", "list", "--format=csv"}, 0, "dee,user,false,false,0,", ""},
	} {
		code, out, errw := lxcgate(t, tc.stdin, append([]string{"--data", data}, tc.args...)...)
		want := tc.out
		if tc.args[1] == "list" && tc.out == "cy" {
			// No user was made by the refused adds.
			if strings.Contains(out, "cy ") || code != 0 {
				t.Errorf("refused adds left a user: %q", out)
			}
			continue
		}
		if code != tc.code || !strings.Contains(out, want) || !strings.Contains(errw, tc.err) {
			t.Errorf("%q: %d out %q err %q; want %d %q %q", tc.args, code, out, errw, tc.code, want, tc.err)
		}
	}
}
