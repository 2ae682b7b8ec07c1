package e2e

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// Views: what the gateway's JSON output and 'lxcgate doctor --json' say,
// as the tests read them. One type per shape the gateway writes.

// container is one container as 'list --json', 'details --json' and the
// web API's GET /api/v1/containers write it (containers.Container): the
// fields the tests read.
type container struct {
	Name      string   `json:"name"`
	Owner     string   `json:"owner"`
	State     string   `json:"state"`
	IPv4      string   `json:"ipv4"`
	GPUs      []string `json:"gpus"`
	Ports     []port   `json:"ports"`
	Host      string   `json:"host"`      // cluster member; "" on one host
	Placement string   `json:"placement"` // why a new one went to its member
	// Expires is when its lease runs out; nil without a lease.
	Expires *time.Time `json:"expires"`
	Reason  string     `json:"reason"` // why the gateway stopped it
}

// hostPort is the host port published for containerPort, or 0.
func (c container) hostPort(containerPort int) int {
	for _, p := range c.Ports {
		if p.ContainerPort == containerPort {
			return p.HostPort
		}
	}
	return 0
}

// listJSON is 'list --json' as user.
func (g *gw) listJSON(user, key string) []container {
	g.t.Helper()
	r := g.sshKey(user, key, "", "list", "--json")
	if r.code != 0 {
		g.t.Fatalf("list --json: %+v", r)
	}
	var cs []container
	if err := json.Unmarshal([]byte(r.out), &cs); err != nil {
		g.t.Fatalf("list --json: %v\n%s", err, r.out)
	}
	return cs
}

// details is 'details NAME --json' as user: a container as its owner sees it.
func (g *gw) details(user, key, name string) container {
	g.t.Helper()
	r := g.sshKey(user, key, "", "details", name, "--json")
	var c container
	if err := json.Unmarshal([]byte(r.out), &c); r.code != 0 || err != nil {
		g.t.Fatalf("details %s --json: %v %+v", name, err, r)
	}
	return c
}

// containersOf is 'list --json' with each container's ports from 'ports
// NAME --json', by name.
func (g *gw) containersOf(user, key string) map[string]container {
	g.t.Helper()
	r := g.sshKey(user, key, "", "list", "--json")
	var cs []container
	if err := json.Unmarshal([]byte(r.out), &cs); err != nil {
		g.t.Fatalf("list --json: %v %+v", err, r)
	}
	out := map[string]container{}
	for _, c := range cs {
		pr := g.sshKey(user, key, "", "ports", c.Name, "--json")
		c.Ports = nil
		if err := json.Unmarshal([]byte(pr.out), &c.Ports); err != nil {
			g.t.Fatalf("ports --json: %v %+v", err, pr)
		}
		out[c.Name] = c
	}
	return out
}

// snapshot is one snapshot as 'snapshots NAME --json' writes it, without
// its size, which grows as the running container writes.
type snapshot struct {
	Name    string `json:"name"`
	Created string `json:"created"`
	Pinned  bool   `json:"pinned"`
}

// port is one published port as 'ports NAME --json' writes it.
type port struct {
	Service       string `json:"service"`
	ContainerPort int    `json:"container_port"`
	HostPort      int    `json:"host_port"`
}

// sshPort is the host port published for a container's ssh.
func (g *gw) sshPort(user, key, name string) int {
	g.t.Helper()
	r := g.sshKey(user, key, "", "ports", name, "--json")
	var ps []port
	if err := json.Unmarshal([]byte(r.out), &ps); err != nil {
		g.t.Fatalf("ports --json: %v %+v", err, r)
	}
	for _, p := range ps {
		if p.Service == "ssh" && p.ContainerPort == 22 {
			return p.HostPort
		}
	}
	g.t.Fatalf("no ssh port in %+v", ps)
	return 0
}

// gatewayState is what the gateway tells the owner about a container.
func (g *gw) gatewayState(user, key, name string) string {
	g.t.Helper()
	var b strings.Builder
	for _, args := range [][]string{{"list", "--json"}, {"ports", name, "--json"}, {"snapshots", name, "--json"}, {"details", name, "--json"}} {
		r := g.runWords(user, key, "", args...)
		fmt.Fprintf(&b, "%v => %d\n%s%s", args, r.code, r.out, r.err)
	}
	// A snapshot's size grows as the running container writes: left out.
	return regexp.MustCompile(`"size": -?\d+`).ReplaceAllString(b.String(), `"size": _`)
}

// doctorReport is what 'lxcgate doctor --json' prints.
type doctorReport struct {
	Checks []struct{ Name, Status, Detail string } `json:"checks"`
}

// status is a check's status and detail, or "", "" if the report lacks it.
func (r doctorReport) status(name string) (string, string) {
	for _, c := range r.Checks {
		if c.Name == name {
			return c.Status, c.Detail
		}
	}
	return "", ""
}

// doctor runs 'lxcgate doctor --json' with extra environment and returns
// the report and the exit status.
func (g *gw) doctor(env ...string) (doctorReport, int, string) {
	g.t.Helper()
	cmd := exec.Command(binary, "--data", filepath.Join(g.dir, "data"), "doctor", "--json")
	cmd.Env = append(append(os.Environ(), g.envVars...), env...)
	var errb strings.Builder
	cmd.Stderr = &errb
	out, _ := cmd.Output()
	var r doctorReport
	if err := json.Unmarshal(out, &r); err != nil {
		g.t.Fatalf("doctor --json: %v\n%s\n%s", err, out, errb.String())
	}
	return r, cmd.ProcessState.ExitCode(), errb.String()
}
