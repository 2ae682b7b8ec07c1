package e2e

import (
	"fmt"
	"os/exec"
	"sort"
	"strings"
	"testing"
	"time"
)

func lxc(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("lxc", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("lxc %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return string(out)
}

func lxcExec(t *testing.T, project, name, script string) (string, error) {
	t.Helper()
	out, err := exec.Command("lxc", "exec", name, "--project", project, "--", "sh", "-c", script).CombinedOutput()
	return string(out), err
}

// nested runs the nested cluster's lxc through member1.
func nested(args ...string) (string, error) {
	out, err := exec.Command("lxc", append([]string{"exec", "labcluster-m1", "--project", "labcluster", "--", "lxc"}, args...)...).CombinedOutput()
	return string(out), err
}

func removeProjects(prefix string) {
	// An LXD operation the gateway started may still be running when the
	// test ends (a cancelled launch's unpack): try again for a while.
	for attempt := 0; attempt < 10; attempt++ {
		left := 0
		out, _ := exec.Command("lxc", "project", "list", "--format", "csv").Output()
		for _, line := range strings.Split(string(out), "\n") {
			name, _, _ := strings.Cut(line, ",")
			p := strings.Fields(strings.TrimSuffix(name, " (current)"))
			if len(p) == 0 || !strings.HasPrefix(p[0], prefix) {
				continue
			}
			names, _ := exec.Command("lxc", "list", "--project", p[0], "--format", "csv", "-c", "n").Output()
			for _, n := range strings.Fields(string(names)) {
				exec.Command("lxc", "delete", "--force", "--project", p[0], n).Run()
			}
			if exec.Command("lxc", "project", "delete", p[0]).Run() != nil {
				left++
			}
		}
		if left == 0 {
			return
		}
		time.Sleep(time.Second)
	}
}

func removeClusterProjects(prefix string) {
	out, _ := nested("project", "list", "--format", "csv")
	for _, line := range strings.Split(out, "\n") {
		name, _, _ := strings.Cut(line, ",")
		name = strings.TrimSuffix(name, " (current)")
		if !strings.HasPrefix(name, prefix) {
			continue
		}
		ls, _ := nested("list", "--project", name, "--format", "csv", "-c", "n")
		for _, in := range strings.Fields(ls) {
			nested("delete", "--force", "--project", name, in)
		}
		nested("project", "delete", name)
	}
}

// lxdNames lists the instances LXD holds in a project.
func lxdNames(t *testing.T, project string) []string {
	t.Helper()
	out, err := exec.Command("lxc", "list", "--project", project, "--format", "csv", "-c", "n").CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), "not found") {
			return nil
		}
		t.Fatalf("lxc list %s: %v %s", project, err, out)
	}
	names := strings.Fields(string(out))
	sort.Strings(names)
	return names
}

// lxdState is the container's state as LXD itself says it.
func lxdState(t *testing.T, g *gw, name string) string {
	t.Helper()
	prefix := ""
	for _, e := range g.envVars {
		if v, ok := strings.CutPrefix(e, "LXCGATE_CONTAINERS_PROJECT_PREFIX="); ok {
			prefix = v
		}
	}
	out, err := exec.Command("lxc", "list", "--project", prefix+"alice", "--format", "csv", "-c", "ns", name).Output()
	if err != nil {
		t.Fatalf("lxc list: %v", err)
	}
	_, st, _ := strings.Cut(strings.TrimSpace(string(out)), ",")
	return st
}

// isoSnapshotsSection is the snapshot table of 'lxc info' (empty when the
// instance has none).
func isoSnapshotsSection(t *testing.T, project, name string) string {
	t.Helper()
	out, err := exec.Command("lxc", "info", name, "--project", project).CombinedOutput()
	if err != nil {
		t.Fatalf("lxc info %s: %v %s", name, err, out)
	}
	_, snaps, _ := strings.Cut(string(out), "\nSnapshots:")
	return snaps
}

// isoLXDState is what LXD holds for user's container: instances and states
// of the project, the snapshot table, the configuration without volatile
// keys (autosnap lands there), and the files setpass and key would change.
func isoLXDState(t *testing.T, project, name string) string {
	t.Helper()
	var b strings.Builder
	list, _ := exec.Command("lxc", "list", "--project", project, "--format", "csv", "-c", "ns").CombinedOutput()
	fmt.Fprintf(&b, "instances:\n%s\nsnapshots:%s\n", list, isoSnapshotsSection(t, project, name))
	cfg, _ := exec.Command("lxc", "config", "show", name, "--project", project).CombinedOutput()
	for _, l := range strings.Split(string(cfg), "\n") {
		if !strings.Contains(l, "volatile.") {
			b.WriteString(l + "\n")
		}
	}
	files, _ := exec.Command("lxc", "exec", name, "--project", project, "--", "sh", "-c",
		"cat /etc/passwd /etc/shadow /home/ubuntu/.ssh/authorized_keys /root/.ssh/authorized_keys 2>&1").CombinedOutput()
	fmt.Fprintf(&b, "files:\n%s", files)
	return b.String()
}
