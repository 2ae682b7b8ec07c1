package shell

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"sort"
	"strconv"
	"strings"

	"github.com/lxcgate/lxcgate/internal/cli"
	"github.com/lxcgate/lxcgate/internal/containers"
	"github.com/lxcgate/lxcgate/internal/users"
)

// KeyStore is the caller's own gateway keys; users.Store satisfies it.
type KeyStore interface {
	Keys(ctx context.Context, name string) ([]users.Key, error)
	AddKeys(ctx context.Context, name string, authorizedKeys []byte) ([]users.Key, error)
	DeleteKey(ctx context.Context, name, fingerprint string) error
	AuthorizedKeys(ctx context.Context, name string) ([]byte, error)
}

// accessCmds are the key, keys, setpass and sshconfig commands.
func accessCmds() []*Command {
	keyFlags := append([]cli.Flag{
		{Name: "type", Kind: cli.String, Arg: "TYPE", Default: "ed25519", Values: []string{"ed25519", "rsa"}, Help: "the new key's type: ed25519 or rsa"},
		loginFlag,
		{Name: "mine", Help: "install your gateway keys instead of a new pair"},
		{Name: "list", Help: "list the user's authorized keys (those from 'key' marked)"},
		{Name: "revoke", Kind: cli.String, Arg: "FINGERPRINT", Help: "remove the key with this fingerprint"},
	}, cli.FormatFlags...)
	return []*Command{
		{Name: "key", Args: "NAME", MinArgs: 1, MaxArgs: 1, Flags: keyFlags,
			Summary: "make a key pair for a container, or list or revoke its keys", Run: runKey, Complete: completeNames,
			Help: "key NAME makes a key pair, adds the public half to the container user's authorized_keys\n" +
				"and prints the private half once (stdout), with the command to use it (stderr):\n" +
				"  ssh gw key box1 > ~/.ssh/lxcgate-box1 && chmod 600 ~/.ssh/lxcgate-box1\n" +
				"--mine installs your gateway keys instead; --list shows the user's keys; --revoke removes one."},
		{Name: "keys", Args: "[add [KEY] | del FINGERPRINT]", MaxArgs: -1, Flags: cli.FormatFlags,
			Summary: "list, add or remove your gateway keys", Run: runKeys, Complete: completeKeys,
			Help: "keys lists your gateway keys; keys add reads one authorized_keys line (a .pub file) from the\n" +
				"arguments or standard input; keys del FINGERPRINT removes one."},
		{Name: "setpass", Args: "NAME", MinArgs: 1, MaxArgs: 1, Summary: "set a container user's password",
			Flags: []cli.Flag{loginFlag, stdinFlag}, Secret: true, Run: runSetpass, Complete: completeNames,
			Help: "Asks twice without echo and hands the password to chpasswd in the container (never on a\n" +
				"command line); with --stdin, reads the two lines from standard input."},
		{Name: "sshconfig", Summary: "print ~/.ssh/config blocks for your containers", Flags: cli.FormatFlags, Run: runSSHConfig,
			Help: "A Host block per container through its published ssh port, and a NAME-via-gw block through\n" +
				"the gateway (ProxyJump); append them to ~/.ssh/config."},
	}
}

func completeKeys(_ *Ctx, args []string) []string {
	if len(args) == 0 {
		return []string{"add", "del"}
	}
	return nil
}

func runKey(c *Ctx, args []string) error {
	a, name, login := c.sh.cs, args[0], c.Flags.String("user")
	switch {
	case c.Flags.Bool("list"):
		return c.listContainerKeys(name, login)
	case c.Flags.String("revoke") != "":
		fp := c.Flags.String("revoke")
		return c.done(a.RevokeKey(c.Context(), c.User.Name, name, login, fp), "Revoked %s for %s in %s.", fp, login, name)
	case c.Flags.Bool("mine"):
		mine, err := c.sh.keys.AuthorizedKeys(c.Context(), c.User.Name)
		if err != nil {
			return err
		}
		fps, err := a.InstallKeys(c.Context(), c.User.Name, name, login, mine)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.Err, "Installed %d of your keys for %s in %s: %s\n", len(fps), login, name, strings.Join(fps, " "))
		return nil
	}
	k, err := a.GenerateKey(c.Context(), c.User.Name, name, login, c.Flags.String("type"))
	if err != nil {
		return err
	}
	c.Out.Write(k.Private)
	fmt.Fprintf(c.Err, "This is the only copy of the private key (%s, %s).\n", k.Fingerprint, k.Comment)
	file := "~/.ssh/lxcgate-" + name
	fmt.Fprintf(c.Err, "Save it:  ssh ... key %s > %s && chmod 600 %s\n", name, file, file)
	if ct, err := c.containers().Get(c.Context(), c.User.Name, name); err == nil {
		for _, p := range ct.Ports {
			if p.ContainerPort == 22 {
				fmt.Fprintf(c.Err, "Then:     ssh -i %s -p %d %s@%s\n", file, p.HostPort, login, c.sh.public)
			}
		}
	}
	fmt.Fprintf(c.Err, "Or:       ssh -i %s -J %s %s@%s\n", file, c.sh.jump(c.User.Name), login, name)
	return nil
}

// listContainerKeys is key --list.
func (c *Ctx) listContainerKeys(name, login string) error {
	keys, err := c.sh.cs.ContainerKeys(c.Context(), c.User.Name, name, login)
	if err != nil {
		return err
	}
	if keys == nil {
		keys = []containers.ContainerKey{}
	}
	return c.Emit(keys, func() error {
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
	})
}

// jump is the ProxyJump spec for user.
func (sh *Shell) jump(user string) string { return user + "@" + sh.gateway }

func runKeys(c *Ctx, args []string) error {
	ks := c.sh.keys
	switch {
	case len(args) == 0:
		keys, err := ks.Keys(c.Context(), c.User.Name)
		if err != nil {
			return err
		}
		return c.emitKeys(keys)
	case args[0] == "add":
		return c.addKeys(strings.Join(args[1:], " "))
	case args[0] == "del" && len(args) == 2:
		err := ks.DeleteKey(c.Context(), c.User.Name, args[1])
		if errors.Is(err, users.ErrKeyNotFound) {
			return fmt.Errorf("keys del: you have no key %s; see 'keys'", args[1])
		}
		if err != nil {
			return fmt.Errorf("keys del: %w", err)
		}
		fmt.Fprintf(c.Err, "Removed %s.\n", args[1])
		return nil
	}
	return cli.Usagef("use 'keys', 'keys add [KEY]' or 'keys del FINGERPRINT'")
}

// addKeys is keys add: the key from the arguments, else one line read.
func (c *Ctx) addKeys(line string) error {
	var err error
	if line == "" {
		if line, err = c.ReadLine("Paste the public key (one line of a .pub file): "); err != nil {
			return fmt.Errorf("keys add: %w", err)
		}
	}
	added, err := c.sh.keys.AddKeys(c.Context(), c.User.Name, []byte(line))
	if err != nil {
		return fmt.Errorf("keys add: %w", err)
	}
	for _, k := range added {
		fmt.Fprintf(c.Err, "Added %s %s.\n", k.Fingerprint, k.Type)
	}
	return nil
}

func runSetpass(c *Ctx, args []string) error {
	login := c.Flags.String("user")
	pw, err := c.newPassword("setpass", fmt.Sprintf("New password for %s in %s: ", login, args[0]), "Repeat it: ", "the passwords differ")
	if err != nil {
		return err
	}
	return c.done(c.sh.cs.SetPassword(c.Context(), c.User.Name, args[0], login, pw), "Password of %s in %s set.", login, args[0])
}

// SSHHost is one ~/.ssh/config Host block.
type SSHHost struct {
	Container    string `json:"container"`
	Host         string `json:"host"`
	HostName     string `json:"hostname"`
	Port         int    `json:"port,omitempty"`
	User         string `json:"user"`
	IdentityFile string `json:"identity_file,omitempty"` // "" for the direct block: the gateway key
	ProxyJump    string `json:"proxy_jump,omitempty"`
}

func runSSHConfig(c *Ctx, _ []string) error {
	list, err := c.containers().List(c.Context(), c.User.Name, false)
	if err != nil {
		return err
	}
	sort.Slice(list, func(i, j int) bool { return list[i].Name < list[j].Name })
	hosts := []SSHHost{}
	for _, ct := range list {
		hosts = append(hosts, c.sh.sshHosts(c.User.Name, ct)...)
	}
	return c.Emit(hosts, func() error { return writeSSHConfig(c.Out, hosts) })
}

// sshHosts are a container's ~/.ssh/config blocks: first straight in
// through the gateway with the gateway key (alice+box, no container key
// or sshd needed), then through its published ssh port, and through the
// gateway to its sshd (ProxyJump).
func (sh *Shell) sshHosts(user string, ct containers.Container) []SSHHost {
	var out []SSHHost
	host, port, _ := net.SplitHostPort(sh.gateway)
	if p, err := strconv.Atoi(port); err == nil && host != "" {
		out = append(out, SSHHost{Container: ct.Name, Host: ct.Name, HostName: host, Port: p, User: user + "+" + ct.Name})
	}
	key := "~/.ssh/lxcgate-" + ct.Name
	for _, p := range ct.Ports {
		if p.ContainerPort == 22 {
			out = append(out, SSHHost{Container: ct.Name, Host: ct.Name + "-port", HostName: sh.public, Port: p.HostPort, User: "ubuntu", IdentityFile: key})
		}
	}
	jump := user + "@" + sh.gateway
	if host, port, _ := strings.Cut(sh.gateway, ":"); port == "" || port == "22" {
		jump = user + "@" + host
	}
	return append(out, SSHHost{Container: ct.Name, Host: ct.Name + "-via-gw", HostName: ct.Name, User: "ubuntu", IdentityFile: key, ProxyJump: jump})
}

// writeSSHConfig writes Host blocks, a blank line between containers.
func writeSSHConfig(w io.Writer, hosts []SSHHost) error {
	for i, h := range hosts {
		if i > 0 {
			fmt.Fprintln(w)
		}
		fmt.Fprintf(w, "Host %s\n    HostName %s\n", h.Host, h.HostName)
		if h.Port != 0 {
			fmt.Fprintf(w, "    Port %d\n", h.Port)
		}
		fmt.Fprintf(w, "    User %s\n", h.User)
		if h.IdentityFile != "" {
			fmt.Fprintf(w, "    IdentityFile %s\n", h.IdentityFile)
		}
		if h.ProxyJump != "" {
			fmt.Fprintf(w, "    ProxyJump %s\n", h.ProxyJump)
		}
	}
	return nil
}

// emitKeys lists gateway keys, one's own (keys) or a user's (user key list).
func (c *Ctx) emitKeys(keys []users.Key) error {
	keys = keysUTC(keys)
	return c.Emit(keys, func() error {
		tw := c.Table()
		writeKeys(tw, keys)
		return tw.Flush()
	})
}

// keysUTC readies gateway keys for listing: never null in JSON, times in UTC.
func keysUTC(keys []users.Key) []users.Key {
	if keys == nil {
		keys = []users.Key{}
	}
	for i := range keys {
		keys[i].Added = keys[i].Added.UTC()
	}
	return keys
}

// writeKeys is the gateway key table, as the shell and the host CLI print it.
func writeKeys(w io.Writer, keys []users.Key) {
	fmt.Fprintln(w, "FINGERPRINT\tTYPE\tCOMMENT\tADDED")
	for _, k := range keys {
		fmt.Fprintf(w, "%s\t%s\t%s\t%s\n", k.Fingerprint, k.Type, dash(k.Comment), cli.TableTime(k.Added))
	}
}
