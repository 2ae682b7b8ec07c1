package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"github.com/lxcgate/lxcgate/internal/testcert"
)

// fakeLXD is a TLS server on 127.0.0.1 that answers like LXD's API and
// records the paths asked for and whether a client certificate came.
type fakeLXD struct {
	srv        *httptest.Server
	mu         sync.Mutex
	paths      []string
	clientCert bool
}

func (f *fakeLXD) seen() ([]string, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.paths...), f.clientCert
}

func newFakeLXD(t *testing.T, cert tls.Certificate) *fakeLXD {
	f := &fakeLXD{}
	f.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		f.mu.Lock()
		f.paths = append(f.paths, r.URL.Path)
		f.mu.Unlock()
		meta := map[string]any{}
		if r.URL.Path == "/1.0" {
			meta = map[string]any{"environment": map[string]any{"server_version": "5.0.2"}}
		}
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(map[string]any{"type": "sync", "status": "Success", "status_code": 200, "metadata": meta})
	}))
	f.srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}, ClientAuth: tls.RequestClientCert,
		VerifyPeerCertificate: func(raw [][]byte, _ [][]*x509.Certificate) error {
			f.mu.Lock()
			f.clientCert = f.clientCert || len(raw) > 0
			f.mu.Unlock()
			return nil
		}}
	f.srv.StartTLS()
	t.Cleanup(f.srv.Close)
	return f
}

// Scenario: [lxd] pins the cluster's certificate, and an impostor at the
// cluster's address shows a certificate from a CA the host trusts
// (SSL_CERT_FILE). The real binary must refuse it: no request reaches the
// impostor and the gateway's client certificate is never sent. With the
// pinned server at the address, the same binary connects.
func TestPinnedServerCertIsExclusive(t *testing.T) {
	dir := t.TempDir()
	ca := testcert.New(t, "lab test CA", testcert.Options{CA: true})
	impCert := testcert.New(t, "lxd-pinned", testcert.Options{Parent: &ca}).Certificate
	pinnedCert := testcert.New(t, "lxd-pinned", testcert.Options{})
	pinned := pinnedCert.Certificate
	caFile, pinFile := filepath.Join(dir, "ca.pem"), filepath.Join(dir, "server.crt")
	if err := os.WriteFile(caFile, ca.PEM, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(pinFile, pinnedCert.PEM, 0o644); err != nil {
		t.Fatal(err)
	}
	g := &gw{t: t, dir: dir, envVars: []string{"SSL_CERT_FILE=" + caFile, "SSL_CERT_DIR=" + dir,
		"LXCGATE_LXD_SERVER_CERT=" + pinFile}}
	for _, tc := range []struct {
		name     string
		cert     tls.Certificate
		accepted bool
	}{{"impostor", impCert, false}, {"pinned", pinned, true}} {
		srv := newFakeLXD(t, tc.cert)
		r, _, stderr := g.doctor("LXCGATE_LXD_URL=" + srv.srv.URL)
		status, detail := r.status("lxd")
		paths, sent := srv.seen()
		if tc.accepted && (status != "ok" || len(paths) == 0 || !sent) {
			t.Fatalf("%s: lxd check %s %q; server got %v, client certificate %v\n%s", tc.name, status, detail, paths, sent, stderr)
		}
		if !tc.accepted && (status != "fail" || len(paths) > 0 || sent) {
			t.Fatalf("%s: lxd check %s %q; server got %v, client certificate %v\n%s", tc.name, status, detail, paths, sent, stderr)
		}
	}
}
