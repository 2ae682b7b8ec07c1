package shell

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/lxcgate/lxcgate/internal/containers"
	"github.com/lxcgate/lxcgate/internal/lxd"
	"github.com/lxcgate/lxcgate/internal/lxd/lxdtest"
	"github.com/lxcgate/lxcgate/internal/store/storetest"
	"github.com/lxcgate/lxcgate/internal/users"
)

func newContainerShell(t *testing.T) (*Shell, *lxdtest.Fake) {
	t.Helper()
	ctx := context.Background()
	db := storetest.Open(t)
	us := users.New(db)
	for _, n := range []string{"alice", "bob", "root1"} {
		us.Add(ctx, n, users.RoleUser, "")
	}
	fake := lxdtest.New()
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	cs := containers.New(db, fake, containers.Config{
		DefaultImage: "lxcgate-busybox", CPU: 1, Memory: 256 << 20, Disk: 1 << 30, Prefix: "lxcgate-",
		GPU: lxd.GPUProfile{Name: "lxcgate-nvidia"}, Quota: containers.Quota{Containers: 2, CPU: 4, Memory: 1 << 30, Disk: 10 << 30, GPUs: 1, Ports: 2},
		Services: map[string]int{"ssh": 22}, PortFirst: 42000, PortLast: 42999,
		AppURL: func(owner, name, label string) string {
			return "https://gpu1.example.org:8444/" + owner + "/" + name + "/" + label + "/"
		},
	}, log)
	sh, _, _ := newShellWith(Options{Services: cs, Keys: us, Public: "gpu1.example.org", Gateway: "gpu1.example.org:2222"})
	return sh, fake
}

var bob = users.User{Name: "bob", Role: users.RoleUser}

func TestContainerCommands(t *testing.T) {
	sh, fake := newContainerShell(t)
	for _, tc := range []struct {
		user     users.User
		line     string
		code     int
		out, err string
	}{
		{alice, "images", 0, "lxcgate-busybox", ""},
		{alice, "launch dev", 0, "", "Launched dev"},
		{alice, "launch dev", 1, "", `you already have "dev"`},
		{alice, "create my_box", 1, "", "'_' is not allowed"},
		{alice, "create box --image nope", 1, "", `no image "nope"`},
		{alice, "create box --memory lots", 2, "", `invalid value "lots" for --memory: not a size`},
		{alice, "create box --cpu 9", 1, "", "cpu would be 10, your limit is 4"},
		{alice, "create", 2, "", "missing arguments"},
		{alice, "list", 0, "dev", ""},
		{alice, "list --all", 1, "", "needs the admin role"},
		{bob, "details dev", 1, "", `no such container "dev"`},
		{bob, "stop dev", 1, "", `no such container "dev"`},
		{bob, "delete dev --yes --force", 1, "", `no such container "dev"`},
		{bob, "list", 0, "", "No containers yet"},
		{alice, "delete dev", 1, "", "add --yes to confirm"},
		{alice, "delete dev --yes", 1, "", "running; stop it first or use --force"},
		{alice, "stop dev", 0, "", "Stopped dev."},
		{alice, "restart dev", 1, "", "dev is not running; 'start dev' first"},
		{alice, "start dev", 0, "", "Started dev."},
		{alice, "gpus", 0, "", "no GPUs"},
		{alice, "launch g --gpu all", 1, "", "this host has no GPUs"},
		{alice, "quota alice", 1, "", "needs the admin role"},
		{root, "quota alice --containers 5 --memory 4GiB", 0, "containers  1 / 5", ""},
		{alice, "delete dev --yes --force", 0, "", "Deleted dev."},
	} {
		code, out, errw := exec(sh, tc.user, false, tc.line, "")
		if code != tc.code || !strings.Contains(out, tc.out) || !strings.Contains(errw, tc.err) {
			t.Errorf("%s as %s: code %d out %q err %q; want %d %q %q", tc.line, tc.user.Name, code, out, errw, tc.code, tc.out, tc.err)
		}
	}
	if fake.Count() != 0 {
		t.Fatalf("%d instances left", fake.Count())
	}
}

func TestDetailsJSONKeys(t *testing.T) {
	sh, _ := newContainerShell(t)
	exec(sh, alice, false, "launch dev", "")
	_, out, _ := exec(sh, alice, false, "details dev --json", "")
	var m map[string]any
	if err := json.Unmarshal([]byte(out), &m); err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"name", "owner", "state", "ipv4", "image", "created", "cpu", "memory", "gpus", "ports", "snapshots"} {
		if _, ok := m[k]; !ok {
			t.Errorf("details --json lacks %q: %s", k, out)
		}
	}
	_, out, _ = exec(sh, alice, false, "list --json", "")
	var arr []map[string]any
	if err := json.Unmarshal([]byte(out), &arr); err != nil || len(arr) != 1 || arr[0]["name"] != "dev" {
		t.Fatalf("list --json: %s %v", out, err)
	}
}

func TestInteractiveDeleteAndCompletion(t *testing.T) {
	sh, fake := newContainerShell(t)
	exec(sh, alice, false, "create devbox", "")
	term := startTerminal(sh, alice, false)
	term.waitFor(t, "alice@gpu1> ")
	io.WriteString(term.in, "delete dev\t")
	term.waitFor(t, "delete devbox ")
	io.WriteString(term.in, "\r")
	term.waitFor(t, "Type its name to confirm: ")
	io.WriteString(term.in, "wrong\r")
	term.waitFor(t, "did not match; nothing was deleted")
	io.WriteString(term.in, "delete devbox\r")
	term.waitFor(t, "Type its name")
	io.WriteString(term.in, "devbox\r")
	term.waitFor(t, "Deleted devbox.")
	io.WriteString(term.in, "exit\r")
	<-term.done
	if fake.Count() != 0 {
		t.Fatal("not deleted")
	}
}

// Scenario: a user reads their own quota; naming someone, or setting one,
// stays an admin's.
func TestQuotaForYourself(t *testing.T) {
	sh, _ := newContainerShell(t)
	exec(sh, alice, false, "create dev", "")
	for _, tc := range []struct {
		user     users.User
		line     string
		code     int
		out, err string
	}{
		{alice, "quota", 0, "quota of alice (in use / limit):\n  containers  1 / 2", ""},
		{alice, "quota --json", 0, `"user": "alice"`, ""},
		{alice, "quota bob", 1, "", "quota USER needs the admin role"},
		{alice, "quota alice", 1, "", "needs the admin role"},
		{alice, "quota --containers 9", 1, "", "quota --containers needs the admin role"},
		{root, "quota alice --containers 5 --memory 4GiB", 0, "containers  1 / 5", ""},
		{root, "quota alice --format yaml", 0, "quota:\n  containers: 5\n", ""},
		{root, "quota", 0, "quota of root1", ""},
	} {
		code, out, errw := exec(sh, tc.user, false, tc.line, "")
		if code != tc.code || !strings.Contains(out, tc.out) || !strings.Contains(errw, tc.err) {
			t.Errorf("%s as %s: %d %q %q; want %d %q %q", tc.line, tc.user.Name, code, out, errw, tc.code, tc.out, tc.err)
		}
	}
}

// Scenario: a port published as 'port add dev 6379' is withdrawn with
// 'port del dev 6379' (its label is port6379).
func TestPortDelByNumber(t *testing.T) {
	sh, _ := newContainerShell(t)
	exec(sh, alice, false, "create dev", "")
	for _, tc := range []struct {
		line string
		code int
		err  string
	}{
		{"port add dev 6379", 0, "Published dev port 6379"},
		{"port add dev 8888 --name jupyter", 0, "Published dev port 8888"},
		{"port del dev 6379", 0, "Withdrew 6379 from dev."},
		{"port del dev 6379", 1, `dev publishes no port "6379"`},
		{"port del dev 8888", 0, "Withdrew 8888 from dev."},
		{"port del dev 22", 1, "cannot be removed"},
		{"port frob dev 22", 2, "use 'port add"},
		{"port add dev 8888 --web --name jupyter", 0, "as web app jupyter for you alone (sign in with 'web'): https://gpu1.example.org:8444/alice/dev/jupyter/"},
		{"port add dev 8889 --web --name Bad", 1, "lower-case"},
	} {
		if code, _, errw := exec(sh, alice, false, tc.line, ""); code != tc.code || !strings.Contains(errw, tc.err) {
			t.Errorf("%s: %d %q; want %d %q", tc.line, code, errw, tc.code, tc.err)
		}
	}
	if code, _, errw := exec(sh, bob, false, "port del dev 6379", ""); code != 1 || !strings.Contains(errw, `no such container "dev"`) {
		t.Errorf("bob: %d %q", code, errw)
	}
	if _, out, _ := exec(sh, alice, false, "ports dev", ""); !regexp.MustCompile(`jupyter +8888 +web +https://gpu1.example.org:8444/alice/dev/jupyter/`).MatchString(out) {
		t.Errorf("ports: %q", out)
	}
	if _, out, _ := exec(sh, alice, false, "details dev", ""); !strings.Contains(out, "web app -> 8888   https://gpu1.example.org:8444/alice/dev/jupyter/") {
		t.Errorf("details: %q", out)
	}
	if code, _, errw := exec(sh, bob, false, "port add dev 8888 --web", ""); code != 1 || !strings.Contains(errw, `no such container "dev"`) {
		t.Errorf("bob: %d %q", code, errw)
	}
	if code, _, errw := exec(sh, alice, false, "port del dev jupyter", ""); code != 0 || !strings.Contains(errw, "Withdrew jupyter") {
		t.Errorf("withdraw the app: %d %q", code, errw)
	}
}

// Scenario: launch returns once the container has its address, so that
// details right after is complete, and ends with the ssh command.
func TestLaunchWaitsForTheAddress(t *testing.T) {
	sh, _ := newContainerShell(t)
	code, out, errw := exec(sh, alice, false, "launch dev", "")
	if code != 0 || !strings.Contains(errw, "Launched dev (10.166.0.") || !strings.HasPrefix(out, "ssh -p 42") || !strings.HasSuffix(out, " ubuntu@gpu1.example.org\n") {
		t.Fatalf("launch: %d %q %q", code, out, errw)
	}
	_, details, _ := exec(sh, alice, false, "details dev", "")
	if !strings.Contains(details, strings.TrimSpace(out)) {
		t.Errorf("details lacks the line launch printed:\n%s", details)
	}
	if code, _, errw := exec(sh, alice, false, "launch dev2 --no-wait", ""); code != 0 || !strings.Contains(errw, "Launched dev2") {
		t.Errorf("launch --no-wait: %d %q", code, errw)
	}
	if code, _, errw := exec(sh, alice, false, "create dev3 --no-wait", ""); code != 2 || !strings.Contains(errw, "unknown flag --no-wait") {
		t.Errorf("create --no-wait: %d %q", code, errw)
	}
}

// noLease is a service whose containers never get an address.
type noLease struct{ containers.API }

func (n noLease) Create(ctx context.Context, user string, req containers.CreateRequest) (containers.Container, error) {
	ct, err := n.API.Create(ctx, user, req)
	ct.IPv4 = ""
	return ct, err
}

func (n noLease) Get(ctx context.Context, user, name string) (containers.Container, error) {
	ct, err := n.API.Get(ctx, user, name)
	ct.IPv4 = ""
	return ct, err
}

func (n noLease) WaitAddress(ctx context.Context, user, name string) (containers.Container, error) {
	<-ctx.Done()
	ct, err := n.Get(context.WithoutCancel(ctx), user, name)
	if err != nil {
		return ct, err
	}
	return ct, ctx.Err()
}

// Scenario: a container that never gets a lease: launch gives up after
// LaunchWait, says so, and succeeds (the container runs).
func TestLaunchWaitEnds(t *testing.T) {
	sh, _ := newContainerShell(t)
	sh.cs = noLease{sh.cs}
	sh.launchWait = 600 * time.Millisecond
	start := time.Now()
	code, out, errw := exec(sh, alice, false, "launch dev", "")
	if code != 0 || out != "" || !strings.Contains(errw, "dev has no address yet after 600ms") || time.Since(start) > 5*time.Second {
		t.Fatalf("launch: %d %q %q after %s", code, out, errw, time.Since(start))
	}
}
