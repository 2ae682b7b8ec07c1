package containers

import (
	"bufio"
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"encoding/pem"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/lxcgate/lxcgate/internal/lxd"
	"github.com/lxcgate/lxcgate/internal/store"
	gossh "golang.org/x/crypto/ssh"
)

// Access is what the key, setpass and ProxyJump features need of LXD;
// lxd.Client and lxdtest.Fake satisfy it.
type Access interface {
	ReadFile(ctx context.Context, project, name, path string) ([]byte, error)
	WriteFile(ctx context.Context, project, name, path string, data []byte, uid, gid int64, mode int) error
	Mkdir(ctx context.Context, project, name, path string, uid, gid int64, mode int) error
	Exec(ctx context.Context, project, name string, argv []string, stdin []byte) (int, string, error)
	// Spawn runs a process that streams (a session's shell, command, SFTP
	// server or relay) until it exits.
	Spawn(ctx context.Context, project, name string, p lxd.Process) (int, error)
}

var loginRE = regexp.MustCompile(`^[a-z_][a-z0-9_-]{0,31}$`)

// account is a user inside a container, read from its /etc/passwd.
type account struct {
	login    string
	uid, gid int64
	home     string
	shell    string
}

// running holds user's container and checks that it runs: the file API
// and exec need a running container.
func (s *Service) running(ctx context.Context, user, name string) (_ row, _ func(), err error) {
	r, release, err := s.hold(ctx, user, name)
	if err != nil {
		return row{}, nil, err
	}
	defer releaseUnless(&err, release)
	in, err := s.lxd.Get(ctx, s.Project(user), name)
	if err == nil && !in.Running {
		err = errorf(ErrStopped, name, "%s is stopped", name)
	}
	if err != nil {
		return row{}, nil, err
	}
	return r, release, nil
}

// inside holds user's running container and finds login in it: what
// every operation on a container's users starts with. release must be
// called when err is nil.
func (s *Service) inside(ctx context.Context, user, name, login string) (_ row, _ Access, _ account, _ func(), err error) {
	a := Access(s.lxd)
	r, release, err := s.running(ctx, user, name)
	if err != nil {
		return row{}, nil, account{}, nil, err
	}
	defer releaseUnless(&err, release)
	acct, err := s.lookupAccount(ctx, a, user, name, login)
	if err != nil {
		return row{}, nil, account{}, nil, err
	}
	return r, a, acct, release, nil
}

// lookupAccount finds login in the container's /etc/passwd.
func (s *Service) lookupAccount(ctx context.Context, a Access, user, name, login string) (account, error) {
	if !loginRE.MatchString(login) {
		return account{}, fmt.Errorf("%q is not a user name", login)
	}
	passwd, err := a.ReadFile(ctx, s.Project(user), name, "/etc/passwd")
	if err != nil {
		return account{}, fmt.Errorf("read the users of %s: %w", name, err)
	}
	sc := bufio.NewScanner(bytes.NewReader(passwd))
	for sc.Scan() {
		f := strings.Split(sc.Text(), ":")
		if len(f) >= 7 && f[0] == login {
			uid, err1 := strconv.ParseInt(f[2], 10, 64)
			gid, err2 := strconv.ParseInt(f[3], 10, 64)
			if err1 != nil || err2 != nil || f[5] == "" {
				break
			}
			shell := f[6]
			if !strings.HasPrefix(shell, "/") {
				shell = "/bin/sh"
			}
			return account{login: login, uid: uid, gid: gid, home: f[5], shell: shell}, nil
		}
	}
	return account{}, fmt.Errorf("%s has no user %q; pass --user with one that exists", name, login)
}

// GeneratedKey is a key pair made for a container; Private is shown once.
type GeneratedKey struct {
	Private     []byte
	Fingerprint string
	Comment     string
}

// GenerateKey makes a key pair in memory, appends its public half to
// login's authorized_keys in user's container and records the fingerprint
// and comment. The private key is returned once and kept nowhere.
func (s *Service) GenerateKey(ctx context.Context, user, name, login, typ string) (GeneratedKey, error) {
	var priv any
	switch typ {
	case "", "ed25519":
		_, k, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return GeneratedKey{}, err
		}
		priv = k
	case "rsa":
		k, err := rsa.GenerateKey(rand.Reader, 3072)
		if err != nil {
			return GeneratedKey{}, err
		}
		priv = k
	default:
		return GeneratedKey{}, fmt.Errorf("key type %q: use ed25519 or rsa", typ)
	}
	signer, err := gossh.NewSignerFromKey(priv)
	if err != nil {
		return GeneratedKey{}, err
	}
	comment := fmt.Sprintf("lxcgate:%s:%s:%s", user, name, time.Now().UTC().Format("2006-01-02"))
	block, err := gossh.MarshalPrivateKey(priv, comment)
	if err != nil {
		return GeneratedKey{}, err
	}
	fps, err := s.installKeys(ctx, user, name, login, []gossh.PublicKey{signer.PublicKey()}, []string{comment}, true)
	if err != nil {
		return GeneratedKey{}, err
	}
	return GeneratedKey{Private: pem.EncodeToMemory(block), Fingerprint: fps[0], Comment: comment}, nil
}

// InstallKeys appends authorized_keys lines (the caller's gateway keys, for
// key --mine) to login's authorized_keys; no private key is involved.
func (s *Service) InstallKeys(ctx context.Context, user, name, login string, authorizedKeys []byte) ([]string, error) {
	var keys []gossh.PublicKey
	var comments []string
	rest := authorizedKeys
	for len(bytes.TrimSpace(rest)) > 0 {
		k, c, _, r, err := gossh.ParseAuthorizedKey(rest)
		if err != nil {
			break
		}
		keys, comments, rest = append(keys, k), append(comments, c), r
	}
	if len(keys) == 0 {
		return nil, errors.New("you have no gateway keys to install; add one with 'keys add'")
	}
	return s.installKeys(ctx, user, name, login, keys, comments, false)
}

func (s *Service) installKeys(ctx context.Context, user, name, login string, keys []gossh.PublicKey, comments []string, record bool) ([]string, error) {
	r, a, acct, release, err := s.inside(ctx, user, name, login)
	if err != nil {
		return nil, err
	}
	defer release()
	p := s.Project(user)
	dir := acct.home + "/.ssh"
	if err := a.Mkdir(ctx, p, name, dir, acct.uid, acct.gid, 0o700); err != nil {
		return nil, fmt.Errorf("key %s: %w", name, err)
	}
	file := dir + "/authorized_keys"
	cur, err := a.ReadFile(ctx, p, name, file)
	if err != nil && !errors.Is(err, lxd.ErrNoFile) {
		return nil, fmt.Errorf("key %s: %w", name, err)
	}
	// Append, never overwrite: keys the user put there stay.
	have := map[string]bool{}
	for _, fp := range fingerprints(cur) {
		have[fp] = true
	}
	var fps []string
	buf := bytes.Clone(cur)
	if len(buf) > 0 && buf[len(buf)-1] != '\n' {
		buf = append(buf, '\n')
	}
	for i, k := range keys {
		fp := gossh.FingerprintSHA256(k)
		fps = append(fps, fp)
		if have[fp] {
			continue
		}
		line := strings.TrimSpace(string(gossh.MarshalAuthorizedKey(k)))
		buf = append(buf, []byte(strings.TrimSpace(line+" "+comments[i])+"\n")...)
	}
	if err := a.WriteFile(ctx, p, name, file, buf, acct.uid, acct.gid, 0o600); err != nil {
		return nil, fmt.Errorf("key %s: %w", name, err)
	}
	if record {
		for i, fp := range fps {
			err := s.st.ContainerKeys.Add(context.WithoutCancel(ctx), s.db, store.ContainerKey{ContainerID: r.ID, Login: login,
				Fingerprint: fp, Comment: comments[i], Created: time.Now()})
			if err != nil {
				// The key is in authorized_keys and works; only the
				// "issued" mark in 'key --list' is missing.
				s.log.Error("recording an issued key failed", "user", user, "name", name, "login", login, "fingerprint", fp, "err", err)
			}
		}
	}
	return fps, nil
}

// fingerprints lists the keys in authorized_keys text.
func fingerprints(data []byte) []string {
	var out []string
	for _, line := range strings.Split(string(data), "\n") {
		if k, _, _, _, err := gossh.ParseAuthorizedKey([]byte(line)); err == nil {
			out = append(out, gossh.FingerprintSHA256(k))
		}
	}
	return out
}

// ContainerKey is one line of a container user's authorized_keys.
type ContainerKey struct {
	Fingerprint string `json:"fingerprint"`
	Type        string `json:"type"`
	Comment     string `json:"comment"`
	Issued      bool   `json:"issued"` // made by 'key NAME'
}

// ContainerKeys lists login's authorized_keys in user's container.
func (s *Service) ContainerKeys(ctx context.Context, user, name, login string) ([]ContainerKey, error) {
	r, a, acct, release, err := s.inside(ctx, user, name, login)
	if err != nil {
		return nil, err
	}
	defer release()
	data, err := a.ReadFile(ctx, s.Project(user), name, acct.home+"/.ssh/authorized_keys")
	if errors.Is(err, lxd.ErrNoFile) {
		return []ContainerKey{}, nil
	}
	if err != nil {
		return nil, err
	}
	recorded, err := s.st.ContainerKeys.Fingerprints(ctx, s.db, r.ID, login)
	if err != nil {
		return nil, fmt.Errorf("keys of %s: %w", name, err)
	}
	issued := map[string]bool{}
	for _, fp := range recorded {
		issued[fp] = true
	}
	out := []ContainerKey{}
	for _, line := range strings.Split(string(data), "\n") {
		k, c, _, _, err := gossh.ParseAuthorizedKey([]byte(line))
		if err != nil {
			continue
		}
		fp := gossh.FingerprintSHA256(k)
		out = append(out, ContainerKey{Fingerprint: fp, Type: k.Type(), Comment: c, Issued: issued[fp]})
	}
	return out, nil
}

// RevokeKey removes exactly the lines of that key from login's
// authorized_keys; every other line stays as it was.
func (s *Service) RevokeKey(ctx context.Context, user, name, login, fingerprint string) error {
	r, a, acct, release, err := s.inside(ctx, user, name, login)
	if err != nil {
		return err
	}
	defer release()
	file := acct.home + "/.ssh/authorized_keys"
	data, err := a.ReadFile(ctx, s.Project(user), name, file)
	if err != nil && !errors.Is(err, lxd.ErrNoFile) {
		return err
	}
	var keep []string
	removed := 0
	lines := strings.SplitAfter(string(data), "\n")
	for _, line := range lines {
		if k, _, _, _, err := gossh.ParseAuthorizedKey([]byte(line)); err == nil && gossh.FingerprintSHA256(k) == fingerprint {
			removed++
			continue
		}
		keep = append(keep, line)
	}
	if removed == 0 {
		return errorf(ErrNoKey, name, "%s's authorized_keys in %s has no key %s", login, name, fingerprint)
	}
	if err := a.WriteFile(ctx, s.Project(user), name, file, []byte(strings.Join(keep, "")), acct.uid, acct.gid, 0o600); err != nil {
		return fmt.Errorf("revoke: %w", err)
	}
	if err := s.st.ContainerKeys.Delete(context.WithoutCancel(ctx), s.db, r.ID, login, fingerprint); err != nil {
		// The key is out of authorized_keys; only its record stays.
		s.log.Error("forgetting a revoked key failed", "user", user, "name", name, "login", login, "fingerprint", fingerprint, "err", err)
	}
	return nil
}

// SetPassword sets login's password in user's container by passing
// "login:password" on chpasswd's stdin: never in argv, never through a shell.
func (s *Service) SetPassword(ctx context.Context, user, name, login, password string) error {
	_, a, _, release, err := s.inside(ctx, user, name, login)
	if err != nil {
		return err
	}
	defer release()
	if strings.ContainsAny(password, "\n\r") {
		return errors.New("a password cannot contain a line break")
	}
	code, stderr, err := a.Exec(ctx, s.Project(user), name, []string{"chpasswd"}, []byte(login+":"+password+"\n"))
	if err != nil {
		return fmt.Errorf("setpass %s: %w", name, err)
	}
	if code != 0 {
		s.log.Warn("chpasswd failed", "user", user, "container", name, "code", code, "stderr", stderr)
		return fmt.Errorf("setpass %s: chpasswd in the container failed (status %d); is the passwd package installed?", name, code)
	}
	return nil
}

// Resolve answers a direct-tcpip request (ssh -J): host must be one of
// user's running containers and port 22 or one of its published container
// ports. It returns the address to dial.
func (s *Service) Resolve(ctx context.Context, user, host string, port int) (string, error) {
	r, err := s.lookup(ctx, user, host)
	if err != nil {
		return "", err
	}
	allowed := port == 22
	ports, err := s.portsOf(ctx, r.ID)
	if err != nil {
		return "", err
	}
	for _, p := range ports[r.ID] {
		allowed = allowed || p.ContainerPort == port
	}
	if !allowed {
		return "", fmt.Errorf("port %d of %s is not published", port, host)
	}
	in, err := s.lxd.Get(ctx, s.Project(user), host)
	if err != nil {
		return "", err
	}
	if !in.Running || in.IPv4 == "" {
		return "", fmt.Errorf("%s is not running", host)
	}
	return fmt.Sprintf("%s:%d", in.IPv4, port), nil
}
