package main

import (
	"context"
	"fmt"
	"time"

	"github.com/lxcgate/lxcgate/internal/lxd"
	"github.com/lxcgate/lxcgate/internal/portmap"
)

func (a *app) portmap(args []string) error {
	if len(args) != 1 || (args[0] != "status" && args[0] != "flush") {
		return usagef("usage: lxcgate portmap status|flush")
	}
	if err := a.cfg.Validate(); err != nil {
		return err
	}
	first, last, _ := a.cfg.Ports.PortRange()
	backend, err := portmap.NewIPTables(a.cfg.Ports.ChainPrefix, a.cfg.Ports.Addresses, first, last)
	if err != nil {
		return err
	}
	if args[0] == "flush" {
		if err := backend.Flush(); err != nil {
			return err
		}
		fmt.Fprintln(a.stderr, "removed lxcgate's chains and the jumps into them; a running gateway puts them back")
		return nil
	}
	db, err := a.open()
	if err != nil {
		return err
	}
	defer db.Close()
	log := newLogger(a.cfg.Log, a.stderr)
	cs := a.containerService(db, lxd.New(a.cfg.Containers.LXDSocket, log), log, nil)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st, err := portmap.New(backend, cs, log).Check(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(a.stdout, "desired rules: %d\nactual rules:  %d\n", len(st.Desired), len(st.Actual))
	for _, c := range st.Missing {
		fmt.Fprintf(a.stdout, "missing  %s\n", c)
	}
	for _, c := range st.Extra {
		fmt.Fprintf(a.stdout, "extra    %s\n", c)
	}
	if len(st.Missing)+len(st.Extra) == 0 {
		fmt.Fprintln(a.stdout, "in sync")
		return nil
	}
	return fmt.Errorf("%d missing and %d extra rules; a running gateway repairs them within ports.reconcile_interval",
		len(st.Missing), len(st.Extra))
}
