package shell

import (
	"fmt"
	"io"
	"strconv"

	"github.com/lxcgate/lxcgate/internal/cli"
	"github.com/lxcgate/lxcgate/internal/containers"
	"github.com/lxcgate/lxcgate/internal/quota"
)

func runPortAdd(c *Ctx, args []string) error {
	name, what := args[0], args[1]
	cport, err := strconv.Atoi(what)
	if err != nil {
		return cli.Usagef("CONTAINER_PORT must be a number, not %q", what)
	}
	if c.Flags.Bool("web") {
		p, err := c.containers().AddWebApp(c.Context(), c.User.Name, name, cport, c.Flags.String("name"))
		if err != nil {
			return err
		}
		fmt.Fprintf(c.Err, "Serving %s port %d as web app %s for you alone (sign in with 'web'): %s\n", name, p.ContainerPort, p.Service, p.URL)
		return nil
	}
	p, err := c.containers().PortAdd(c.Context(), c.User.Name, name, cport, c.Flags.String("name"))
	if err != nil {
		return err
	}
	fmt.Fprintf(c.Err, "Published %s port %d on host port %d: %s\n", name, p.ContainerPort, p.HostPort, c.sh.reach(p))
	return nil
}

func runPortDel(c *Ctx, args []string) error {
	name, what := args[0], args[1]
	label, err := c.portLabel(name, what)
	if err != nil {
		return err
	}
	return c.done(c.containers().PortDel(c.Context(), c.User.Name, name, label), "Withdrew %s from %s.", what, name)
}

// portLabel turns a container port number into the label it is published
// under (labels start with a letter, so a number is never one).
func (c *Ctx) portLabel(name, what string) (string, error) {
	n, err := strconv.Atoi(what)
	if err != nil {
		return what, nil
	}
	ct, err := c.containers().Get(c.Context(), c.User.Name, name)
	if err != nil {
		return "", err
	}
	for _, p := range ct.Ports {
		if p.ContainerPort == n {
			return p.Service, nil
		}
	}
	return what, nil
}

func runQuota(c *Ctx, args []string) error {
	user := c.User.Name
	if len(args) == 1 {
		user = args[0] // the gate let only an admin name someone
	}
	if ch, ok := QuotaChangeOf(c.Flags); ok {
		if _, err := c.containers().SetQuota(c.Context(), user, ch); err != nil {
			return err
		}
	}
	q, use, err := c.containers().Quota(c.Context(), user)
	if err != nil {
		return err
	}
	return c.Emit(containers.QuotaView{User: user, Quota: q, Usage: use}, func() error { return PrintQuota(c.Out, user, q, use) })
}

// QuotaChangeOf is the change the quota flags (QuotaFlags) ask for; ok is
// false when none was given.
func QuotaChangeOf(v cli.Values) (ch containers.QuotaChange, ok bool) {
	for _, f := range quota.Fields {
		if !v.Changed(f.Name) {
			continue
		}
		ok = true
		switch f.Kind {
		case quota.Group:
			g := v.String(f.Name)
			if g == "all" {
				g = ""
			}
			ch.Hosts = &g
		case quota.Size:
			f.Set(&ch, v.Size(f.Name))
		default:
			f.Set(&ch, int64(v.Int(f.Name)))
		}
	}
	return ch, ok
}

// PrintQuota writes a user's quota beside their use; the host command
// "lxcgate user quota" prints the same.
func PrintQuota(w io.Writer, user string, q containers.Quota, use containers.Usage) error {
	return quota.Print(w, user, q, use)
}

// QuotaView is the data 'quota --json' and 'lxcgate user quota --json'
// write.
func QuotaView(user string, q containers.Quota, use containers.Usage) any {
	return containers.QuotaView{User: user, Quota: q, Usage: use}
}
