package shell

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/lxcgate/lxcgate/internal/containers"
	"github.com/lxcgate/lxcgate/internal/users"
)

// Access is what reaching into containers needs: keys and passwords of the
// users inside them. containers.Service satisfies it.
type Access interface {
	GenerateKey(ctx context.Context, user, name, login, typ string) (containers.GeneratedKey, error)
	InstallKeys(ctx context.Context, user, name, login string, authorizedKeys []byte) ([]string, error)
	ContainerKeys(ctx context.Context, user, name, login string) ([]containers.ContainerKey, error)
	RevokeKey(ctx context.Context, user, name, login, fingerprint string) error
	SetPassword(ctx context.Context, user, name, login, password string) error
}

// KeyStore is the caller's own gateway keys; users.Store satisfies it.
type KeyStore interface {
	Keys(ctx context.Context, name string) ([]users.Key, error)
	AddKeys(ctx context.Context, name string, authorizedKeys []byte) ([]users.Key, error)
	DeleteKey(ctx context.Context, name, fingerprint string) error
	AuthorizedKeys(ctx context.Context, name string) ([]byte, error)
}

// AddAccess adds the key, keys, setpass and sshconfig commands. gateway is
// "host:port" of the gateway itself, for ProxyJump lines.
func (sh *Shell) AddAccess(a Access, ks KeyStore, gateway string) {
	sh.access, sh.keys, sh.gateway = a, ks, gateway
	names := func(c *Ctx) []string { return sh.cs.Names(c.ctx, c.User.Name) }
	sh.insertAfter("gpus",
		&Command{Name: "key", Args: "NAME [--type ed25519|rsa] [--user ubuntu] [--mine] [--list] [--revoke FINGERPRINT]",
			Summary: "make a key pair for a container, or list or revoke its keys", Run: runKey, Complete: names,
			Help: "key NAME makes a key pair, adds the public half to the container user's authorized_keys\n" +
				"and prints the private half once (stdout), with the command to use it (stderr):\n" +
				"  ssh gw key box1 > ~/.ssh/lxcgate-box1 && chmod 600 ~/.ssh/lxcgate-box1\n" +
				"--mine installs your gateway keys instead; --list shows the user's keys; --revoke removes one."},
		&Command{Name: "keys", Args: "[add [KEY] | del FINGERPRINT] [--json]", Summary: "list, add or remove your gateway keys",
			Run: runKeys, Help: "keys add reads one authorized_keys line (a .pub file) from the arguments or standard input."},
		&Command{Name: "setpass", Args: "NAME [--user ubuntu] [--stdin]", Summary: "set a container user's password",
			Secret: true, Run: runSetpass, Complete: names},
		&Command{Name: "sshconfig", Summary: "print ~/.ssh/config blocks for your containers", Run: runSSHConfig},
	)
}

func runKey(c *Ctx, args []string) error {
	fs := c.Flags("key")
	typ := fs.String("type", "ed25519", "")
	login := fs.String("user", "ubuntu", "")
	mine := fs.Bool("mine", false, "")
	list := fs.Bool("list", false, "")
	revoke := fs.String("revoke", "", "")
	asJSON := fs.Bool("json", false, "")
	pos, err := c.Parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	a, name := c.s.sh.access, pos[0]
	switch {
	case *list:
		keys, err := a.ContainerKeys(c.ctx, c.User.Name, name, *login)
		if err != nil {
			return err
		}
		if *asJSON {
			return c.JSON(keys)
		}
		tw := c.Table()
		fmt.Fprintln(tw, "FINGERPRINT\tTYPE\tCOMMENT\tFROM")
		for _, k := range keys {
			from := "-"
			if k.Issued {
				from = "key"
			}
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", k.Fingerprint, k.Type, dash(k.Comment), from)
		}
		return tw.Flush()
	case *revoke != "":
		if err := a.RevokeKey(c.ctx, c.User.Name, name, *login, *revoke); err != nil {
			return err
		}
		fmt.Fprintf(c.Err, "Revoked %s for %s in %s.\n", *revoke, *login, name)
		return nil
	case *mine:
		mineKeys, err := c.s.sh.keys.AuthorizedKeys(c.ctx, c.User.Name)
		if err != nil {
			return err
		}
		fps, err := a.InstallKeys(c.ctx, c.User.Name, name, *login, mineKeys)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.Err, "Installed %d of your keys for %s in %s: %s\n", len(fps), *login, name, strings.Join(fps, " "))
		return nil
	}
	k, err := a.GenerateKey(c.ctx, c.User.Name, name, *login, *typ)
	if err != nil {
		return err
	}
	c.Out.Write(k.Private)
	fmt.Fprintf(c.Err, "This is the only copy of the private key (%s, %s).\n", k.Fingerprint, k.Comment)
	file := "~/.ssh/lxcgate-" + name
	fmt.Fprintf(c.Err, "Save it:  ssh ... key %s > %s && chmod 600 %s\n", name, file, file)
	if ct, err := c.containers().Get(c.ctx, c.User.Name, name); err == nil {
		for _, p := range ct.Ports {
			if p.ContainerPort == 22 {
				fmt.Fprintf(c.Err, "Then:     ssh -i %s -p %d %s@%s\n", file, p.HostPort, *login, c.s.sh.public)
			}
		}
	}
	fmt.Fprintf(c.Err, "Or:       ssh -i %s -J %s %s@%s\n", file, c.s.sh.jump(c.User.Name), *login, name)
	return nil
}

// jump is the ProxyJump spec for user.
func (sh *Shell) jump(user string) string { return user + "@" + sh.gateway }

func runKeys(c *Ctx, args []string) error {
	fs := c.Flags("keys")
	asJSON := fs.Bool("json", false, "")
	pos, err := c.Parse(fs, args, 0, -1)
	if err != nil {
		return err
	}
	ks := c.s.sh.keys
	switch {
	case len(pos) == 0:
		keys, err := ks.Keys(c.ctx, c.User.Name)
		if err != nil {
			return err
		}
		if *asJSON {
			return c.JSON(keys)
		}
		tw := c.Table()
		fmt.Fprintln(tw, "FINGERPRINT\tTYPE\tCOMMENT\tADDED")
		for _, k := range keys {
			fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", k.Fingerprint, k.Type, dash(k.Comment), k.Added.Format("2006-01-02"))
		}
		return tw.Flush()
	case pos[0] == "add":
		line := strings.Join(pos[1:], " ")
		if line == "" {
			if line, err = c.ReadLine("Paste the public key (one line of a .pub file): "); err != nil {
				return fmt.Errorf("keys add: %w", err)
			}
		}
		added, err := ks.AddKeys(c.ctx, c.User.Name, []byte(line))
		if err != nil {
			return fmt.Errorf("keys add: %w", err)
		}
		for _, k := range added {
			fmt.Fprintf(c.Err, "Added %s %s.\n", k.Fingerprint, k.Type)
		}
		return nil
	case pos[0] == "del" && len(pos) == 2:
		err := ks.DeleteKey(c.ctx, c.User.Name, pos[1])
		if errors.Is(err, users.ErrKeyNotFound) {
			return fmt.Errorf("keys del: you have no key %s; see 'keys'", pos[1])
		}
		if err != nil {
			return fmt.Errorf("keys del: %w", err)
		}
		fmt.Fprintf(c.Err, "Removed %s.\n", pos[1])
		return nil
	}
	return Usagef("use 'keys', 'keys add [KEY]' or 'keys del FINGERPRINT'")
}

func runSetpass(c *Ctx, args []string) error {
	fs := c.Flags("setpass")
	login := fs.String("user", "ubuntu", "")
	stdin := fs.Bool("stdin", false, "")
	pos, err := c.Parse(fs, args, 1, 1)
	if err != nil {
		return err
	}
	pw, err := c.ReadSecret(fmt.Sprintf("New password for %s in %s: ", *login, pos[0]), *stdin)
	if err != nil {
		return fmt.Errorf("setpass: %w", err)
	}
	if err := users.CheckPasswordPolicy(pw); err != nil {
		return fmt.Errorf("setpass: %w; nothing changed", err)
	}
	again, err := c.ReadSecret("Repeat it: ", *stdin)
	if err != nil {
		return fmt.Errorf("setpass: %w", err)
	}
	if pw != again {
		return errors.New("setpass: the passwords differ; nothing changed")
	}
	if err := c.s.sh.access.SetPassword(c.ctx, c.User.Name, pos[0], *login, pw); err != nil {
		return err
	}
	fmt.Fprintf(c.Err, "Password of %s in %s set.\n", *login, pos[0])
	return nil
}

func runSSHConfig(c *Ctx, args []string) error {
	if _, err := c.Parse(c.Flags("sshconfig"), args, 0, 0); err != nil {
		return err
	}
	list, err := c.containers().List(c.ctx, c.User.Name, false)
	if err != nil {
		return err
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	for i, ct := range list {
		if i > 0 {
			fmt.Fprintln(c.Out)
		}
		fmt.Fprint(c.Out, c.s.sh.sshConfig(c.User.Name, ct))
	}
	return nil
}

// sshConfig is a ready ~/.ssh/config block for a container: through its
// published ssh port, and through the gateway (ProxyJump).
func (sh *Shell) sshConfig(user string, ct containers.Container) string {
	var b strings.Builder
	key := "~/.ssh/lxcgate-" + ct.Name
	for _, p := range ct.Ports {
		if p.ContainerPort == 22 {
			fmt.Fprintf(&b, "Host %s\n    HostName %s\n    Port %d\n    User ubuntu\n    IdentityFile %s\n\n", ct.Name, sh.public, p.HostPort, key)
		}
	}
	host, port, _ := strings.Cut(sh.gateway, ":")
	fmt.Fprintf(&b, "Host %s-via-gw\n    HostName %s\n    User ubuntu\n    IdentityFile %s\n    ProxyJump %s@%s", ct.Name, ct.Name, key, user, host)
	if port != "" && port != "22" {
		fmt.Fprintf(&b, ":%s", port)
	}
	b.WriteString("\n")
	return b.String()
}
