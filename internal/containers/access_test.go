package containers

import (
	"context"
	"strings"
	"testing"

	"github.com/lxcgate/lxcgate/internal/lxd/lxdtest"
)

func TestKeysAndPasswords(t *testing.T) {
	ctx := context.Background()
	s, fake := newPortService(t, 39100, 39199)
	s.conf().Quota.Ports = 3
	if _, err := s.Create(ctx, "alice", CreateRequest{Name: "box", Start: true}); err != nil {
		t.Fatal(err)
	}
	checkKeys(ctx, t, s, fake)
	checkPassword(ctx, t, s, fake)
	checkResolve(ctx, t, s)
	s.Stop(ctx, "alice", "box", false)
	if _, err := s.GenerateKey(ctx, "alice", "box", "ubuntu", ""); err == nil || !strings.Contains(err.Error(), "stopped") {
		t.Fatalf("stopped container: %v", err)
	}
	if _, err := s.Resolve(ctx, "alice", "box", 22); err == nil {
		t.Fatal("resolved a stopped container")
	}
}

// checkKeys generates, lists and revokes keys in alice's running box.
func checkKeys(ctx context.Context, t *testing.T, s *Service, fake *lxdtest.Fake) {
	t.Helper()
	file := "lxcgate-alice/box:/home/ubuntu/.ssh/authorized_keys"
	fake.Files = map[string][]byte{file: []byte("ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIOMqqnkVzrm0SdG6UOoqKLsabgH5C9okWi0dh2l9GKJl mine\n")}
	k1, err := s.GenerateKey(ctx, "alice", "box", "ubuntu", "ed25519")
	if err != nil || !strings.Contains(string(k1.Private), "OPENSSH PRIVATE KEY") || !strings.HasPrefix(k1.Fingerprint, "SHA256:") {
		t.Fatalf("generate: %v %+v", err, k1)
	}
	k2, _ := s.GenerateKey(ctx, "alice", "box", "ubuntu", "rsa")
	keys, err := s.ContainerKeys(ctx, "alice", "box", "ubuntu")
	if err != nil || len(keys) != 3 || keys[0].Issued || !keys[1].Issued || keys[2].Type != "ssh-rsa" {
		t.Fatalf("appended, never overwritten: %+v %v", keys, err)
	}
	if err := s.RevokeKey(ctx, "alice", "box", "ubuntu", k1.Fingerprint); err != nil {
		t.Fatal(err)
	}
	if got := fingerprints(fake.Files[file]); len(got) != 2 || got[1] != k2.Fingerprint {
		t.Fatalf("revoke removed more or less than its line: %v", got)
	}
	if err := s.RevokeKey(ctx, "alice", "box", "ubuntu", k1.Fingerprint); err == nil {
		t.Fatal("revoked twice")
	}
}

// checkPassword refuses bad key and password requests and sets a good
// password through chpasswd.
func checkPassword(ctx context.Context, t *testing.T, s *Service, fake *lxdtest.Fake) {
	t.Helper()
	for _, f := range []func() error{
		func() error { _, err := s.GenerateKey(ctx, "alice", "box", "nobody", ""); return err },
		func() error { _, err := s.GenerateKey(ctx, "alice", "box", "ubuntu", "dsa"); return err },
		func() error { _, err := s.GenerateKey(ctx, "bob", "box", "ubuntu", ""); return err },
		func() error { return s.SetPassword(ctx, "alice", "box", "ubuntu", "two\nlines") },
	} {
		if err := f(); err == nil {
			t.Error("accepted")
		}
	}
	if err := s.SetPassword(ctx, "alice", "box", "ubuntu", "s3cret-pass"); err != nil {
		t.Fatal(err)
	}
	if e := fake.Execs[len(fake.Execs)-1]; !strings.Contains(e, "[chpasswd] <ubuntu:s3cret-pass") {
		t.Fatalf("chpasswd: %s", e)
	}
}

// checkResolve: ssh -J targets are the user's own running container, on
// port 22 or a published one.
func checkResolve(ctx context.Context, t *testing.T, s *Service) {
	t.Helper()
	if addr, err := s.Resolve(ctx, "alice", "box", 22); err != nil || !strings.HasSuffix(addr, ":22") {
		t.Fatalf("resolve: %s %v", addr, err)
	}
	if _, err := s.Resolve(ctx, "alice", "box", 8888); err != nil {
		t.Fatalf("published jupyter: %v", err)
	}
	for _, tc := range []struct {
		user, host string
		port       int
	}{{"alice", "box", 80}, {"bob", "box", 22}, {"alice", "10.166.0.1", 22}} {
		if _, err := s.Resolve(ctx, tc.user, tc.host, tc.port); err == nil {
			t.Errorf("resolved %+v", tc)
		}
	}
}
