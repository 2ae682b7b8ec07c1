package gateway

import (
	"reflect"
	"testing"

	"github.com/lxcgate/lxcgate/internal/config"
)

func TestChangedKeys(t *testing.T) {
	old := config.Default()
	next := config.Default()
	if got := changedKeys(old, next); len(got) != 0 {
		t.Fatalf("no change: %v", got)
	}
	next.Quota.Containers++
	next.Hostname = "gpu2"
	next.Ports.Services = map[string]int{"ssh": 22, "jupyter": 8888}
	next.Data = "/elsewhere" // not a key of the file: never reported
	want := []string{"hostname", "ports.services", "quota.containers"}
	if got := changedKeys(old, next); !reflect.DeepEqual(got, want) {
		t.Fatalf("changed: %v, want %v", got, want)
	}
}

func TestReloadAppliesOnlyLiveKeys(t *testing.T) {
	cfg := config.Default()
	next := cfg
	next.Quota.GPUs = 4
	next.Containers.Images = []string{"lxcgate-debian"}
	next.SSH.MaxSessionsPerUser = 1
	next.Ports.Range = "30000-30099"
	next.Containers.ProjectPrefix = "x-"
	var applied, restart []string
	for _, k := range changedKeys(cfg, next) {
		if isLive(k) {
			applied = append(applied, k)
		} else {
			restart = append(restart, k)
		}
	}
	if !reflect.DeepEqual(applied, []string{"containers.images", "quota.gpus", "ssh.max_sessions_per_user"}) ||
		!reflect.DeepEqual(restart, []string{"containers.project_prefix", "ports.range"}) {
		t.Fatalf("applied %v, restart %v", applied, restart)
	}
	copyKeys(&cfg, next, applied)
	if cfg.Quota.GPUs != 4 || cfg.SSH.MaxSessionsPerUser != 1 || cfg.Ports.Range == "30000-30099" || cfg.Containers.ProjectPrefix == "x-" {
		t.Fatalf("after copy: %+v", cfg)
	}
	if len(changedKeys(cfg, next)) != 2 {
		t.Fatalf("left: %v", changedKeys(cfg, next))
	}
}

// Volume sizes and datasets apply at a reload; the pool and the personal
// volume's path need a restart.
func TestReloadVolumeKeys(t *testing.T) {
	cfg := config.Default()
	next := cfg
	next.Volumes.DefaultSize *= 2
	next.Volumes.Pool = "other"
	next.Volumes.Personal = "/home/ubuntu/persist"
	next.Datasets = map[string]config.Dataset{"imagenet": {Source: "/srv/imagenet", Path: "/data/imagenet"}}
	var applied, restart []string
	for _, k := range changedKeys(cfg, next) {
		if isLive(k) {
			applied = append(applied, k)
		} else {
			restart = append(restart, k)
		}
	}
	if !reflect.DeepEqual(applied, []string{"datasets", "volumes.default_size"}) ||
		!reflect.DeepEqual(restart, []string{"volumes.personal", "volumes.pool"}) {
		t.Fatalf("applied %v, restart %v", applied, restart)
	}
}
