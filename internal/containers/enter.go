package containers

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/lxcgate/lxcgate/internal/lxd"
	"github.com/lxcgate/lxcgate/internal/ref"
)

// Kinds of session inside a container, as audited.
const (
	KindShell   = "shell"
	KindExec    = "exec"
	KindSFTP    = "sftp"
	KindForward = "forward"
)

// ErrNoEntry is the one answer to a direct login whose container part
// names nothing of the caller's: not theirs, not there, or not a name.
var ErrNoEntry = errors.New("you have no container by that name; 'list' shows yours")

// Entry is one session's way into a user's own running container (the
// login alice+box): the container, the account inside, and the session's
// place among the container's open sessions. Close ends it.
type Entry struct {
	Ref   ref.Ref
	Login string // the container user

	s       *Service
	project string
	acct    account
	addrs   []string // the container's own addresses

	ctx    context.Context // ends when the container is being stopped
	cancel context.CancelFunc
	once   sync.Once
	mu     sync.Mutex
	notice string
}

// Enter opens a session into user's container name as login (""; the
// configured container user): name must be a container of user's (anything
// else, a malformed name included, gets ErrNoEntry before LXD is asked
// anything), running, or started first where the configuration says so
// (within its lease and the user's quota). The entry counts as use of the
// container until Close.
func (s *Service) Enter(ctx context.Context, user, name, login string) (*Entry, error) {
	cfg := s.conf()
	if login == "" {
		login = cmp.Or(cfg.ContainerUser, "ubuntu")
	}
	start := cfg.StartOnLogin
	if ValidName(name) != nil || !loginRE.MatchString(login) {
		return nil, ErrNoEntry
	}
	if _, err := s.lookup(ctx, user, name); errors.Is(err, ErrNoSuch) {
		return nil, ErrNoEntry
	} else if err != nil {
		return nil, err
	}
	in, err := s.lxd.Get(ctx, s.Project(user), name)
	if errors.Is(err, lxd.ErrNotFound) {
		return nil, ErrNoEntry
	}
	if err != nil {
		return nil, err
	}
	if !in.Running && !start {
		return nil, errorf(ErrStopped, name, "%s is stopped; 'ssh gw start %s' first", name, name)
	}
	if !in.Running {
		if err := s.Start(ctx, user, name); errors.Is(err, ErrExpired) {
			return nil, fmt.Errorf("%w; 'ssh gw renew %s' first", err, name)
		} else if err != nil {
			return nil, err
		}
		if in, err = s.lxd.Get(ctx, s.Project(user), name); err != nil {
			return nil, err
		}
	}
	acct, err := s.accounts.get(user+"/"+name+"/"+login, func() (account, error) {
		return s.lookupAccount(ctx, s.lxd, user, name, login)
	})
	if err != nil {
		return nil, err
	}
	e := &Entry{Ref: ref.Ref{Owner: user, Name: name}, Login: login, s: s, project: s.Project(user), acct: acct}
	for _, a := range []string{in.IPv4, in.Routed} {
		if a != "" {
			e.addrs = append(e.addrs, a)
		}
	}
	e.ctx, e.cancel = context.WithCancel(context.Background())
	s.open.add(e)
	return e, nil
}

// Close ends the entry's hold on its container.
func (e *Entry) Close() {
	e.once.Do(func() {
		e.s.open.remove(e)
		e.cancel()
	})
}

// Notice is the line for the session's user once the gateway stopped the
// container under the session (its lease ran out); "" until then.
func (e *Entry) Notice() string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.notice
}

func (e *Entry) end(notice string) {
	e.mu.Lock()
	if e.notice == "" {
		e.notice = notice
	}
	e.mu.Unlock()
	e.cancel()
}

// Session is what a front end runs in an entry: Command "" with a TTY is
// the login shell; otherwise Command runs through the user's shell. Env
// holds what the client passed; only TERM, LANG and LC_* go through.
type Session struct {
	Kind    string // KindShell, KindExec or KindSFTP
	Command string
	Env     map[string]string
	TTY     *lxd.Window
	Stdin   io.Reader
	Stdout  io.Writer
	Stderr  io.Writer
	Control <-chan lxd.Control
}

// Run runs sess in the container as the entry's user and returns its exit
// status; it ends when the process does, or when ctx or the entry ends
// (the process is then hung up).
func (e *Entry) Run(ctx context.Context, sess Session) (int, error) {
	ctx, stop := context.WithCancel(ctx)
	defer stop()
	go func() {
		select {
		case <-e.ctx.Done():
			stop()
		case <-ctx.Done():
		}
	}()
	stdin := sess.Stdin
	if sess.TTY != nil {
		// A terminal outlives its input's end, as with sshd: the end of
		// what the client sends (ssh -tt < file) must not hang it up.
		stdin = &holdOpen{r: stdin, ctx: ctx}
	}
	p := lxd.Process{Argv: e.argv(sess), Env: e.env(sess), UID: uint32(e.acct.uid), GID: uint32(e.acct.gid), Cwd: e.acct.home,
		TTY: sess.TTY, Stdin: stdin, Stdout: sess.Stdout, Stderr: sess.Stderr, Control: sess.Control}
	code, err := e.s.lxd.Spawn(ctx, e.project, e.Ref.Name, p)
	if err != nil {
		return -1, fmt.Errorf("%s in %s: %w", sess.Kind, e.Ref.Name, err)
	}
	return code, nil
}

// sftpServer starts the image's own sftp-server, wherever the
// distribution put it, or says in one line what the image lacks.
const sftpServer = `for p in /usr/lib/openssh/sftp-server /usr/lib/sftp-server /usr/libexec/openssh/sftp-server /usr/libexec/sftp-server /usr/lib/ssh/sftp-server; do
	[ -x "$p" ] && exec "$p"
done
echo "lxcgate: $0 has no sftp-server; install it in the container (Debian, Ubuntu: apt install openssh-sftp-server)" >&2
exit 127`

func (e *Entry) argv(sess Session) []string {
	switch {
	case sess.Kind == KindSFTP:
		return []string{"/bin/sh", "-c", sftpServer, e.Ref.Name}
	case sess.Command == "":
		return []string{e.acct.shell, "-l"}
	}
	return []string{e.acct.shell, "-c", sess.Command}
}

var localeRE = regexp.MustCompile(`^(LANG|LANGUAGE|LC_[A-Z]{1,20})$`)

// env is the session's environment, as sshd would make it.
func (e *Entry) env(sess Session) map[string]string {
	path := "/usr/local/bin:/usr/bin:/bin:/usr/local/games:/usr/games"
	if e.acct.uid == 0 {
		path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
	}
	env := map[string]string{"HOME": e.acct.home, "USER": e.acct.login, "LOGNAME": e.acct.login,
		"SHELL": e.acct.shell, "PATH": path}
	for k, v := range sess.Env {
		if len(v) > 256 || strings.ContainsAny(v, "\x00\n") {
			continue
		}
		if localeRE.MatchString(k) || (k == "TERM" && sess.TTY != nil) {
			env[k] = v
		}
	}
	return env
}

// openEntries are the entries by container: they count as use for the idle
// stop, and are ended with a notice when the gateway stops their container.
type openEntries struct {
	mu sync.Mutex
	by map[ref.Ref]map[*Entry]struct{}
}

func (o *openEntries) add(e *Entry) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.by == nil {
		o.by = map[ref.Ref]map[*Entry]struct{}{}
	}
	if o.by[e.Ref] == nil {
		o.by[e.Ref] = map[*Entry]struct{}{}
	}
	o.by[e.Ref][e] = struct{}{}
}

func (o *openEntries) remove(e *Entry) {
	o.mu.Lock()
	defer o.mu.Unlock()
	delete(o.by[e.Ref], e)
	if len(o.by[e.Ref]) == 0 {
		delete(o.by, e.Ref)
	}
}

// count is how many sessions are open into r.
func (o *openEntries) count(r ref.Ref) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.by[r])
}

// end ends every session into r with notice.
func (o *openEntries) end(r ref.Ref, notice string) {
	o.mu.Lock()
	list := make([]*Entry, 0, len(o.by[r]))
	for e := range o.by[r] {
		list = append(list, e)
	}
	o.mu.Unlock()
	for _, e := range list {
		e.end(notice)
	}
}

// holdOpen is a reader whose end waits for ctx's.
type holdOpen struct {
	r   io.Reader
	ctx context.Context
}

func (h *holdOpen) Read(p []byte) (int, error) {
	n, err := h.r.Read(p)
	if err == io.EOF {
		if n > 0 {
			return n, nil
		}
		<-h.ctx.Done()
	}
	return n, err
}

// accountTTL is how long a login into a container reuses the account it
// read from the container's /etc/passwd: a VS Code window opens a dozen
// forwards at once, and each read is an exec in the container.
const accountTTL = time.Minute

// accountCache holds recent account lookups, by owner/container/login;
// logins that arrive together share one read. A change of the container
// through the gateway (start, stop, delete, a new launch of the name)
// forgets its accounts.
type accountCache struct {
	mu sync.Mutex
	m  map[string]*cachedAccount
}

type cachedAccount struct {
	done chan struct{} // closed when acct and err are set
	acct account
	err  error
	at   time.Time
}

func (c *accountCache) get(key string, read func() (account, error)) (account, error) {
	c.mu.Lock()
	e, ok := c.m[key]
	if ok && (e.at.IsZero() || time.Since(e.at) < accountTTL) {
		c.mu.Unlock()
		<-e.done
		return e.acct, e.err
	}
	if c.m == nil || len(c.m) >= 4096 {
		c.m = map[string]*cachedAccount{} // bounded: a flood of names starts over
	}
	e = &cachedAccount{done: make(chan struct{})}
	c.m[key] = e
	c.mu.Unlock()
	e.acct, e.err = read()
	c.mu.Lock()
	e.at = time.Now()
	if e.err != nil {
		delete(c.m, key) // a failure is not remembered
	}
	c.mu.Unlock()
	close(e.done)
	return e.acct, e.err
}

// drop forgets the accounts of user's container name.
func (c *accountCache) drop(user, name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	prefix := user + "/" + name + "/"
	for k := range c.m {
		if strings.HasPrefix(k, prefix) {
			delete(c.m, k)
		}
	}
}
