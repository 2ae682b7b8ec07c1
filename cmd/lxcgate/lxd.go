package main

import (
	"fmt"
	"os"

	"github.com/spf13/cobra"

	"github.com/lxcgate/lxcgate/internal/gateway"
	"github.com/lxcgate/lxcgate/internal/lxd"
)

func (a *app) lxdCmd() *cobra.Command {
	trust := &cobra.Command{
		Use: "trust", Short: "print the client certificate to trust on the LXD cluster", Args: noArgs("lxcgate lxd trust"),
		Long: "Makes DATA/lxd-client.crt and .key on first use (unless lxd.client_cert is set), then prints\n" +
			"the certificate and the command that makes LXD trust it.",
		RunE: func(*cobra.Command, []string) error {
			if err := a.cfg.Validate(); err != nil {
				return err
			}
			certFile, _, err := gateway.ClientCertFiles(a.cfg)
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
