package main

import (
	"log/slog"
	"reflect"
	"strings"

	"github.com/lxcgate/lxcgate/internal/config"
)

// reload re-reads the configuration on SIGHUP (systemctl reload). The log
// level applies at once; every other change is named as needing a restart.
// A configuration that does not load or validate changes nothing. Either
// way the gateway keeps serving.
func (a *app) reload(log *slog.Logger) {
	next, err := a.read()
	if err == nil {
		next.SSH.Listen = a.cfg.SSH.Listen // a --listen given to serve stays
		err = next.Validate()
	}
	if err != nil {
		log.Error("reload: the configuration was not applied; the gateway runs on as it was", "err", err)
		return
	}
	var applied []string
	if next.Log.Level != a.cfg.Log.Level {
		var l slog.Level
		_ = l.UnmarshalText([]byte(next.Log.Level)) // validated above
		a.level.Set(l)
		log.Debug("reload: log level set", "level", next.Log.Level) // seen only at debug
		a.cfg.Log.Level = next.Log.Level
		applied = append(applied, "log.level")
	}
	restart := changedSections(a.cfg, next)
	log.Info("reload: configuration read", "applied", strings.Join(applied, ","), "needs_restart", strings.Join(restart, ","))
}

// changedSections names the top-level keys and sections that differ.
func changedSections(old, next config.Config) []string {
	var out []string
	ov, nv := reflect.ValueOf(old), reflect.ValueOf(next)
	for i := 0; i < ov.NumField(); i++ {
		tag := ov.Type().Field(i).Tag.Get("toml")
		if tag == "" || tag == "-" {
			continue
		}
		if !reflect.DeepEqual(ov.Field(i).Interface(), nv.Field(i).Interface()) {
			out = append(out, tag)
		}
	}
	return out
}
