package main

import (
	"log/slog"
	"reflect"
	"sort"
	"strings"

	"github.com/lxcgate/lxcgate/internal/config"
	"github.com/lxcgate/lxcgate/internal/server"
	"github.com/lxcgate/lxcgate/internal/throttle"
	"github.com/lxcgate/lxcgate/internal/users"
	"github.com/lxcgate/lxcgate/internal/web"
)

// liveParts are what a reload reconfigures while serving.
type liveParts struct {
	srv      *server.Server
	throttle *throttle.Throttle
	eng      *engine
	site     *web.Server // nil when the web listener is off
}

// liveKeys are the keys a reload applies at once (a key ending in "." is
// a whole section); every other change needs a restart.
var liveKeys = []string{
	"log.level",
	"ssh.max_sessions", "ssh.max_sessions_per_user", "ssh.max_connections",
	"ssh.max_unauthenticated_per_address", "ssh.max_connections_per_address", "ssh.max_channels_per_connection",
	"auth.max_failures", "auth.max_failures_per_address", "auth.failure_window", "auth.lockout", "auth.max_concurrent_hashes",
	"containers.default_image", "containers.images", "containers.cpu", "containers.memory", "containers.disk",
	"containers.max_cpu", "containers.max_memory", "containers.max_disk",
	"quota.", "ports.services", "snapshots.keep", "leases.", "idle.",
}

func isLive(key string) bool {
	for _, k := range liveKeys {
		if key == k || (strings.HasSuffix(k, ".") && strings.HasPrefix(key, k)) {
			return true
		}
	}
	return false
}

// reload re-reads the configuration on SIGHUP (systemctl reload). What can
// change while serving applies at once (log level, limits, container
// defaults and caps, the images allowlist, default quotas, published
// services, snapshot keeping); every other change is named as needing a
// restart and left as it was. A configuration that does not load or
// validate changes nothing. Either way the gateway keeps serving.
func (a *app) reload(log *slog.Logger, live *liveParts) {
	next, err := a.read()
	if err == nil {
		next.SSH.Listen = a.cfg.SSH.Listen // a --listen given to serve stays
		err = next.Validate()
	}
	if err != nil {
		log.Error("reload: the configuration was not applied; the gateway runs on as it was", "err", err)
		return
	}
	var applied, restart []string
	for _, k := range changedKeys(a.cfg, next) {
		if isLive(k) {
			applied = append(applied, k)
		} else {
			restart = append(restart, k)
		}
	}
	copyKeys(&a.cfg, next, applied)
	a.apply(log, live, applied)
	if live != nil {
		reloadWebCert(log, live.site)
	}
	log.Info("reload: configuration read", "applied", strings.Join(applied, ","), "needs_restart", strings.Join(restart, ","))
}

// apply hands a.cfg, which now holds the applied keys, to the parts that
// use them.
func (a *app) apply(log *slog.Logger, live *liveParts, applied []string) {
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
	c := a.cfg
	if touched("log.level") {
		var l slog.Level
		_ = l.UnmarshalText([]byte(c.Log.Level)) // validated
		a.level.Set(l)
		log.Debug("reload: log level set", "level", c.Log.Level) // seen only at debug
	}
	if live == nil {
		return
	}
	if touched("ssh.") {
		live.srv.SetLimits(server.Limits{
			MaxSessions: c.SSH.MaxSessions, MaxSessionsPerUser: c.SSH.MaxSessionsPerUser, MaxConnections: c.SSH.MaxConnections,
			MaxUnauthPerAddress: c.SSH.MaxUnauthPerAddress, MaxConnectionsPerAddress: c.SSH.MaxConnectionsPerAddress,
			MaxChannelsPerConnection: c.SSH.MaxChannelsPerConnection,
		})
	}
	if touched("auth.") {
		live.throttle.SetLimits(a.throttleLimits())
		users.SetMaxConcurrentHashes(c.Auth.MaxConcurrentHashes)
	}
	if touched("containers.", "quota.", "ports.services", "snapshots.", "leases.") {
		live.eng.cs.Reconfigure(a.containerConfig(nil))
	}
	if touched("idle.") {
		live.eng.sweeper.SetConfig(a.sweepConfig())
	}
	if touched("ports.services") {
		go live.eng.resync()
	}
}

// reloadWebCert reads the web listener's TLS pair again (a renewal keeps
// the paths); a pair that does not load leaves the one in use.
func reloadWebCert(log *slog.Logger, site *web.Server) {
	if site == nil || !site.TLS() {
		return
	}
	if err := site.ReloadCert(); err != nil {
		log.Error("reload: the web TLS certificate was not replaced; the one in use stays", "err", err)
		return
	}
	log.Info("reload: web TLS certificate read")
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
