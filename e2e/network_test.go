package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync/atomic"
	"testing"
)

// The host's network as the tests see it: iptables rules, the client
// namespace, host listeners, servers inside containers and ssh -J configs.

// testChainRE matches the chains of tests' own gateways (portsGW): the
// dispatch chain, its blocks of DNAT rules, the FORWARD chain.
var testChainRE = regexp.MustCompile(`E2E[0-9]+-(DNAT|FWD|D[0-9]+)\b`)

// othersRules is iptables-save without lxcgate's chains and jumps and
// without counters: what lxcgate must never touch.
func othersRules(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("iptables-save").Output()
	if err != nil {
		t.Fatalf("iptables-save: %v", err)
	}
	var keep []string
	for _, l := range strings.Split(string(out), "\n") {
		// LXD's own rules for its bridge come and go with the daemon (a
		// test restarts it); they are not lxcgate's to keep.
		if strings.HasPrefix(l, "#") || strings.Contains(l, "LXCGATE") || testChainRE.MatchString(l) || strings.Contains(l, "generated for LXD network") {
			continue
		}
		keep = append(keep, regexp.MustCompile(`\[\d+:\d+\]`).ReplaceAllString(l, ""))
	}
	return strings.Join(keep, "\n")
}

// natRules lists the gateway's DNAT decisions. On nftables (its own table,
// read with nft -j) each element of the map comes as the iptables rule it
// replaces, so that one set of checks reads both backends:
// "-A TABLE:ports -p tcp --dport HP -m comment --comment C -j DNAT
// --to-destination IP:PORT". On iptables, the rules of its nat chains as
// iptables -S prints them: the jumps of PREFIX-DNAT to the blocks of host
// ports, then the DNAT rules in the blocks, PREFIX-D<port/64>.
func (g *gw) natRules() string {
	if els, ok := nftElements(strings.ToLower(g.chains)); ok {
		var keep []string
		for _, e := range els {
			keep = append(keep, fmt.Sprintf("-A %s:ports -p tcp --dport %d -m comment --comment %q -j DNAT --to-destination %s:%d",
				strings.ToLower(g.chains), e.port, e.comment, e.ip, e.cport))
		}
		return strings.Join(keep, "\n") + "\n"
	}
	out, _ := exec.Command("iptables", "-t", "nat", "-S").CombinedOutput()
	ours := regexp.MustCompile(`^-A ` + regexp.QuoteMeta(g.chains) + `-(DNAT|D[0-9]+) `)
	var keep []string
	for _, l := range strings.Split(string(out), "\n") {
		if ours.MatchString(l) {
			keep = append(keep, l)
		}
	}
	return strings.Join(keep, "\n") + "\n"
}

// nftElement is one element of a gateway's map, as nft(8) reads it.
type nftElement struct {
	port, cport int
	ip, comment string
}

// nftElements reads the map of table ip TABLE; false when there is no
// such table (the gateway is on iptables, or gone).
func nftElements(table string) ([]nftElement, bool) {
	out, err := exec.Command("nft", "-j", "list", "map", "ip", table, "ports").Output()
	if err != nil {
		return nil, false
	}
	var doc struct {
		Nftables []struct {
			Map *struct {
				Elem [][2]json.RawMessage `json:"elem"`
			} `json:"map"`
		} `json:"nftables"`
	}
	if err := json.Unmarshal(out, &doc); err != nil {
		return nil, false
	}
	var els []nftElement
	for _, o := range doc.Nftables {
		if o.Map == nil {
			continue
		}
		for _, kv := range o.Map.Elem {
			var key struct {
				Elem struct {
					Val     int    `json:"val"`
					Comment string `json:"comment"`
				} `json:"elem"`
			}
			var val struct {
				Concat []json.RawMessage `json:"concat"`
			}
			var e nftElement
			if json.Unmarshal(kv[0], &key) == nil {
				e.port, e.comment = key.Elem.Val, key.Elem.Comment
			}
			if e.port == 0 {
				json.Unmarshal(kv[0], &e.port)
			}
			if json.Unmarshal(kv[1], &val) == nil && len(val.Concat) == 2 {
				json.Unmarshal(val.Concat[0], &e.ip)
				json.Unmarshal(val.Concat[1], &e.cport)
			}
			els = append(els, e)
		}
	}
	sort.Slice(els, func(i, j int) bool { return els[i].port < els[j].port })
	return els, true
}

// fromClient runs ssh from the client namespace to a published port.
func fromClient(t *testing.T, key string, hostPort int, cmd string) result {
	t.Helper()
	return runCmd(t, "", "ip", "netns", "exec", clientNS, "ssh", "-F", "/dev/null", "-p", fmt.Sprint(hostPort), "-i", key,
		"-o", "IdentitiesOnly=yes", "-o", "IdentityAgent=none", "-o", "BatchMode=yes", "-o", "StrictHostKeyChecking=no",
		"-o", "UserKnownHostsFile=/dev/null", "-o", "LogLevel=ERROR", "-o", "ConnectTimeout=3", "ubuntu@"+hostAddr, cmd)
}

// pushKey authorises key for ubuntu in the container, as the key command
// of a later issue will.
func pushKey(t *testing.T, project, name, key string) {
	t.Helper()
	for _, args := range [][]string{
		{"exec", name, "--project", project, "--", "install", "-d", "-m", "700", "-o", "1000", "-g", "1000", "/home/ubuntu/.ssh"},
		{"file", "push", key + ".pub", name + "/home/ubuntu/.ssh/authorized_keys", "--project", project, "--uid", "1000", "--gid", "1000", "--mode", "0600"},
	} {
		if out, err := lxcAll(args...); err != nil {
			t.Fatalf("lxc %v: %v %s", args, err, out)
		}
	}
}

// httpGet fetches / on addr:port from the client namespace.
func httpGet(t *testing.T, addr string, port int) string {
	t.Helper()
	r := runCmd(t, "", "ip", "netns", "exec", clientNS, "timeout", "5", "bash", "-c",
		fmt.Sprintf("exec 3<>/dev/tcp/%s/%d; printf 'GET / HTTP/1.0\\r\\n\\r\\n' >&3; cat <&3", addr, port))
	return r.out
}

// serveHTTP starts busybox's httpd on 8080 in a nested container.
func serveHTTP(t *testing.T, project, name, body string) {
	t.Helper()
	out, err := nested("exec", name, "--project", project, "--", "sh", "-c",
		"mkdir -p /www && echo "+body+" > /www/index.html && httpd -p 8080 -h /www")
	if err != nil {
		t.Fatalf("httpd in %s: %v %s", name, err, out)
	}
}

// jumpConfig writes an ssh_config with the gateway as "gw" and the
// containers as plain names, so that the stock client's -J is tested as is.
func (g *gw) jumpConfig(user, gwKey, boxKey string) string {
	g.t.Helper()
	cfg := fmt.Sprintf(`Host gw
  HostName 127.0.0.1
  Port %s
  User %s
  IdentityFile %s
  UserKnownHostsFile %s
  StrictHostKeyChecking yes
Host *
  IdentitiesOnly yes
  IdentityAgent none
  BatchMode yes
  LogLevel ERROR
  ConnectTimeout 5
  User ubuntu
  IdentityFile %s
  StrictHostKeyChecking no
  UserKnownHostsFile /dev/null
`, g.port, user, gwKey, g.known, boxKey)
	path := filepath.Join(g.dir, "ssh_config_"+user)
	os.WriteFile(path, []byte(cfg), 0o600)
	return path
}

// hostListener accepts on addr, writes a banner and counts connections: a
// refused destination must never be dialled.
type hostListener struct {
	addr     string
	accepted atomic.Int32
}

// listenHost listens on addr (nil if it cannot) and counts what it accepts.
func listenHost(t *testing.T, addr string) *hostListener {
	t.Helper()
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil
	}
	l := &hostListener{addr: ln.Addr().String()}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			l.accepted.Add(1)
			c.Write([]byte("HOST-LISTENER-" + l.addr + "\n"))
			c.Close()
		}
	}()
	return l
}

// serveBanner runs a busybox nc server in a container that answers every
// connection to port with banner.
func serveBanner(t *testing.T, project, name string, port int, banner string) {
	t.Helper()
	script := fmt.Sprintf("setsid nc -ll -p %d -e echo %s </dev/null >/dev/null 2>&1 &", port, banner)
	if out, err := lxcExec(project, name, script); err != nil {
		t.Fatalf("nc in %s: %v %s", name, err, out)
	}
}

// firstForwardJump names the first chain FORWARD jumps to that is a
// gateway's accept chain (NAME-FWD).
func firstForwardJump(t *testing.T) string {
	t.Helper()
	out, _ := exec.Command("iptables", "-S", "FORWARD").Output()
	for _, l := range strings.Split(string(out), "\n") {
		if _, target, ok := strings.Cut(l, " -j "); ok && strings.HasSuffix(strings.Fields(target)[0], "-FWD") {
			return strings.Fields(target)[0]
		}
	}
	return ""
}
