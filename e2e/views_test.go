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

type container struct {
	Name  string   `json:"name"`
	Owner string   `json:"owner"`
	State string   `json:"state"`
	IPv4  string   `json:"ipv4"`
	Ports []any    `json:"ports"`
	GPUs  []string `json:"gpus"`
}

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

// detailsJSON returns a container's details as its owner sees them.
func (g *gw) detailsJSON(user, key, name string) container {
	g.t.Helper()
	r := g.sshKey(user, key, "", "details", name, "--json")
	var c container
	if r.code != 0 || json.Unmarshal([]byte(r.out), &c) != nil {
		g.t.Fatalf("details %s: %+v", name, r)
	}
	return c
}

type clusterContainer struct {
	Name      string `json:"name"`
	State     string `json:"state"`
	IPv4      string `json:"ipv4"`
	Host      string `json:"host"`
	Placement string `json:"placement"`
	Ports     []port `json:"ports"`
}

func (g *gw) container(user, key, name string) clusterContainer {
	g.t.Helper()
	r := g.sshKey(user, key, "", "details", name, "--json")
	var c clusterContainer
	if err := json.Unmarshal([]byte(r.out), &c); err != nil {
		g.t.Fatalf("details %s --json: %v %+v", name, err, r)
	}
	return c
}

func (c clusterContainer) hostPort(containerPort int) int {
	for _, p := range c.Ports {
		if p.ContainerPort == containerPort {
			return p.HostPort
		}
	}
	return 0
}

type leased struct {
	Name    string     `json:"name"`
	State   string     `json:"state"`
	Expires *time.Time `json:"expires"`
	Reason  string     `json:"reason"`
}

func (g *gw) leased(user, key, name string) leased {
	g.t.Helper()
	r := g.sshKey(user, key, "", "details", name, "--json")
	var l leased
	if err := json.Unmarshal([]byte(r.out), &l); err != nil {
		g.t.Fatalf("details %s --json: %v %+v", name, err, r)
	}
	return l
}

type listed struct {
	Name  string `json:"name"`
	Owner string `json:"owner"`
	Ports []port `json:"ports"`
}

// containersOf is 'list --json' with each container's ports, by name.
func (g *gw) containersOf(user, key string) map[string]listed {
	g.t.Helper()
	r := g.sshKey(user, key, "", "list", "--json")
	var cs []listed
	if err := json.Unmarshal([]byte(r.out), &cs); err != nil {
		g.t.Fatalf("list --json: %v %+v", err, r)
	}
	out := map[string]listed{}
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

type port struct {
	Service       string `json:"service"`
	ContainerPort int    `json:"container_port"`
	HostPort      int    `json:"host_port"`
}

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

// isoGatewayState is what the gateway tells the owner about a container.
func (g *gw) isoGatewayState(user, key, name string) string {
	g.t.Helper()
	var b strings.Builder
	for _, args := range [][]string{{"list", "--json"}, {"ports", name, "--json"}, {"snapshots", name, "--json"}, {"details", name, "--json"}} {
		r := g.isoRun(user, key, "", args...)
		fmt.Fprintf(&b, "%v => %d\n%s%s", args, r.code, r.out, r.err)
	}
	// A snapshot's size grows as the running container writes: left out.
	return regexp.MustCompile(`"size": -?\d+`).ReplaceAllString(b.String(), `"size": _`)
}

type doctorReport struct {
	Checks []struct{ Name, Status, Detail string } `json:"checks"`
}

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
