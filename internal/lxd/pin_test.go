package lxd

import (
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/lxcgate/lxcgate/internal/testcert"
)

// tlsPeer is a TLS server on 127.0.0.1 that records the requests it got
// and whether a client certificate came with a handshake.
type tlsPeer struct {
	srv *httptest.Server

	mu         sync.Mutex
	paths      []string
	clientCert bool
}

func (p *tlsPeer) seen() ([]string, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.paths...), p.clientCert
}

func newTLSPeer(t *testing.T, cert tls.Certificate, handler func(w http.ResponseWriter, r *http.Request)) *tlsPeer {
	p := &tlsPeer{}
	p.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.paths = append(p.paths, r.URL.Path)
		p.mu.Unlock()
		handler(w, r)
	}))
	p.srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequestClientCert,
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			if len(raw) > 0 {
				p.mu.Lock()
				p.clientCert = true
				p.mu.Unlock()
			}
			return nil
		}}
	p.srv.StartTLS()
	t.Cleanup(p.srv.Close)
	return p
}

// lxdJSON answers like LXD's API: a sync response around metadata.
func lxdJSON(w http.ResponseWriter, metadata any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(map[string]any{"type": "sync", "status": "Success", "status_code": 200, "metadata": metadata})
}

// Regression: the pinned server certificate was only added to the
// system's roots, and LXD's client retried with the URL's host name, so an
// impostor whose certificate chained to a CA the host trusts got
// GET /1.0/cluster and the gateway's client certificate, for the cluster's
// address and for each member's ping alike. The impostor's CA is trusted
// here through SSL_CERT_FILE, in a child process (the system pool is read
// once per process).
func TestPinRefusesImpostorTrustedByCA(t *testing.T) {
	if os.Getenv("LXCGATE_PIN_CHILD") != "" {
		pinChild(t)
		return
	}
	dir := t.TempDir()
	ca := testcert.New(t, "test CA", testcert.Options{CA: true})
	impostorCert := testcert.New(t, "lxd-genuine", testcert.Options{Parent: &ca}).Certificate
	genuine0 := testcert.New(t, "lxd-genuine", testcert.Options{})
	genuineCert := genuine0.Certificate
	impostor := newTLSPeer(t, impostorCert, func(w http.ResponseWriter, r *http.Request) { lxdJSON(w, map[string]any{"enabled": false}) })
	// The genuine server is a cluster whose one member answers at the
	// impostor's address: the member ping must refuse it too.
	genuine := newTLSPeer(t, genuineCert, func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/1.0/cluster":
			lxdJSON(w, map[string]any{"enabled": true})
		case "/1.0/cluster/members":
			lxdJSON(w, []map[string]any{{"server_name": "m1", "url": impostor.srv.URL, "status": "Online"}})
		default:
			lxdJSON(w, map[string]any{})
		}
	})
	caFile, pinFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "server.crt")
	os.WriteFile(caFile, ca.PEM, 0o644)
	os.WriteFile(pinFile, genuine0.PEM, 0o644)
	cmd := exec.Command(os.Args[0], "-test.run=^TestPinRefusesImpostorTrustedByCA$", "-test.v")
	cmd.Env = append(os.Environ(), "LXCGATE_PIN_CHILD=1", "SSL_CERT_FILE="+caFile, "SSL_CERT_DIR="+dir,
		"LXCGATE_PIN_IMPOSTOR="+impostor.srv.URL, "LXCGATE_PIN_GENUINE="+genuine.srv.URL, "LXCGATE_PIN_CERT="+pinFile,
		"LXCGATE_PIN_CA_CERT="+impostor.srv.URL+"/sanity")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child: %v\n%s", err, out)
	}
	paths, sent := impostor.seen()
	var lxdPaths []string
	for _, p := range paths {
		if p != "/sanity" {
			lxdPaths = append(lxdPaths, p)
		}
	}
	if len(lxdPaths) > 0 || sent {
		t.Fatalf("the impostor got %v, client certificate sent: %v\n%s", lxdPaths, sent, out)
	}
	if len(paths) == 0 {
		t.Fatalf("the child's own sanity request did not reach the impostor: the CA was not trusted\n%s", out)
	}
	if gp, gsent := genuine.seen(); len(gp) == 0 || !gsent {
		t.Fatalf("the pinned server got %v, client certificate %v\n%s", gp, gsent, out)
	}
	if !strings.Contains(string(out), "member m1 offline") {
		t.Fatalf("the impostor member counted as online:\n%s", out)
	}
}

// pinChild runs in the child process, where the impostor's CA is trusted.
func pinChild(t *testing.T) {
	// The system pool really trusts the impostor here.
	resp, err := http.Get(os.Getenv("LXCGATE_PIN_CA_CERT"))
	if err != nil {
		t.Fatalf("sanity: the test CA is not trusted: %v", err)
	}
	resp.Body.Close()
	pin, _ := os.ReadFile(os.Getenv("LXCGATE_PIN_CERT"))
	client := testcert.New(t, "lxcgate-client", testcert.Options{}).Certificate
	keyDER, _ := x509.MarshalECPrivateKey(client.PrivateKey.(*ecdsa.PrivateKey))
	conn := Conn{ServerCert: string(pin),
		ClientCert: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: client.Certificate[0]})),
		ClientKey:  string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))}
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	ctx := context.Background()

	conn.URL = os.Getenv("LXCGATE_PIN_IMPOSTOR")
	if ms, err := New(conn, log).Members(ctx); err == nil {
		t.Errorf("the impostor was accepted: members %v", ms)
	}
	conn.URL = os.Getenv("LXCGATE_PIN_GENUINE")
	ms, err := New(conn, log).Members(ctx)
	if err != nil || len(ms) != 1 {
		t.Fatalf("the pinned server: %v %v", ms, err)
	}
	if !ms[0].Online {
		fmt.Printf("member %s offline\n", ms[0].Name)
	}
}

// The cluster's members share its certificate; with every member's address
// in [lxd] url, a member that stops answering costs one failed call, and
// the next call goes to the next member, pinned the same.
func TestFailoverToTheNextMember(t *testing.T) {
	cert := testcert.New(t, "lxd-cluster", testcert.Options{})
	answer := func(w http.ResponseWriter, r *http.Request) { lxdJSON(w, map[string]any{"api_version": "1.0"}) }
	dead := newTLSPeer(t, cert.Certificate, answer)
	alive := newTLSPeer(t, cert.Certificate, answer)
	deadURL := dead.srv.URL
	dead.srv.Close() // the member went away: connections refused
	client := testcert.New(t, "lxcgate-client", testcert.Options{}).Certificate
	keyDER, _ := x509.MarshalECPrivateKey(client.PrivateKey.(*ecdsa.PrivateKey))
	conn := Conn{ServerCert: string(cert.PEM), URL: deadURL, URLs: []string{deadURL, alive.srv.URL},
		ClientCert: string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: client.Certificate[0]})),
		ClientKey:  string(pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: keyDER}))}
	c := New(conn, slog.New(slog.NewTextHandler(io.Discard, nil)))
	ctx := context.Background()
	if err := c.Ping(ctx); !errors.Is(err, ErrUnavailable) {
		t.Fatalf("the dead member: %v, want ErrUnavailable", err)
	}
	if err := c.Ping(ctx); err != nil {
		t.Fatalf("the next member: %v", err)
	}
	if paths, _ := alive.seen(); len(paths) == 0 {
		t.Fatal("the live member got no request")
	}
}
