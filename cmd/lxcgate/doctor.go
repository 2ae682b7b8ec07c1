package main

import (
	"context"
	"fmt"

	"github.com/spf13/cobra"

	"github.com/lxcgate/lxcgate/internal/cli"
	"github.com/lxcgate/lxcgate/internal/gateway"
)

func (a *app) doctorCmd() *cobra.Command {
	var v cli.Values
	c := &cobra.Command{
		Use: "doctor", Short: "check the host before (and while) serving", Args: noArgs("lxcgate doctor [--json]"),
		Long: "Checks LXD, its storage pool and bridge, iptables and lxcgate's chains, the host port range,\n" +
			"the GPUs, the data directory and the host key. Each check says ok, warn or fail and what to do.\n" +
			"Exits 1 when any check fails. serve logs the same checks at start.",
		RunE: func(*cobra.Command, []string) error {
			r, err := gateway.Doctor(context.Background(), a.cfg)
			if err != nil {
				return err
			}
			if v.Bool("json") {
				err = r.WriteJSON(a.stdout)
			} else {
				err = r.WriteTable(a.stdout)
			}
			if err != nil {
				return err
			}
			if n := r.Failures(); n > 0 {
				return fmt.Errorf("doctor: %d of %d checks failed", n, len(r.Checks))
			}
			return nil
		},
	}
	v = cli.DefineFlags(c.Flags(), []cli.Flag{{Name: "json", Help: `print {"checks":[{"name","status","detail"}...]}`}})
	return c
}
