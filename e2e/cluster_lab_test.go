package e2e

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/BurntSushi/toml"
)

// TestClusterLab checks what cluster tests stand on: three members online in
// the nested cluster, each answering on its address with the pinned cluster
// certificate and the trusted client certificate of the written config, the
// busybox image on the cluster, and a GPU member.
func TestClusterLab(t *testing.T) {
	c := needCluster(t)
	if len(c.Members) != 3 {
		t.Fatalf("want 3 members, have %d: %+v", len(c.Members), c.Members)
	}
	for i, m := range c.Members {
		if want := fmt.Sprintf("member%d", i+1); m.Name != want {
			t.Errorf("member %d is %q, want %q", i, m.Name, want)
		}
		if ip := net.ParseIP(m.Address); ip == nil || !strings.HasPrefix(m.Address, "10.166.0.") {
			t.Errorf("%s: address %q is not on the lab bridge", m.Name, m.Address)
		}
		if m.OuterProject == "" || m.OuterInstance == "" {
			t.Errorf("%s: no outer instance: %+v", m.Name, m)
		}
	}

	raw, err := os.ReadFile(c.Config)
	if err != nil {
		t.Fatalf("gateway config: %v", err)
	}
	var conf struct {
		LXD struct {
			URL        string `toml:"url"`
			ServerCert string `toml:"server_cert"`
			ClientCert string `toml:"client_cert"`
			ClientKey  string `toml:"client_key"`
		} `toml:"lxd"`
		Containers struct {
			DefaultImage string `toml:"default_image"`
		} `toml:"containers"`
	}
	if _, err := toml.Decode(string(raw), &conf); err != nil {
		t.Fatalf("gateway config %s: %v\n%s", c.Config, err, raw)
	}
	if want := "https://" + c.Members[0].Address + ":8443"; conf.LXD.URL != want {
		t.Errorf("[lxd] url = %q, want %q", conf.LXD.URL, want)
	}
	if conf.LXD.ServerCert == "" || conf.LXD.ClientCert == "" || conf.LXD.ClientKey == "" {
		t.Fatalf("[lxd] lacks server_cert, client_cert or client_key:\n%s", raw)
	}

	// Every member answers with the one pinned cluster certificate and trusts
	// the client certificate: what the gateway does with the config.
	pinned, err := os.ReadFile(conf.LXD.ServerCert)
	if err != nil {
		t.Fatalf("server_cert: %v", err)
	}
	block, _ := pem.Decode(pinned)
	if block == nil {
		t.Fatalf("server_cert %s holds no PEM certificate", conf.LXD.ServerCert)
	}
	pair, err := tls.LoadX509KeyPair(conf.LXD.ClientCert, conf.LXD.ClientKey)
	if err != nil {
		t.Fatalf("client certificate: %v", err)
	}
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{
		Certificates:       []tls.Certificate{pair},
		InsecureSkipVerify: true, // the certificate is pinned below instead
		VerifyPeerCertificate: func(certs [][]byte, _ [][]*x509.Certificate) error {
			if len(certs) == 0 || !bytes.Equal(certs[0], block.Bytes) {
				return fmt.Errorf("the member's certificate is not the pinned cluster certificate")
			}
			return nil
		},
	}}}
	for _, m := range c.Members {
		var server struct {
			Metadata struct {
				Auth        string `json:"auth"`
				Environment struct {
					ServerName      string `json:"server_name"`
					ServerClustered bool   `json:"server_clustered"`
				} `json:"environment"`
			} `json:"metadata"`
		}
		getJSON(t, client, "https://"+m.Address+":8443/1.0", &server)
		e := server.Metadata.Environment
		if server.Metadata.Auth != "trusted" || e.ServerName != m.Name || !e.ServerClustered {
			t.Errorf("%s at %s: auth %q, server_name %q, clustered %v", m.Name, m.Address, server.Metadata.Auth, e.ServerName, e.ServerClustered)
		}
	}

	// The nested cluster's own view, through the lxc CLI inside member1.
	first := c.Members[0]
	out, err := lxcAll("--project", first.OuterProject, "exec", first.OuterInstance, "--",
		"lxc", "query", "/1.0/cluster/members?recursion=1")
	if err != nil {
		t.Fatalf("lxc cluster members: %v\n%s", err, out)
	}
	var members []struct {
		ServerName string            `json:"server_name"`
		Status     string            `json:"status"`
		Groups     []string          `json:"groups"`
		Config     map[string]string `json:"config"`
	}
	if err := json.Unmarshal([]byte(out), &members); err != nil {
		t.Fatalf("cluster members: %v\n%s", err, out)
	}
	online, gpus := map[string]bool{}, 0
	for _, m := range members {
		online[m.ServerName] = m.Status == "Online"
		for _, g := range m.Groups {
			if g == "gpu" && m.Config["user.lxcgate.gpus"] != "" {
				gpus++
			}
		}
	}
	for _, m := range c.Members {
		if !online[m.Name] {
			t.Errorf("%s is not online in the cluster: %s", m.Name, out)
		}
	}
	if gpus == 0 {
		t.Errorf("no member in group gpu with user.lxcgate.gpus:\n%s", out)
	}
	if out, err := lxcAll("--project", first.OuterProject, "exec", first.OuterInstance, "--",
		"lxc", "image", "info", conf.Containers.DefaultImage); err != nil {
		t.Errorf("the cluster lacks the default image %q: %v\n%s", conf.Containers.DefaultImage, err, out)
	}
}
