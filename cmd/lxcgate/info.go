package main

import (
	"context"
	"fmt"
	"runtime/debug"

	"github.com/spf13/cobra"

	"github.com/lxcgate/lxcgate/internal/cli"
	"github.com/lxcgate/lxcgate/internal/config"
	"github.com/lxcgate/lxcgate/internal/store"
)

// migrate, config, version and completion: the commands that need no
// more than the configuration (and migrate the database).

func (a *app) migrateCmd() *cobra.Command {
	return &cobra.Command{
		Use: "migrate", Short: "apply pending migrations, print the schema version", Args: noArgs("lxcgate migrate"),
		Long: "Brings the database to the newest schema (serve does too) and prints its version.",
		RunE: func(*cobra.Command, []string) error {
			db, err := a.open()
			if err != nil {
				return err
			}
			defer db.Close()
			v, err := store.Version(context.Background(), db)
			if err != nil {
				return err
			}
			fmt.Fprintf(a.stdout, "schema version %d\n", v)
			return nil
		},
	}
}

func (a *app) configCmd() *cobra.Command {
	var v cli.Values
	c := &cobra.Command{
		Use: "config", Short: "print the effective (or a commented default) configuration", Args: noArgs("lxcgate config [--default]"),
		Long: "Prints every key with its effective value: the file, then the environment, then flags.",
		RunE: func(*cobra.Command, []string) error {
			if v.Bool("default") {
				fmt.Fprint(a.stdout, config.DefaultFile())
				return nil
			}
			if err := a.cfg.Validate(); err != nil {
				return err
			}
			s, err := a.cfg.Encode()
			if err != nil {
				return err
			}
			fmt.Fprint(a.stdout, s)
			return nil
		},
	}
	v = cli.DefineFlags(c.Flags(), []cli.Flag{{Name: "default", Help: "print every key with its default and an explanation instead"}})
	return c
}

func (a *app) versionCmd() *cobra.Command {
	return &cobra.Command{
		Use: "version", Short: "print the version", Args: noArgs("lxcgate version"),
		Long: "The version, the newest database schema it knows, and the Go release it was built with.",
		RunE: func(*cobra.Command, []string) error {
			fmt.Fprintf(a.stdout, "lxcgate %s (schema %d, %s)\n", buildVersion(), store.Latest(), goVersion())
			return nil
		},
	}
}

func (a *app) completionCmd(root *cobra.Command) *cobra.Command {
	return &cobra.Command{
		Use: "completion bash|zsh|fish", Short: "print a shell completion script", ValidArgs: []string{"bash", "zsh", "fish"},
		Long: "Commands and flags complete on Tab once the script is loaded, e.g.\n" +
			"  source <(lxcgate completion bash)",
		Args:              exactArgs(1, "lxcgate completion bash|zsh|fish"),
		PersistentPreRunE: func(*cobra.Command, []string) error { return nil }, // needs no configuration
		RunE: func(_ *cobra.Command, args []string) error {
			switch args[0] {
			case "bash":
				return root.GenBashCompletionV2(a.stdout, true)
			case "zsh":
				return root.GenZshCompletion(a.stdout)
			case "fish":
				return root.GenFishCompletion(a.stdout, true)
			}
			return cli.Usagef("usage: lxcgate completion bash|zsh|fish")
		},
	}
}

func buildVersion() string {
	if version != "dev" {
		return version
	}
	if bi, ok := debug.ReadBuildInfo(); ok && bi.Main.Version != "" && bi.Main.Version != "(devel)" {
		return bi.Main.Version
	}
	return version
}

func goVersion() string {
	if bi, ok := debug.ReadBuildInfo(); ok {
		return bi.GoVersion
	}
	return "go"
}
