package main

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"text/tabwriter"

	"github.com/lxcgate/lxcgate/internal/argv"
	"github.com/lxcgate/lxcgate/internal/containers"
	"github.com/lxcgate/lxcgate/internal/lxd"
	"github.com/lxcgate/lxcgate/internal/shell"
	"github.com/lxcgate/lxcgate/internal/units"
	"github.com/lxcgate/lxcgate/internal/users"
	"golang.org/x/term"
)

func (a *app) user(args []string) error {
	if len(args) == 0 {
		return usagef("usage: lxcgate user add|list|del|passwd|disable|enable|key ...")
	}
	db, err := a.open()
	if err != nil {
		return err
	}
	defer db.Close()
	st := users.New(db)
	ctx := context.Background()
	sub, args := args[0], args[1:]

	fs := argv.NewFlagSet("user " + sub)
	admin := fs.Bool("admin", false, "")
	pwStdin := fs.Bool("password-stdin", false, "")
	asJSON := fs.Bool("json", false, "")
	qn, qcpu, qgpus, qports := fs.Int("containers", -1, ""), fs.Int("cpu", -1, ""), fs.Int("gpus", -1, ""), fs.Int("ports", -1, "")
	qsnaps := fs.Int("snapshots", -1, "")
	qmem, qdisk := fs.String("memory", "", ""), fs.String("disk", "", "")
	pos, err := argv.Parse(fs, args)
	if err != nil {
		return usageError{err}
	}
	want := func(n int, use string) error {
		if len(pos) != n {
			return usagef("usage: lxcgate user %s", use)
		}
		return nil
	}
	switch sub {
	case "add":
		if err := want(1, "add NAME [--admin] [--password-stdin]"); err != nil {
			return err
		}
		if err := users.ValidName(pos[0]); err != nil {
			return err
		}
		pw, err := a.readNewPassword(*pwStdin)
		if err != nil {
			return err
		}
		role := users.RoleUser
		if *admin {
			role = users.RoleAdmin
		}
		u, err := st.Add(ctx, pos[0], role, pw)
		if err != nil {
			return err
		}
		fmt.Fprintf(a.stderr, "added %s (%s)\n", u.Name, u.Role)
	case "list":
		if err := want(0, "list [--json]"); err != nil {
			return err
		}
		list, err := st.List(ctx)
		if err != nil {
			return err
		}
		if *asJSON {
			if list == nil {
				list = []users.User{}
			}
			return writeJSON(a.stdout, list)
		}
		tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "NAME\tROLE\tSTATUS\tPASSWORD\tKEYS\tCREATED")
		for _, u := range list {
			status, pw := "enabled", "no"
			if u.Disabled {
				status = "disabled"
			}
			if u.HasPassword {
				pw = "yes"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%d\t%s\n", u.Name, u.Role, status, pw, u.Keys, u.Created.Format("2006-01-02"))
		}
		return tw.Flush()
	case "del":
		if err := want(1, "del NAME"); err != nil {
			return err
		}
		if err := st.Delete(ctx, pos[0]); err != nil {
			return err
		}
		fmt.Fprintf(a.stderr, "deleted %s\n", pos[0])
	case "passwd":
		if err := want(1, "passwd NAME [--password-stdin]"); err != nil {
			return err
		}
		if _, err := st.Get(ctx, pos[0]); err != nil {
			return err
		}
		pw, err := a.readNewPassword(*pwStdin)
		if err != nil {
			return err
		}
		if err := st.SetPassword(ctx, pos[0], pw); err != nil {
			return err
		}
		fmt.Fprintf(a.stderr, "password of %s changed\n", pos[0])
	case "disable", "enable":
		if err := want(1, sub+" NAME"); err != nil {
			return err
		}
		if err := st.SetDisabled(ctx, pos[0], sub == "disable"); err != nil {
			return err
		}
		fmt.Fprintf(a.stderr, "%sd %s\n", sub, pos[0])
	case "key":
		return a.userKey(ctx, st, pos, *asJSON)
	case "quota":
		if err := want(1, "quota NAME [--containers N] [--cpu N] [--memory SIZE] [--disk SIZE] [--gpus N]"); err != nil {
			return err
		}
		var ch containers.QuotaChange
		set := false
		fs.Visit(func(f *flag.Flag) {
			set = true
			switch f.Name {
			case "containers":
				ch.Containers = qn
			case "cpu":
				ch.CPU = qcpu
			case "gpus":
				ch.GPUs = qgpus
			case "ports":
				ch.Ports = qports
			case "snapshots":
				ch.Snapshots = qsnaps
			}
		})
		for _, sz := range []struct {
			s   string
			dst **int64
		}{{*qmem, &ch.Memory}, {*qdisk, &ch.Disk}} {
			if sz.s != "" {
				n, err := units.ParseSize(sz.s)
				if err != nil {
					return usageError{err}
				}
				*sz.dst = &n
			}
		}
		log := newLogger(a.cfg.Log, a.stderr)
		cs := a.containerService(db, lxd.New(a.cfg.Containers.LXDSocket, log), log, nil)
		if set {
			if _, err := cs.SetQuota(ctx, pos[0], ch); err != nil {
				return err
			}
		}
		q, use, err := cs.Quota(ctx, pos[0])
		if err != nil {
			return err
		}
		return shell.PrintQuota(a.stdout, pos[0], q, use)
	default:
		return usagef("unknown user command %q; see 'lxcgate help'", sub)
	}
	return nil
}

func (a *app) userKey(ctx context.Context, st *users.Store, pos []string, asJSON bool) error {
	if len(pos) < 2 {
		return usagef("usage: lxcgate user key add NAME | list NAME [--json] | del NAME FINGERPRINT")
	}
	sub, name := pos[0], pos[1]
	switch {
	case sub == "add" && len(pos) == 2:
		data, err := io.ReadAll(io.LimitReader(a.stdin, 1<<20))
		if err != nil {
			return err
		}
		added, err := st.AddKeys(ctx, name, data)
		if err != nil {
			return err
		}
		for _, k := range added {
			fmt.Fprintf(a.stderr, "added %s %s %s\n", k.Fingerprint, k.Type, k.Comment)
		}
	case sub == "list" && len(pos) == 2:
		keys, err := st.Keys(ctx, name)
		if err != nil {
			return err
		}
		if asJSON {
			return writeJSON(a.stdout, keys)
		}
		tw := tabwriter.NewWriter(a.stdout, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "FINGERPRINT\tTYPE\tCOMMENT\tADDED")
		for _, k := range keys {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", k.Fingerprint, k.Type, k.Comment, k.Added.Format("2006-01-02"))
		}
		return tw.Flush()
	case sub == "del" && len(pos) == 3:
		if err := st.DeleteKey(ctx, name, pos[2]); err != nil {
			return err
		}
		fmt.Fprintf(a.stderr, "deleted key %s of %s\n", pos[2], name)
	default:
		return usagef("usage: lxcgate user key add NAME | list NAME [--json] | del NAME FINGERPRINT")
	}
	return nil
}

// readNewPassword reads a password from the first line of stdin, or asks
// twice without echo on a terminal.
func (a *app) readNewPassword(fromStdin bool) (string, error) {
	if fromStdin {
		line, err := bufio.NewReader(a.stdin).ReadString('\n')
		if err != nil && (line == "" || !errors.Is(err, io.EOF)) {
			return "", errors.New("no password on stdin")
		}
		pw := strings.TrimRight(line, "\r\n")
		return pw, users.CheckPasswordPolicy(pw)
	}
	f, ok := a.stdin.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) {
		return "", errors.New("stdin is not a terminal: pass --password-stdin and pipe the password")
	}
	fmt.Fprint(a.stderr, "Password: ")
	pw, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(a.stderr)
	if err != nil {
		return "", err
	}
	if err := users.CheckPasswordPolicy(string(pw)); err != nil {
		return "", err
	}
	fmt.Fprint(a.stderr, "Repeat password: ")
	again, err := term.ReadPassword(int(f.Fd()))
	fmt.Fprintln(a.stderr)
	if err != nil {
		return "", err
	}
	if string(pw) != string(again) {
		return "", errors.New("the passwords differ; nothing changed")
	}
	return string(pw), nil
}

func writeJSON(w io.Writer, v any) error {
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}
