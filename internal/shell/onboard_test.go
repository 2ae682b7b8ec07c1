package shell

import (
	"context"
	"strings"
	"testing"
)

// Over SSH the command line arrives split into words: 'user add NAME --key
// TYPE BASE64 COMMENT' takes the words after --key as the key line.
func TestUserAddKeyOverSSH(t *testing.T) {
	sh, st, _ := adminShell(t)
	sh.gateway = "gw.example:2222"
	key := authorizedKey(t, "bob@laptop")
	for _, tc := range []userCase{
		{line: "user add bob --key " + key, err: "Added bob (user), key-only: 1 key(s), no password."},
		{line: "user add cy --key-stdin", stdin: authorizedKey(t, "a") + "\n" + authorizedKey(t, "b") + "\n", err: "key-only: 2 key(s)"},
		{line: "user add dee --key ssh-ed25519 AAAA", code: 1, err: "user add: invalid public key"},
		{line: "user add dee --key " + key + " --password-stdin", code: 2, err: "key-only user"},
		{line: "user add invite --key " + authorizedKey(t, "x"), code: 1, err: "reserved name"},
		{line: "user add dee extra --password-stdin", stdin: "dee-password-1\n", code: 2, err: "too many arguments"},
		{line: "user invite eve", out: "ssh -p 2222 invite@gw.example "},
		{line: "user invite eve --expires 30s", code: 2, err: "not between 1m and 30d"},
	} {
		code, out, errw := exec(sh, root, false, tc.line, tc.stdin)
		if code != tc.code || !strings.Contains(out, tc.out) || !strings.Contains(errw, tc.err) {
			t.Errorf("%q: %d %q %q; want %d %q %q", tc.line, code, out, errw, tc.code, tc.out, tc.err)
		}
	}
	for name, keys := range map[string]int{"bob": 1, "cy": 2, "eve": 0} {
		u, err := st.Get(context.Background(), name)
		if err != nil || u.HasPassword || u.Keys != keys {
			t.Errorf("%s: %+v %v", name, u, err)
		}
	}
	if _, err := st.Get(context.Background(), "dee"); err == nil {
		t.Error("a refused add made dee")
	}
}
