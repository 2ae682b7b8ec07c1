package server

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/lxcgate/lxcgate/internal/throttle"
	"github.com/lxcgate/lxcgate/internal/users"
)

// inviteGateway is the test gateway with the invite login on, behind a
// throttle that locks an address after perAddress failures.
func inviteGateway(t *testing.T, perAddress int) *gateway {
	t.Helper()
	th := throttle.New(throttle.Limits{PerAccount: 100, PerAddress: perAddress, Window: time.Minute, Lockout: time.Minute})
	return startGateway(t, func(o *Options) {
		o.Invite = InviteOptions{Store: o.Accounts, Throttle: th, Gateway: "gw.example:2222"}
	})
}

// redeemAs runs the invite login's exec with code and stdin; the client
// offers signer's key, or nothing when nil.
func (g *gateway) redeemAs(t *testing.T, signer gossh.Signer, code, stdin string) (string, string, int) {
	t.Helper()
	var auth []gossh.AuthMethod
	if signer != nil {
		auth = append(auth, gossh.PublicKeys(signer))
	}
	c, err := g.dial(t, users.InviteAccount, auth...)
	if err != nil {
		t.Fatalf("invite login: %v", err)
	}
	defer c.Close()
	s, err := c.NewSession()
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	var out, errw bytes.Buffer
	s.Stdin, s.Stdout, s.Stderr = strings.NewReader(stdin), &out, &errw
	err = s.Run(code)
	status := 0
	var ee *gossh.ExitError
	if errors.As(err, &ee) {
		status = ee.ExitStatus()
	} else if err != nil && !errors.Is(err, &gossh.ExitMissingError{}) {
		t.Logf("run: %v", err)
	}
	return out.String(), errw.String(), status
}

func pubLine(s gossh.Signer) string { return string(gossh.MarshalAuthorizedKey(s.PublicKey())) }

func TestKeyOnlyUserRefusesPasswords(t *testing.T) {
	g := startGateway(t, nil)
	ctx := context.Background()
	k := newSigner(t)
	if _, err := g.users.AddWithKeys(ctx, "kate", users.RoleUser, []byte(pubLine(k))); err != nil {
		t.Fatal(err)
	}
	// Two failures: the test throttle locks the account at the third.
	if c, err := g.dial(t, "kate", gossh.Password("alice-password")); err == nil {
		c.Close()
		t.Fatal("a password let a key-only user in")
	}
	kbd := gossh.KeyboardInteractive(func(string, string, []string, []bool) ([]string, error) { return []string{""}, nil })
	if c, err := g.dial(t, "kate", kbd); err == nil {
		c.Close()
		t.Fatal("keyboard-interactive let a key-only user in")
	}
	c, err := g.dial(t, "kate", gossh.PublicKeys(k))
	if err != nil {
		t.Fatalf("key login: %v", err)
	}
	c.Close()
	var refused int
	g.db.QueryRow(`SELECT count(*) FROM audit WHERE kind = 'login' AND ok = 0 AND user = 'kate'`).Scan(&refused)
	if refused < 2 {
		t.Fatalf("%d refused logins audited, want 2", refused)
	}
	// A password given later works.
	if err := g.users.SetPassword(ctx, "kate", "kate-password"); err != nil {
		t.Fatal(err)
	}
	if c, err = g.dial(t, "kate", gossh.Password("kate-password")); err != nil {
		t.Fatalf("password after passwd: %v", err)
	}
	c.Close()
}

func TestInviteRedeemHappyPath(t *testing.T) {
	g := inviteGateway(t, 50)
	inv, err := g.users.Invite(context.Background(), "carol", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	k := newSigner(t)
	// The client offers a key of nobody's: "none" lets it in all the same.
	out, errw, code := g.redeemAs(t, newSigner(t), inv.Code, pubLine(k))
	if code != 0 || !strings.Contains(out, "registered for carol") || !strings.Contains(out, "ssh -p 2222 carol@gw.example") {
		t.Fatalf("redeem: %q %q %d", out, errw, code)
	}
	c, err := g.dial(t, "carol", gossh.PublicKeys(k))
	if err != nil {
		t.Fatalf("login with the registered key: %v", err)
	}
	c.Close()
	var rows int
	g.db.QueryRow(`SELECT count(*) FROM audit WHERE method = 'invite' AND ok = 1 AND detail LIKE '%registered for carol'`).Scan(&rows)
	if rows != 1 {
		t.Fatalf("%d audit rows for the redemption", rows)
	}
}

func TestInviteBadCodesOneAnswer(t *testing.T) {
	g := inviteGateway(t, 50)
	ctx := context.Background()
	spent, _ := g.users.Invite(ctx, "dan", time.Hour)
	if _, _, code := g.redeemAs(t, nil, spent.Code, pubLine(newSigner(t))); code != 0 {
		t.Fatal("first redemption failed")
	}
	expired, _ := g.users.Invite(ctx, "eve", time.Hour)
	if _, err := g.db.Exec(`UPDATE invites SET expires_at = created_at - 1 WHERE spent_at IS NULL`); err != nil {
		t.Fatal(err)
	}
	gone, _ := g.users.Invite(ctx, "fay", time.Hour)
	g.users.Delete(ctx, "fay")
	var answers []string
	for _, code := range []string{spent.Code, expired.Code, gone.Code, "AAAA-BBBB", strings.Repeat("Z", 10000)} {
		out, errw, status := g.redeemAs(t, nil, code, pubLine(newSigner(t)))
		if status != 1 || out != "" {
			t.Fatalf("code %.20s: %q %q %d", code, out, errw, status)
		}
		answers = append(answers, errw)
	}
	for _, a := range answers {
		if a != inviteInvalid+"\n" {
			t.Fatalf("answers differ: %q", answers)
		}
	}
	rows, _ := g.db.Query(`SELECT detail FROM audit`)
	defer rows.Close()
	for rows.Next() {
		var d string
		rows.Scan(&d)
		for _, code := range []string{spent.Code, expired.Code, gone.Code} {
			if strings.Contains(d, code) || strings.Contains(d, code[:9]) {
				t.Fatalf("a code reached the audit trail: %q", d)
			}
		}
	}
	var refused int
	g.db.QueryRow(`SELECT count(*) FROM audit WHERE method = 'invite' AND ok = 0`).Scan(&refused)
	if refused != len(answers) {
		t.Fatalf("%d refusals audited, want %d", refused, len(answers))
	}
}

func TestInviteThrottledPerAddress(t *testing.T) {
	g := inviteGateway(t, 3)
	inv, _ := g.users.Invite(context.Background(), "gus", time.Hour)
	for range 3 {
		g.redeemAs(t, nil, "AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA-AAAA", pubLine(newSigner(t)))
	}
	// Locked: even the right code gets the one answer, and stays unspent.
	if _, errw, code := g.redeemAs(t, nil, inv.Code, pubLine(newSigner(t))); code != 1 || errw != inviteInvalid+"\n" {
		t.Fatalf("locked address: %q %d", errw, code)
	}
	if _, _, err := g.users.Redeem(context.Background(), inv.Code, []byte(pubLine(newSigner(t)))); err != nil {
		t.Fatalf("code after the lockout refusal: %v", err)
	}
	var locked int
	g.db.QueryRow(`SELECT count(*) FROM audit WHERE method = 'invite' AND detail LIKE '%locked until%'`).Scan(&locked)
	if locked != 1 {
		t.Fatalf("%d lockout refusals audited", locked)
	}
}

func TestInviteInputRefusals(t *testing.T) {
	g := inviteGateway(t, 50)
	inv, _ := g.users.Invite(context.Background(), "hal", time.Hour)
	for name, tc := range map[string]struct{ stdin, want string }{
		"1 MB":    {strings.Repeat("x", 1<<20), "more than 16 KiB"},
		"private": {"-----BEGIN OPENSSH PRIVATE KEY-----\nAAAA\n-----END OPENSSH PRIVATE KEY-----\n", "private key"},
		"empty":   {"", "no public key on stdin"},
	} {
		out, errw, code := g.redeemAs(t, nil, inv.Code, tc.stdin)
		if code != 1 || out != "" || !strings.Contains(errw, tc.want) || strings.Count(errw, "\n") != 1 {
			t.Errorf("%s: %q %q %d", name, out, errw, code)
		}
	}
	// None of that spent the code.
	if _, _, code := g.redeemAs(t, nil, inv.Code, pubLine(newSigner(t))); code != 0 {
		t.Fatal("code spent by refused input")
	}
}

func TestInviteLoginRefusesShellPtyAndForwarding(t *testing.T) {
	g := inviteGateway(t, 50)
	c, err := g.dial(t, users.InviteAccount)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	s, _ := c.NewSession()
	var errw bytes.Buffer
	s.Stderr = &errw
	if err := s.RequestPty("xterm", 24, 80, gossh.TerminalModes{}); err != nil {
		t.Fatal(err)
	}
	if err := s.Shell(); err != nil {
		t.Fatal(err)
	}
	var ee *gossh.ExitError
	if err := s.Wait(); !errors.As(err, &ee) || ee.ExitStatus() != 1 {
		t.Fatalf("shell: %v", err)
	}
	s.Close()
	if !strings.Contains(errw.String(), "no -t, no shell") {
		t.Fatalf("shell with a PTY: %q", errw.String())
	}
	_, errs, code := g.redeemAs(t, nil, "", "")
	if code != 1 || !strings.Contains(errs, "ssh -p 2222 invite@gw.example CODE") {
		t.Fatalf("no command: %q %d", errs, code)
	}
	if _, err := c.Dial("tcp", "127.0.0.1:22"); err == nil {
		t.Fatal("forwarding allowed on the invite login")
	}
	s, _ = c.NewSession()
	if err := s.RequestSubsystem("sftp"); err == nil {
		t.Fatal("sftp allowed on the invite login")
	}
	s.Close()
}

func TestInviteConcurrentRedemptionOneWins(t *testing.T) {
	g := inviteGateway(t, 50)
	inv, _ := g.users.Invite(context.Background(), "ida", time.Hour)
	var wg sync.WaitGroup
	codes := make([]int, 3)
	for i := range codes {
		wg.Add(1)
		k := newSigner(t)
		go func() { defer wg.Done(); _, _, codes[i] = g.redeemAs(t, nil, inv.Code, pubLine(k)) }()
	}
	wg.Wait()
	won := 0
	for _, c := range codes {
		if c == 0 {
			won++
		}
	}
	if u, _ := g.users.Get(context.Background(), "ida"); won != 1 || u.Keys != 1 {
		t.Fatalf("%d winners (%v), %d keys", won, codes, u.Keys)
	}
}
