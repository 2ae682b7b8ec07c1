package main

import (
	"context"

	"github.com/spf13/cobra"

	"github.com/lxcgate/lxcgate/internal/cli"
	"github.com/lxcgate/lxcgate/internal/gateway"
)

func (a *app) serveCmd() *cobra.Command {
	var v cli.Values
	c := &cobra.Command{
		Use: "serve", Short: "run the gateway (default listen :2222)", Args: noArgs("lxcgate serve [--listen ADDR]"),
		Long: "Serves SSH until SIGTERM or SIGINT, then drains running commands (ssh.drain_timeout).\n" +
			"SIGHUP re-reads the configuration: the log level, limits, container defaults and caps, the images\n" +
			"allowlist, default quotas and published services apply at once; other changes are logged as needing a restart.\n" +
			"With no admin in the database, it first creates one and prints its password once (on a terminal;\n" +
			"otherwise it is written to DATA/initial-admin-password, mode 0600).",
		RunE: func(*cobra.Command, []string) error {
			if l := v.String("listen"); l != "" {
				a.cfg.SSH.Listen = l
			}
			g, err := gateway.New(a.cfg, gateway.Deps{Stderr: a.stderr, Version: buildVersion(), Signals: true, Reread: a.read})
			if err != nil {
				return err
			}
			return g.Run(context.Background())
		},
	}
	v = cli.DefineFlags(c.Flags(), []cli.Flag{{Name: "listen", Kind: cli.String, Arg: "ADDR", Help: "the address to listen on (ssh.listen)"}})
	return c
}
