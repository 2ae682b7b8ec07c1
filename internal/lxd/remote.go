package lxd

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"math/big"
	"os"
	"path/filepath"
	"time"
)

// Conn says how to reach LXD: its unix socket, or, with URL set, its
// HTTPS API with a client certificate and the server's pinned.
type Conn struct {
	Socket     string // "" for the default socket (see Socket)
	URL        string // https://HOST:8443; "" for the socket
	ServerCert string // PEM; pinned: no other certificate is accepted
	ClientCert string // PEM
	ClientKey  string // PEM
}

// remote reports whether the connection is over HTTPS.
func (c Conn) remote() bool { return c.URL != "" }

// ClientCertFiles returns the paths of the client certificate and key in
// dir, creating them (an ECDSA P-384 key, a self-signed certificate valid
// ten years, key mode 0600) when missing. An existing pair is kept.
func ClientCertFiles(dir, name string) (certFile, keyFile string, err error) {
	certFile, keyFile = filepath.Join(dir, "lxd-client.crt"), filepath.Join(dir, "lxd-client.key")
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
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		return "", "", fmt.Errorf("client key: %w", err)
	}
	if err := os.WriteFile(certFile, certPEM, 0o644); err != nil {
		return "", "", fmt.Errorf("client certificate: %w", err)
	}
	return certFile, keyFile, nil
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
