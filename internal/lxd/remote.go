package lxd

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"time"

	lxdclient "github.com/canonical/lxd/client"
)

// Conn says how to reach LXD: its unix socket, or, with URL set, its
// HTTPS API with a client certificate and the server's pinned.
type Conn struct {
	Socket     string   // "" for the default socket (see Socket)
	URL        string   // https://HOST:8443; "" for the socket
	URLs       []string // URL and the other members' addresses, tried in turn when one stops answering
	ServerCert string   // PEM; pinned: no other certificate is accepted
	ClientCert string   // PEM
	ClientKey  string   // PEM
}

// remote reports whether the connection is over HTTPS.
func (c Conn) remote() bool { return c.URL != "" || len(c.URLs) > 0 }

// addresses are the HTTPS addresses to try, in order.
func (c Conn) addresses() []string {
	if len(c.URLs) > 0 {
		return c.URLs
	}
	return []string{c.URL}
}

// errNotPinned: the server showed a certificate other than the pinned one.
var errNotPinned = errors.New("the server's certificate is not lxd.server_cert")

// connectHTTPS connects to url (the cluster's address or one member's)
// with conn's client certificate, accepting the pinned server certificate
// and nothing else. LXD's client adds the pinned certificate to the
// system's roots and retries a failed handshake with the URL's host name,
// so that any certificate from a CA the host trusts would pass: here the
// roots are the pinned certificate alone, and the leaf must be it, byte
// for byte. The check runs inside the handshake, before the client
// certificate is sent. The HTTP client, the websockets (exec) and every
// UseProject/UseTarget copy share the TLS configuration changed here.
func connectHTTPS(url string, conn Conn) (lxdclient.InstanceServer, error) {
	pin, err := parsePin(conn.ServerCert)
	if err != nil {
		return nil, err
	}
	// SkipGetServer: no request may leave before the pin is in place.
	srv, err := lxdclient.ConnectLXD(url, &lxdclient.ConnectionArgs{
		TLSServerCert: conn.ServerCert, TLSClientCert: conn.ClientCert, TLSClientKey: conn.ClientKey,
		SkipGetServer: true,
	})
	if err != nil {
		return nil, err
	}
	hc, err := srv.GetHTTPClient()
	if err != nil {
		return nil, err
	}
	t, ok := hc.Transport.(*http.Transport)
	if !ok || t.TLSClientConfig == nil {
		return nil, fmt.Errorf("LXD client: unexpected transport %T; refusing to connect unpinned", hc.Transport)
	}
	pinTLS(t.TLSClientConfig, pin)
	return srv, nil
}

// parsePin reads the pinned certificate; without one nothing is trusted.
func parsePin(certPEM string) (*x509.Certificate, error) {
	b, _ := pem.Decode([]byte(certPEM))
	if b == nil || b.Type != "CERTIFICATE" {
		return nil, errors.New("lxd.server_cert: not a PEM certificate")
	}
	cert, err := x509.ParseCertificate(b.Bytes)
	if err != nil {
		return nil, fmt.Errorf("lxd.server_cert: %w", err)
	}
	return cert, nil
}

// pinTLS makes cfg trust pin alone: as the only root (no system CA), and
// as the exact leaf the server must show.
func pinTLS(cfg *tls.Config, pin *x509.Certificate) {
	roots := x509.NewCertPool()
	roots.AddCert(pin)
	cfg.RootCAs = roots
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) == 0 || !bytes.Equal(cs.PeerCertificates[0].Raw, pin.Raw) {
			return errNotPinned
		}
		return nil
	}
}

// The client pair's file names in the data directory.
const (
	ClientCertName = "lxd-client.crt"
	ClientKeyName  = "lxd-client.key"
)

// ClientCertFiles returns the paths of the client certificate and key in
// dir, creating them (an ECDSA P-384 key, a self-signed certificate valid
// ten years, key mode 0600, certificate 0644, whatever the files' modes
// were) when either is missing. An existing pair is kept.
func ClientCertFiles(dir, name string) (certFile, keyFile string, err error) {
	certFile, keyFile = filepath.Join(dir, ClientCertName), filepath.Join(dir, ClientKeyName)
	_, errC := os.Stat(certFile)
	_, errK := os.Stat(keyFile)
	if errC == nil && errK == nil {
		return certFile, keyFile, nil
	}
	if !errors.Is(errC, fs.ErrNotExist) && errC != nil {
		return "", "", fmt.Errorf("client certificate: %w", errC)
	}
	certPEM, keyPEM, err := newClientCert(name)
	if err != nil {
		return "", "", err
	}
	// The key goes first: a certificate without its key would be kept by
	// the next call and fail every connection.
	if err := writeFileMode(keyFile, keyPEM, 0o600); err != nil {
		return "", "", fmt.Errorf("client key: %w", err)
	}
	if err := writeFileMode(certFile, certPEM, 0o644); err != nil {
		return "", "", fmt.Errorf("client certificate: %w", err)
	}
	return certFile, keyFile, nil
}

// writeFileMode replaces path with data at exactly mode. os.WriteFile
// keeps an existing file's mode, so a key written over a 0644 file would
// stay readable; a new file renamed into place never is, not even for a
// moment (CreateTemp makes it 0600).
func writeFileMode(path string, data []byte, mode fs.FileMode) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return err
	}
	tmp := f.Name()
	_, err = f.Write(data)
	if err == nil {
		err = f.Chmod(mode)
	}
	if err == nil {
		err = f.Sync()
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
	}
	return err
}

func newClientCert(name string) (certPEM, keyPEM []byte, err error) {
	key, err := ecdsa.GenerateKey(elliptic.P384(), rand.Reader)
	if err != nil {
		return nil, nil, fmt.Errorf("client key: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 128))
	if err != nil {
		return nil, nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name, Organization: []string{"lxcgate"}},
		NotBefore:    now.Add(-time.Hour), NotAfter: now.AddDate(10, 0, 0),
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("client certificate: %w", err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), nil
}

// Fingerprint is the SHA-256 of a PEM certificate's DER, as LXD shows it.
func Fingerprint(certPEM []byte) (string, error) {
	b, _ := pem.Decode(certPEM)
	if b == nil || b.Type != "CERTIFICATE" {
		return "", errors.New("not a PEM certificate")
	}
	sum := sha256.Sum256(b.Bytes)
	return hex.EncodeToString(sum[:]), nil
}
