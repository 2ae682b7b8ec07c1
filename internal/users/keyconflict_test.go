package users

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	gossh "golang.org/x/crypto/ssh"
)

// Registering a key someone holds gets one answer that names no one,
// whoever the holder; the log alone names the holder.
func TestKeyConflictNamesNoOne(t *testing.T) {
	ctx := context.Background()
	s := newStore(t)
	var logs bytes.Buffer
	s.SetLogger(slog.New(slog.NewTextHandler(&logs, nil)))
	for _, n := range []string{"alice", "bob", "mallory"} {
		if _, err := s.Add(ctx, n, RoleUser, ""); err != nil {
			t.Fatal(err)
		}
	}
	aliceKey, bobKey := newKey(t), newKey(t)
	s.AddKeys(ctx, "alice", gossh.MarshalAuthorizedKey(aliceKey))
	s.AddKeys(ctx, "bob", gossh.MarshalAuthorizedKey(bobKey))

	answers := conflictAnswers(t, s, &logs, aliceKey, bobKey)
	for _, a := range answers[1:] {
		if a != answers[0] {
			t.Fatalf("answers differ: %q", answers)
		}
	}
	// A new user made with a held key: the same, and no user is left behind.
	_, err := s.AddWithKeys(ctx, "carol", RoleUser, gossh.MarshalAuthorizedKey(aliceKey))
	if !errors.Is(err, ErrKeyExists) || strings.Contains(err.Error(), "alice") {
		t.Fatalf("AddWithKeys = %v", err)
	}
	if _, err := s.Get(ctx, "carol"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("carol exists after a refused AddWithKeys: %v", err)
	}
}

// conflictAnswers registers held keys (alice's, bob's) for others and for
// their holder: each is refused with an answer that names no one, and the
// log names the holder. It returns the answers, fingerprints masked.
func conflictAnswers(t *testing.T, s *Store, logs *bytes.Buffer, aliceKey, bobKey gossh.PublicKey) []string {
	ctx := context.Background()
	var answers []string
	for _, tc := range []struct {
		name, who string
		key       gossh.PublicKey
		holder    string
	}{
		{"another user's key", "mallory", aliceKey, "alice"},
		{"a third user's key", "mallory", bobKey, "bob"},
		{"one's own key again", "alice", aliceKey, "alice"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			logs.Reset()
			_, err := s.AddKeys(ctx, tc.who, gossh.MarshalAuthorizedKey(tc.key))
			if !errors.Is(err, ErrKeyExists) {
				t.Fatalf("AddKeys = %v, want ErrKeyExists", err)
			}
			var kc *KeyConflictError
			if !errors.As(err, &kc) || kc.Holder != tc.holder {
				t.Fatalf("holder = %+v, want %s", kc, tc.holder)
			}
			msg := err.Error()
			for _, n := range []string{"alice", "bob", "mallory"} {
				if strings.Contains(msg, n) {
					t.Fatalf("the answer names %s: %q", n, msg)
				}
			}
			if strings.Contains(msg, "\n") || !strings.Contains(msg, "ask a lab admin") {
				t.Fatalf("answer %q", msg)
			}
			if !strings.Contains(logs.String(), "holder="+tc.holder) {
				t.Fatalf("log does not name the holder: %s", logs.String())
			}
			answers = append(answers, strings.Replace(msg, gossh.FingerprintSHA256(tc.key), "FP", 1))
		})
	}
	return answers
}
