package gateway

import (
	"github.com/lxcgate/lxcgate/internal/failpoint"
	"log/slog"
	"reflect"
	"sort"
	"strings"

	"github.com/lxcgate/lxcgate/internal/config"
	"github.com/lxcgate/lxcgate/internal/users"
)

// liveKeys are the keys a reload applies at once (a key ending in "." is
// a whole section); every other change needs a restart.
var liveKeys = []string{
	"log.level",
	"ssh.max_sessions", "ssh.max_sessions_per_user", "ssh.max_connections",
	"ssh.max_unauthenticated_per_address", "ssh.max_connections_per_address", "ssh.max_channels_per_connection",
	"auth.max_failures", "auth.max_failures_per_address", "auth.failure_window", "auth.lockout", "auth.max_concurrent_hashes",
	"containers.default_image", "containers.images", "containers.cpu", "containers.memory", "containers.disk",
	"containers.max_cpu", "containers.max_memory", "containers.max_disk",
	"quota.", "ports.services", "ports.web", "snapshots.keep", "leases.", "idle.",
	"volumes.default_size", "volumes.max_size", "datasets", "access.",
	"gpu.fairshare_window", "gpu.starvation_after", "gpu.renew_while_waiting", "notify.",
}

func isLive(key string) bool {
	for _, k := range liveKeys {
		if key == k || (strings.HasSuffix(k, ".") && strings.HasPrefix(key, k)) {
			return true
		}
	}
	return false
}

// Reload applies next, a configuration read again (SIGHUP, systemctl
// reload). What can change while serving applies at once (log level,
// limits, container defaults and caps, the images allowlist, default
// quotas, published services, snapshot keeping, leases, idle stops,
// volume sizes and datasets);
// every other change is named as needing a restart and left as it was. A
// configuration that does not validate changes nothing and is returned.
// Either way the gateway keeps serving.
func (g *Gateway) Reload(next config.Config) error {
	next.SSH.Listen = g.cfg.SSH.Listen // a --listen given to serve stays
	if err := next.Validate(); err != nil {
		g.reloadFailed(err)
		return err
	}
	var applied, restart []string
	for _, k := range changedKeys(g.cfg, next) {
		if isLive(k) {
			applied = append(applied, k)
		} else {
			restart = append(restart, k)
		}
	}
	copyKeys(&g.cfg, next, applied)
	g.apply(applied)
	g.reloadWebCert()
	g.log.Info("reload: configuration read", "applied", strings.Join(applied, ","), "needs_restart", strings.Join(restart, ","))
	return nil
}

// reread reloads what Deps.Reread returns.
func (g *Gateway) reread() {
	failpoint.Hang("reload:hang") // the main loop stuck: the watchdog's test
	next, err := g.deps.Reread()
	if err != nil {
		g.reloadFailed(err)
		return
	}
	g.Reload(next)
}

func (g *Gateway) reloadFailed(err error) {
	g.log.Error("reload: the configuration was not applied; the gateway runs on as it was", "err", err)
}

// apply hands g.cfg, which now holds the applied keys, to the parts that
// use them.
func (g *Gateway) apply(applied []string) {
	touched := func(prefixes ...string) bool {
		for _, k := range applied {
			for _, p := range prefixes {
				if strings.HasPrefix(k, p) {
					return true
				}
			}
		}
		return false
	}
	c := g.cfg
	if touched("log.level") {
		var l slog.Level
		_ = l.UnmarshalText([]byte(c.Log.Level)) // validated
		g.level.Set(l)
		g.log.Debug("reload: log level set", "level", c.Log.Level) // seen only at debug
	}
	if touched("ssh.") {
		g.srv.SetLimits(serverLimits(c))
	}
	if touched("auth.") {
		g.throttle.SetLimits(throttleLimits(c))
		users.SetMaxConcurrentHashes(c.Auth.MaxConcurrentHashes)
	}
	if touched("containers.", "quota.", "ports.services", "ports.web", "snapshots.", "leases.", "volumes.", "datasets", "access.", "gpu.") {
		g.eng.cs.Reconfigure(ContainerConfig(c, nil))
	}
	if touched("idle.", "notify.") {
		g.eng.sweeper.SetConfig(sweepConfig(c))
	}
	if touched("notify.") {
		g.eng.notifier.SetConfig(notifyConfig(c, g.log))
	}
	if touched("ports.services", "ports.web") {
		go g.eng.resync()
	}
}

// reloadWebCert reads the web listener's TLS pair again (a renewal keeps
// the paths); a pair that does not load leaves the one in use.
func (g *Gateway) reloadWebCert() {
	if g.site == nil || !g.site.TLS() {
		return
	}
	if err := g.site.ReloadCert(); err != nil {
		g.log.Error("reload: the web TLS certificate was not replaced; the one in use stays", "err", err)
		return
	}
	g.log.Info("reload: web TLS certificate read")
}

// changedKeys names the keys (section.key, or key at the top) whose
// values differ, in order.
func changedKeys(old, next config.Config) []string {
	o, n := leaves(reflect.ValueOf(&old).Elem(), ""), leaves(reflect.ValueOf(&next).Elem(), "")
	var out []string
	for k, v := range o {
		if !reflect.DeepEqual(v.Interface(), n[k].Interface()) {
			out = append(out, k)
		}
	}
	sort.Strings(out)
	return out
}

// copyKeys sets dst's keys to src's values.
func copyKeys(dst *config.Config, src config.Config, keys []string) {
	d, s := leaves(reflect.ValueOf(dst).Elem(), ""), leaves(reflect.ValueOf(&src).Elem(), "")
	for _, k := range keys {
		d[k].Set(s[k])
	}
}

// leaves maps each key of the file to its field: sections are structs,
// anything else (maps such as ports.services included) is one key.
func leaves(v reflect.Value, prefix string) map[string]reflect.Value {
	out := map[string]reflect.Value{}
	for i := 0; i < v.NumField(); i++ {
		tag, _, _ := strings.Cut(v.Type().Field(i).Tag.Get("toml"), ",")
		if tag == "" || tag == "-" {
			continue
		}
		f := v.Field(i)
		if f.Kind() == reflect.Struct && f.Type().NumField() > 0 && f.Type().Field(0).Tag.Get("toml") != "" {
			for k, sub := range leaves(f, prefix+tag+".") {
				out[k] = sub
			}
			continue
		}
		out[prefix+tag] = f
	}
	return out
}
