package main

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/spf13/cobra"

	"github.com/lxcgate/lxcgate/internal/cli"
	"github.com/lxcgate/lxcgate/internal/gateway"
)

func newTable(w io.Writer) *tabwriter.Writer { return tabwriter.NewWriter(w, 0, 0, 2, ' ', 0) }

func (a *app) portmapCmd() *cobra.Command {
	return group("portmap", "inspect or remove lxcgate's port mappings", a.portmapStatusCmd(), a.portmapFlushCmd())
}

func (a *app) portmapFlushCmd() *cobra.Command {
	return &cobra.Command{
		Use: "flush", Short: "remove lxcgate's nftables table and iptables chains (for an uninstall)", Args: noArgs("lxcgate portmap flush"),
		Long: "Removes lxcgate's nftables table, its iptables chains and the jumps into them; a running gateway puts them back.",
		RunE: func(*cobra.Command, []string) error {
			backend, err := gateway.Backend(a.cfg)
			if err != nil {
				return err
			}
			if err := backend.Flush(); err != nil {
				return err
			}
			fmt.Fprintln(a.stderr, "removed lxcgate's table, chains and the jumps into them; a running gateway puts them back")
			return nil
		},
	}
}

// portmapStatus is 'portmap status --json'.
type portmapStatus struct {
	Desired []string `json:"desired"`
	Actual  []string `json:"actual"`
	Missing []string `json:"missing"`
	Extra   []string `json:"extra"`
	InSync  bool     `json:"in_sync"`
}

func (a *app) portmapStatusCmd() *cobra.Command {
	var v cli.Values
	c := &cobra.Command{
		Use: "status", Short: "print desired versus actual port mappings", Args: noArgs("lxcgate portmap status [--json]"),
		Long: "Compares the mappings the database and LXD call for with lxcgate's nftables map or iptables chains;\n" +
			"exits 1 when they differ (a running gateway repairs them within ports.reconcile_interval).",
		RunE: func(*cobra.Command, []string) error {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			st, err := gateway.PortmapStatus(ctx, a.cfg, gateway.NewLogger(a.cfg.Log, a.stderr))
			if err != nil {
				return err
			}
			out := portmapStatus{nonNil(st.Desired), nonNil(st.Actual), nonNil(st.Missing), nonNil(st.Extra), len(st.Missing)+len(st.Extra) == 0}
			if err := a.emit(v, out, func(w io.Writer) { writePortmapStatus(w, out) }); err != nil {
				return err
			}
			if !out.InSync {
				return fmt.Errorf("%d missing and %d extra rules; a running gateway repairs them within ports.reconcile_interval",
					len(st.Missing), len(st.Extra))
			}
			return nil
		},
	}
	v = cli.DefineFlags(c.Flags(), cli.FormatFlags)
	return c
}

func writePortmapStatus(w io.Writer, st portmapStatus) {
	fmt.Fprintf(w, "desired rules: %d\nactual rules:  %d\n", len(st.Desired), len(st.Actual))
	for _, c := range st.Missing {
		fmt.Fprintf(w, "missing  %s\n", c)
	}
	for _, c := range st.Extra {
		fmt.Fprintf(w, "extra    %s\n", c)
	}
	if st.InSync {
		fmt.Fprintln(w, "in sync")
	}
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
