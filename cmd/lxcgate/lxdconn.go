package main

import (
	"fmt"
	"log/slog"
	"os"

	"github.com/lxcgate/lxcgate/internal/lxd"
	"github.com/spf13/cobra"
)

// lxdClient connects to LXD as [lxd] says: over HTTPS with the client
// certificate (made on first use) and the pinned server certificate, or
// through the unix socket.
func (a *app) lxdClient(log *slog.Logger) (*lxd.Client, error) {
	conn, err := a.lxdConn()
	if err != nil {
		return nil, err
	}
	lx := lxd.New(conn, log)
	lx.Network = a.cfg.Containers.Network
	return lx, nil
}

func (a *app) lxdConn() (lxd.Conn, error) {
	c := a.cfg.LXD
	conn := lxd.Conn{Socket: a.cfg.Containers.LXDSocket, URL: c.URL}
	if c.URL == "" {
		return conn, nil
	}
	server, err := os.ReadFile(c.ServerCert)
	if err != nil {
		return conn, fmt.Errorf("lxd.server_cert: %w", err)
	}
	certFile, keyFile, err := a.clientCertFiles()
	if err != nil {
		return conn, err
	}
	cert, err := os.ReadFile(certFile)
	if err != nil {
		return conn, fmt.Errorf("lxd client certificate: %w", err)
	}
	key, err := os.ReadFile(keyFile)
	if err != nil {
		return conn, fmt.Errorf("lxd client key: %w", err)
	}
	conn.ServerCert, conn.ClientCert, conn.ClientKey = string(server), string(cert), string(key)
	return conn, nil
}

// clientCertFiles are the configured client files, or DATA's own pair,
// made when missing.
func (a *app) clientCertFiles() (string, string, error) {
	if a.cfg.LXD.ClientCert != "" {
		return a.cfg.LXD.ClientCert, a.cfg.LXD.ClientKey, nil
	}
	if err := os.MkdirAll(a.cfg.Data, 0o700); err != nil {
		return "", "", fmt.Errorf("data directory: %w", err)
	}
	return lxd.ClientCertFiles(a.cfg.Data, "lxcgate@"+a.cfg.Hostname)
}

func (a *app) lxdCmd() *cobra.Command {
	trust := &cobra.Command{
		Use: "trust", Short: "print the client certificate to trust on the LXD cluster", Args: noArgs("lxcgate lxd trust"),
		Long: "Makes DATA/lxd-client.crt and .key on first use (unless lxd.client_cert is set), then prints\n" +
			"the certificate and the command that makes LXD trust it.",
		RunE: func(*cobra.Command, []string) error {
			if err := a.cfg.Validate(); err != nil {
				return err
			}
			certFile, _, err := a.clientCertFiles()
			if err != nil {
				return err
			}
			pem, err := os.ReadFile(certFile)
			if err != nil {
				return err
			}
			fp, err := lxd.Fingerprint(pem)
			if err != nil {
				return fmt.Errorf("%s: %w", certFile, err)
			}
			fmt.Fprintf(a.stdout, "%s\n# fingerprint %s\n# Save the certificate above as lxcgate.crt on a cluster member, then run there:\n", pem, fp[:12])
			fmt.Fprintln(a.stdout, "lxc config trust add lxcgate.crt --name lxcgate")
			return nil
		},
	}
	return group("lxd", "LXD over HTTPS: the client certificate", trust)
}
