package lxdtest

import (
	"maps"
	"strings"

	"github.com/lxcgate/lxcgate/internal/lxd"
)

// keepConfig returns a new map: old with kv applied ("" removes a key),
// keeping only the port keys the adapter reads back into
// lxd.Instance.Config. Copies handed out by Get and List share the old map,
// so it is never changed in place.
func keepConfig(old, kv map[string]string) map[string]string {
	out := maps.Clone(old)
	for k, v := range kv {
		if !strings.HasPrefix(k, lxd.KeyPrefix+"port.") && !strings.HasPrefix(k, lxd.KeyPrefix+"cport.") {
			continue
		}
		if out == nil {
			out = map[string]string{}
		}
		if v == "" {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	return out
}
