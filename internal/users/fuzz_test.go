package users

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/lxcgate/lxcgate/internal/store/storetest"
	gossh "golang.org/x/crypto/ssh"
)

// Public keys made with ssh-keygen, and the fingerprints `ssh-keygen -l`
// printed for them.
var fuzzKeys = []struct{ line, fp string }{
	{"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMAdwMdknk3dKg+E3ktl/PoufYx3y1vzRHCBr2kwX4QK fuzz-ed25519@lab",
		"SHA256:rssn9lGTfTyB7YGXD0MMrlDseETQ+iRwXcypS/1K9n8"},
	{"ecdsa-sha2-nistp256 AAAAE2VjZHNhLXNoYTItbmlzdHAyNTYAAAAIbmlzdHAyNTYAAABBBLQnltE/s/XgnyfxrsY0UjoCTdOTRidkaEf5SBhZnADtHiv9vDW//y0Ls79FvIldkfJ8PuYUc29VwyyDip0TPlI= fuzz-ecdsa@lab",
		"SHA256:HZko8tlVzNEm6hMakuDp67yqsewYJOieOxeU5CMJc18"},
	{"ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQDbmme1sY756VGlZlbSDpvlmpc3L1pNz2qddCsThH3ejCf5HttgdF3e1cAedR39gBIxTUyPnPFYkdotJSDe05xQ3z7rKipfjIAZVtTkBRhuJKpnjNn2KEdk7PJrERsJ7NNrVl4MWORIbS/MHLb2RNvA8TW6b0weLHsR03DdYAZfVukMNwOm3Ny1vIWThV3aW5dx+AflHOZhwWJWKkaMk6OVG4Q2HljZ3iDmwGwjy/9sCyKATw/zecO7Zt9NkD4c/glVtfeOQ9ozkx3695sCSJA9kUcADFtMEnH4y5GcM90wRx86m/ZcDSStee9t2jcEtOJWFexq0TUT1UGTWAlms74B fuzz-rsa@lab",
		"SHA256:hOYD+c5tumFiLxUj1AwolnrtVeb3Juw7uaZka+642lg"},
}

// keygenFingerprint computes the fingerprint as ssh-keygen does, without
// gossh.FingerprintSHA256: SHA256 of the wire-format key, unpadded base64.
func keygenFingerprint(k gossh.PublicKey) string {
	sum := sha256.Sum256(k.Marshal())
	return "SHA256:" + base64.RawStdEncoding.EncodeToString(sum[:])
}

func TestKeygenFingerprint(t *testing.T) {
	for _, k := range fuzzKeys {
		pk, _, _, _, err := gossh.ParseAuthorizedKey([]byte(k.line))
		if err != nil {
			t.Fatal(err)
		}
		if got := keygenFingerprint(pk); got != k.fp {
			t.Errorf("%s: fingerprint %s, ssh-keygen says %s", pk.Type(), got, k.fp)
		}
	}
}

func addKeySeeds(f *testing.F) {
	ed, ec, rsa := fuzzKeys[0].line, fuzzKeys[1].line, fuzzKeys[2].line
	edBare := strings.Join(strings.Fields(ed)[:2], " ")
	for _, s := range []string{
		"",
		"\n\n   \n",
		"# only a comment\n",
		ed,
		ed + "\n" + ec + "\n" + rsa + "\n",
		"# keys\n\n" + edBare + "\r\n  " + ec + "  \n",
		edBare + " comment with spaces and \u00fcnicode \u65e5\u672c",
		ed + "\n" + ed,     // the same key twice: refused whole
		ed + "\nnot a key", // a bad line spoils the batch
		`command="/bin/sh" ` + ed,
		`no-pty,from="10.0.0.0/8" ` + ec,
		"ssh-ed25519",
		"ssh-ed25519 AAAA",
		"ssh-ed25519 " + strings.Fields(ed)[1][:40],
		"ssh-ed25519 !!!notbase64!!!",
		"ssh-rsa " + strings.Fields(ed)[1], // type and blob disagree
		"ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMAdwMdknk3dKg+E3ktl/Poufx\x00Yx3y1vzRHCBr2kwX4QK",
		"\x00\x00\x00",
		"\xff\xfe\xfd",
		edBare + " \xff\xfe",
		"'" + ed + "'",
		`"` + ed + `"`,
		`\` + ed,
		strings.Repeat("A", 70*1024),
		edBare + " " + strings.Repeat("c", 64*1024),
	} {
		f.Add([]byte(s))
	}
}

// FuzzParseAuthorizedKeys checks that parsing never panics, refuses only
// with ErrBadKey, and that every accepted key has the ssh-keygen
// fingerprint and survives MarshalAuthorizedKey and a second parse.
func FuzzParseAuthorizedKeys(f *testing.F) {
	addKeySeeds(f)
	f.Fuzz(func(t *testing.T, data []byte) {
		keys, comments, err := ParseAuthorizedKeys(data)
		if err != nil {
			if !errors.Is(err, ErrBadKey) {
				t.Fatalf("error %v is not ErrBadKey", err)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %q is not one line", err)
			}
			if keys != nil || comments != nil {
				t.Fatalf("refused, yet returned %d keys", len(keys))
			}
			return
		}
		if len(keys) == 0 || len(keys) != len(comments) {
			t.Fatalf("accepted with %d keys and %d comments", len(keys), len(comments))
		}
		for i, k := range keys {
			if fp := gossh.FingerprintSHA256(k); fp != keygenFingerprint(k) {
				t.Fatalf("key %d: fingerprint %s, ssh-keygen would say %s", i, fp, keygenFingerprint(k))
			}
			again, _, err := ParseAuthorizedKeys(gossh.MarshalAuthorizedKey(k))
			if err != nil || len(again) != 1 || keygenFingerprint(again[0]) != keygenFingerprint(k) {
				t.Fatalf("key %d (%s) does not round-trip: %v", i, k.Type(), err)
			}
		}
	})
}

// quietStore is a store on a temporary database that logs nowhere (a
// refused duplicate key is logged for the admins).
func quietStore(f *testing.F) *Store {
	s := New(storetest.Open(f))
	s.SetLogger(slog.New(slog.NewTextHandler(io.Discard, nil)))
	return s
}

func countKeys(t *testing.T, s *Store) int {
	t.Helper()
	var n int
	if err := s.db.QueryRow(`SELECT count(*) FROM user_keys`).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func hasDuplicate(keys []gossh.PublicKey) bool {
	seen := map[string]bool{}
	for _, k := range keys {
		fp := keygenFingerprint(k)
		if seen[fp] {
			return true
		}
		seen[fp] = true
	}
	return false
}

// FuzzAddKeys checks Store.AddKeys on a real (temporary) database: garbage
// is refused with ErrBadKey and stores nothing; accepted keys are stored
// under the ssh-keygen fingerprint, log their owner in, and read back from
// AuthorizedKeys as the same keys and comments. Each iteration deletes what
// it added, so the store starts empty every time. No passwords: no argon2.
func FuzzAddKeys(f *testing.F) {
	addKeySeeds(f)
	ctx := context.Background()
	s := quietStore(f)
	if _, err := s.Add(ctx, "fuzz", RoleUser, ""); err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		if n := countKeys(t, s); n != 0 {
			t.Fatalf("store holds %d keys before the iteration", n)
		}
		keys, comments, perr := ParseAuthorizedKeys(data)
		added, err := s.AddKeys(ctx, "fuzz", data)
		checkAddKeysError(t, keys, added, perr, err)
		if err != nil {
			if n := countKeys(t, s); n != 0 {
				t.Fatalf("AddKeys failed (%v) but stored %d keys", err, n)
			}
			return
		}
		checkAddedKeys(t, s, keys, comments, added)
		for _, a := range added {
			if err := s.DeleteKey(ctx, "fuzz", a.Fingerprint); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// checkAddKeysError: AddKeys refuses with ErrBadKey what does not parse and
// with ErrKeyExists a repeated key, and accepts all else.
func checkAddKeysError(t *testing.T, keys []gossh.PublicKey, added []Key, perr, err error) {
	t.Helper()
	switch {
	case perr != nil:
		if !errors.Is(err, ErrBadKey) || added != nil {
			t.Fatalf("unparsable input: AddKeys = %d keys, %v; want ErrBadKey", len(added), err)
		}
	case hasDuplicate(keys):
		if !errors.Is(err, ErrKeyExists) {
			t.Fatalf("input repeats a key: AddKeys = %d keys, %v; want ErrKeyExists", len(added), err)
		}
	case err != nil:
		t.Fatalf("AddKeys refused keys that parse: %v", err)
	}
}

// checkAddedKeys: the keys AddKeys accepted are stored under the ssh-keygen
// fingerprint, log their owner in, and read back from AuthorizedKeys as the
// same keys and comments.
func checkAddedKeys(t *testing.T, s *Store, keys []gossh.PublicKey, comments []string, added []Key) {
	t.Helper()
	ctx := context.Background()
	if len(added) != len(keys) || countKeys(t, s) != len(keys) {
		t.Fatalf("parsed %d keys, AddKeys reports %d, store holds %d", len(keys), len(added), countKeys(t, s))
	}
	for i, k := range keys {
		a := added[i]
		if a.Fingerprint != keygenFingerprint(k) || a.Type != k.Type() || a.Comment != comments[i] {
			t.Fatalf("key %d: added %+v; want fingerprint %s, type %s, comment %q", i, a, keygenFingerprint(k), k.Type(), comments[i])
		}
		if u, err := s.UserByKey(ctx, k); err != nil || u.Name != "fuzz" {
			t.Fatalf("key %d: UserByKey = %q, %v", i, u.Name, err)
		}
	}
	text, err := s.AuthorizedKeys(ctx, "fuzz")
	if err != nil {
		t.Fatal(err)
	}
	back, backComments, err := ParseAuthorizedKeys(text)
	if err != nil || len(back) != len(keys) {
		t.Fatalf("AuthorizedKeys gives %q: %d keys, %v", text, len(back), err)
	}
	for i := range back {
		if keygenFingerprint(back[i]) != added[i].Fingerprint || backComments[i] != comments[i] {
			t.Fatalf("key %d reads back as %s %q; want %s %q", i,
				keygenFingerprint(back[i]), backComments[i], added[i].Fingerprint, comments[i])
		}
	}
}

// FuzzAddWithKeys checks that creating a key-only user is all or nothing:
// a bad name is ErrBadName, bad keys are ErrBadKey, a repeated key is
// ErrKeyExists, and each failure leaves neither user nor key behind.
func FuzzAddWithKeys(f *testing.F) {
	ed, ec := fuzzKeys[0].line, fuzzKeys[1].line
	for _, tc := range []struct{ name, keys string }{
		{"alice", ed},
		{"bob", ed + "\n" + ec},
		{"carol", ed + "\n" + ed},
		{"dave", "not a key"},
		{"", ed},
		{"Eve", ed},
		{"a;rm -rf /", ed},
		{strings.Repeat("a", 33), ec},
		{"_svc-1", "# nothing\n"},
	} {
		f.Add(tc.name, []byte(tc.keys))
	}
	ctx := context.Background()
	s := quietStore(f)
	f.Fuzz(func(t *testing.T, name string, data []byte) {
		u, err := s.AddWithKeys(ctx, name, RoleUser, data)
		keys, _, perr := ParseAuthorizedKeys(data)
		switch {
		case ValidName(name) != nil:
			if !errors.Is(err, ErrBadName) {
				t.Fatalf("AddWithKeys(%q) = %v; want ErrBadName", name, err)
			}
		case perr != nil:
			if !errors.Is(err, ErrBadKey) {
				t.Fatalf("AddWithKeys(%q) with bad keys = %v; want ErrBadKey", name, err)
			}
		case hasDuplicate(keys):
			if !errors.Is(err, ErrKeyExists) {
				t.Fatalf("AddWithKeys(%q) with a repeated key = %v; want ErrKeyExists", name, err)
			}
		case err != nil:
			t.Fatalf("AddWithKeys(%q) = %v", name, err)
		}
		if err != nil {
			if us, _ := s.List(ctx); len(us) != 0 || countKeys(t, s) != 0 {
				t.Fatalf("AddWithKeys failed (%v) but left %d users, %d keys", err, len(us), countKeys(t, s))
			}
			return
		}
		if u.Name != name || u.Role != RoleUser || u.HasPassword || u.Disabled || u.Keys != len(keys) {
			t.Fatalf("AddWithKeys(%q) = %+v; want a key-only user with %d keys", name, u, len(keys))
		}
		if err := s.Delete(ctx, name); err != nil {
			t.Fatal(err)
		}
		if countKeys(t, s) != 0 {
			t.Fatal("deleting the user left keys behind")
		}
	})
}

// nameOK is the reference for ValidName: useradd's default rule, bytewise.
func nameOK(s string) bool {
	if len(s) < 1 || len(s) > 32 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		lower := c >= 'a' && c <= 'z'
		if !(lower || c == '_' || i > 0 && (c >= '0' && c <= '9' || c == '-')) {
			return false
		}
	}
	return true
}

// FuzzValidName checks ValidName against nameOK, and that a refusal is
// ErrBadName.
func FuzzValidName(f *testing.F) {
	for _, s := range []string{
		"", "alice", "_svc", "bob-2", "a", "-x", "2bob", "Alice", "a b", "a;rm",
		"\u00e4", "../etc", "alice\n", "alice\x00", strings.Repeat("a", 32), strings.Repeat("a", 33),
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, name string) {
		err := ValidName(name)
		if (err == nil) != nameOK(name) {
			t.Fatalf("ValidName(%q) = %v; reference says ok=%v", name, err, nameOK(name))
		}
		if err != nil && !errors.Is(err, ErrBadName) {
			t.Fatalf("ValidName(%q) = %v; want ErrBadName", name, err)
		}
	})
}
