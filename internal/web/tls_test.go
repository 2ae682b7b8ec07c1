package web_test

import (
	"context"
	"crypto/tls"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/lxcgate/lxcgate/internal/testcert"

	"github.com/lxcgate/lxcgate/internal/audit"
	"github.com/lxcgate/lxcgate/internal/web"
)

// served returns the serial of the certificate the listener presents and
// the response's Strict-Transport-Security header.
func served(t *testing.T, addr string) (int64, string) {
	t.Helper()
	c := http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, DisableKeepAlives: true}}
	resp, err := c.Get("https://" + addr + "/api/v1/openapi.json")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	io.Copy(io.Discard, resp.Body)
	return resp.TLS.PeerCertificates[0].SerialNumber.Int64(), resp.Header.Get("Strict-Transport-Security")
}

// Scenario: the web certificate is renewed (certbot, an internal CA) and
// the admin runs 'systemctl reload': the gateway served the old one until
// a restart. Now a reload serves the new pair to new connections; a broken
// new pair keeps the old one. Over TLS, browsers are told to stay on HTTPS.
func TestWebTLSReloadAndHSTS(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	testcert.New(t, "gw.test", testcert.Options{Serial: 1}).Write(t, cert, key)
	log := slog.New(slog.NewTextHandler(io.Discard, nil))
	srv := web.New(web.Options{Audit: audit.New(nil, log), Log: log, Host: "gpu1"})
	hs, addr, err := srv.Listen("127.0.0.1:0", cert, key)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { hs.Shutdown(context.Background()) })
	if serial, hsts := served(t, addr.String()); serial != 1 || hsts != "max-age=31536000" {
		t.Fatalf("serial %d, HSTS %q", serial, hsts)
	}
	testcert.New(t, "gw.test", testcert.Options{Serial: 2}).Write(t, cert, key)
	if err := srv.ReloadCert(); err != nil {
		t.Fatal(err)
	}
	if serial, _ := served(t, addr.String()); serial != 2 {
		t.Fatalf("after the reload: serial %d, want 2", serial)
	}
	os.WriteFile(key, []byte("not a key"), 0o600)
	if err := srv.ReloadCert(); err == nil {
		t.Fatal("a broken key was accepted")
	}
	if serial, _ := served(t, addr.String()); serial != 2 {
		t.Fatalf("after a broken reload: serial %d, want the old 2", serial)
	}
}
