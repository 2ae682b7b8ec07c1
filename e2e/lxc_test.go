package e2e

import (
	"fmt"
	"os/exec"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// The tests reach LXD through the lxc client only, and through these
// helpers only: lxcCmd is the one place that starts it.

// lxcRun runs an lxc client with args and returns what it printed: lxcOut
// and lxcAll run the host's, nested the nested cluster's.
type lxcRun func(args ...string) (string, error)

// lxcCmd is the host's lxc with args, for a caller that must set more
// than the arguments (its standard input).
func lxcCmd(args ...string) *exec.Cmd { return exec.Command("lxc", args...) }

// lxcOut runs the host's lxc and returns its standard output alone: what
// a caller parses, where a warning on standard error must not end up.
func lxcOut(args ...string) (string, error) {
	out, err := lxcCmd(args...).Output()
	return string(out), err
}

// lxcAll runs the host's lxc and returns its standard output and error as
// they came: what a caller shows in a failure or searches for a message.
func lxcAll(args ...string) (string, error) {
	out, err := lxcCmd(args...).CombinedOutput()
	return string(out), err
}

// lxc is lxcAll for a command that must work: the test fails if it does not.
func lxc(t *testing.T, args ...string) string {
	t.Helper()
	out, err := lxcAll(args...)
	if err != nil {
		t.Fatalf("lxc %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// lxcExec runs a shell script in a container and returns its output.
func lxcExec(project, name, script string) (string, error) {
	return lxcAll("exec", name, "--project", project, "--", "sh", "-c", script)
}

// nested runs the nested cluster's lxc through member1, as lxcAll does.
func nested(args ...string) (string, error) {
	return lxcAll(append([]string{"exec", "labcluster-m1", "--project", "labcluster", "--", "lxc"}, args...)...)
}

// removeProjects deletes, with run, every project whose name begins with
// prefix and the instances in it. An LXD operation the gateway started may
// still be running when the test ends (a cancelled launch's unpack): it
// tries again for a while.
func removeProjects(run lxcRun, prefix string) {
	for attempt := 0; attempt < 10; attempt++ {
		left := 0
		out, _ := run("project", "list", "--format", "csv")
		for _, line := range strings.Split(out, "\n") {
			name, _, _ := strings.Cut(line, ",")
			p := strings.Fields(strings.TrimSuffix(name, " (current)"))
			if len(p) == 0 || !strings.HasPrefix(p[0], prefix) {
				continue
			}
			names, _ := run("list", "--project", p[0], "--format", "csv", "-c", "n")
			for _, n := range strings.Fields(names) {
				run("delete", "--force", "--project", p[0], n)
			}
			if _, err := run("project", "delete", p[0]); err != nil {
				left++
			}
		}
		if left == 0 {
			return
		}
		time.Sleep(time.Second)
	}
}

// lxdNames lists the instances LXD holds in a project.
func lxdNames(t *testing.T, project string) []string {
	t.Helper()
	out, err := lxcAll("list", "--project", project, "--format", "csv", "-c", "n")
	if err != nil {
		if strings.Contains(out, "not found") {
			return nil
		}
		t.Fatalf("lxc list %s: %v %s", project, err, out)
	}
	names := strings.Fields(out)
	sort.Strings(names)
	return names
}

// lxdState is the container's state as LXD itself says it.
func lxdState(t *testing.T, g *gw, name string) string {
	t.Helper()
	out, err := lxcOut("list", "--project", g.prefix+"alice", "--format", "csv", "-c", "ns", name)
	if err != nil {
		t.Fatalf("lxc list: %v", err)
	}
	_, st, _ := strings.Cut(strings.TrimSpace(out), ",")
	return st
}

// lxdSnapshots is the snapshot table of 'lxc info' (empty when the
// instance has none).
func lxdSnapshots(t *testing.T, project, name string) string {
	t.Helper()
	out, err := lxcAll("info", name, "--project", project)
	if err != nil {
		t.Fatalf("lxc info %s: %v %s", name, err, out)
	}
	_, snaps, _ := strings.Cut(out, "\nSnapshots:")
	return snaps
}

// lxdContainerState is what LXD holds for user's container: instances and states
// of the project, the snapshot table, the configuration without volatile
// keys (autosnap lands there), and the files setpass and key would change.
func lxdContainerState(t *testing.T, project, name string) string {
	t.Helper()
	var b strings.Builder
	list, _ := lxcAll("list", "--project", project, "--format", "csv", "-c", "ns")
	fmt.Fprintf(&b, "instances:\n%s\nsnapshots:%s\n", list, lxdSnapshots(t, project, name))
	cfg, _ := lxcAll("config", "show", name, "--project", project)
	for _, l := range strings.Split(cfg, "\n") {
		if !strings.Contains(l, "volatile.") {
			b.WriteString(l + "\n")
		}
	}
	files, _ := lxcExec(project, name,
		"cat /etc/passwd /etc/shadow /home/ubuntu/.ssh/authorized_keys /root/.ssh/authorized_keys 2>&1")
	fmt.Fprintf(&b, "files:\n%s", files)
	return b.String()
}

// gpuDevices is what `lxc config show --expanded` says of an instance's
// GPU devices: the lines of each device of type gpu.
func gpuDevices(t *testing.T, project, name string) string {
	t.Helper()
	out := lxc(t, "config", "show", name, "--expanded", "--project", project)
	_, devs, _ := strings.Cut(out, "\ndevices:\n")
	var gpus []string
	var dev []string // the device being read: its name, then its keys
	flush := func() {
		if slices.Contains(dev, "type: gpu") {
			gpus = append(gpus, strings.Join(dev, " "))
		}
		dev = nil
	}
	for _, line := range strings.Split(devs, "\n") {
		switch {
		case strings.HasPrefix(line, "    "):
			dev = append(dev, strings.TrimSpace(line))
		case strings.HasPrefix(line, "  "):
			flush()
			dev = []string{strings.TrimSpace(line)}
		default:
			flush()
			return strings.Join(gpus, "; ")
		}
	}
	flush()
	return strings.Join(gpus, "; ")
}

// addGPU gives a stopped instance a GPU device behind the gateway's back,
// as an admin with lxc could (the lab has no GPU: LXD checks it only at
// start).
func addGPU(t *testing.T, project, name string) {
	t.Helper()
	lxc(t, "config", "device", "add", name, "gpu0", "gpu", "pci=0000:01:00.0", "--project", project)
	if got := gpuDevices(t, project, name); !strings.Contains(got, "0000:01:00.0") {
		t.Fatalf("the device did not take: %q", got)
	}
}
