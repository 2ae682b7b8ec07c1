package config

import (
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
)

// checkLoaded checks what must hold for any outcome of Load: an error is
// one line, and a configuration that loads and validates encodes to TOML
// that loads back (with no environment) to an equal configuration, Data
// aside. The encoded file is written to dir.
func checkLoaded(t *testing.T, dir string, c Config, err error) {
	t.Helper()
	if err != nil {
		if strings.Contains(err.Error(), "\n") {
			t.Fatalf("error is not one line: %q", err)
		}
		return
	}
	if c.Validate() != nil {
		return
	}
	text, err := c.Encode()
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	f := filepath.Join(dir, "again.toml")
	if err := os.WriteFile(f, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	again, err := Load(f, noEnv)
	if err != nil {
		t.Fatalf("the encoded configuration does not load: %v\n%s", err, text)
	}
	again.Data = c.Data
	if !reflect.DeepEqual(c, again) {
		t.Fatalf("encoded and loaded again, the configuration changed:\n%+v\nbecame\n%+v\nencoded as\n%s", c, again, text)
	}
}

// FuzzLoad loads a fuzzed configuration file.
func FuzzLoad(f *testing.F) {
	for _, s := range []string{
		"",
		DefaultFile(),
		"hostname = \"gpu1\"\n[ssh]\nlisten = \"127.0.0.1:2300\"\nidle_timeout = \"5m\"\n",
		"[ssh]\nlisen = \":1\"\n",
		"[ssh]\nidle_timeout = \"soon\"\n",
		"[ssh\n",
		"hostname = 'h\u00e9llo-\u65e5\u672c'\n",
		"hostname = \"a\\\"b\\\\c\\u0001\"\n",
		"hostname = \"\"\"\nmulti\nline\"\"\"\n",
		"hostname = \"nul\x00\"\n",
		"hostname = \"\xff\"\n",
		"[containers]\nmemory = \"3GiB\"\nmax_memory = \"1.5TiB\"\ndisk = 1024\n",
		"[ports]\nrange = \"1-65535\"\naddresses = [\"10.0.0.1\", \"192.168.1.1\"]\n[ports.services]\nhttp = 80\njupyter = 8888\n",
		"[ports.services]\n\"Bad Name\" = 70000\n",
		"[auth]\nadmin_keys = [\"ssh-ed25519 AAAA a\", 'b']\nmax_failures = -1\n",
		"[ssh]\nmax_sessions = 99999999999999999999\n",
		"[log]\nlevel = \"debug\"\nformat = \"json\"\n[lobby]\nenabled = true\nname = \"lab_1\"\n",
		"[quota]\nmemory = \"1e30GiB\"\n",
		"[snapshots]\nkeep = 0\n",
		"hostname = 1\n",
		"x = [\n",
		strings.Repeat("[ssh]\n", 50),
		"hostname = \"" + strings.Repeat("x", 4096) + "\"\n",
	} {
		f.Add(s)
	}
	// One directory for all iterations (they run one at a time), which is
	// much faster than a t.TempDir each.
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, content string) {
		file := filepath.Join(dir, "c.toml")
		if err := os.WriteFile(file, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		c, err := Load(file, noEnv)
		checkLoaded(t, dir, c, err)
	})
}

// envKeys are the variables FuzzLoadEnv sets, one of each kind of field:
// string, int, bool, duration, size, string list, map (which the
// environment cannot set), and the data directory.
var envKeys = []string{
	"LXCGATE_HOSTNAME",
	"LXCGATE_SSH_LISTEN",
	"LXCGATE_SSH_MAX_SESSIONS",
	"LXCGATE_LOBBY_ENABLED",
	"LXCGATE_LOBBY_NAME",
	"LXCGATE_SSH_IDLE_TIMEOUT",
	"LXCGATE_CONTAINERS_MEMORY",
	"LXCGATE_AUTH_ADMIN_KEYS",
	"LXCGATE_PORTS_ADDRESSES",
	"LXCGATE_PORTS_RANGE",
	"LXCGATE_PORTS_SERVICES",
	"LXCGATE_DATA",
}

// FuzzLoadEnv sets one variable of envKeys (chosen by which) to a fuzzed
// value, over no file.
func FuzzLoadEnv(f *testing.F) {
	for _, tc := range []struct {
		which uint8
		value string
	}{
		{0, "gpu1.example.org"}, {0, "h\u00e9llo"}, {0, "a b"},
		{1, "127.0.0.1:2300"}, {1, "[::1]:22"}, {1, "2222"},
		{2, "10"}, {2, "many"}, {2, "-1"}, {2, "99999999999999999999"},
		{3, "true"}, {3, "1"}, {3, "yes"},
		{4, "lab_1"}, {4, "Lab Room"},
		{5, "5m"}, {5, "0"}, {5, "-1s"}, {5, "soon"},
		{6, "512MiB"}, {6, "1.5G"}, {6, "0"}, {6, "lots"},
		{7, "ssh-ed25519 AAAA a, ssh-ed25519 BBBB b"}, {7, ",,,"},
		{8, "10.0.0.1, 10.0.0.2"}, {8, "::1"},
		{9, "1000-2000"}, {9, "2000-1000"}, {9, "0-65536"},
		{10, "ssh=22"},
		{11, "/srv/lxcgate"}, {11, "./data dir"},
		{12, "\x00"}, {255, ""},
	} {
		f.Add(tc.which, tc.value)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, which uint8, value string) {
		key := envKeys[int(which)%len(envKeys)]
		c, err := Load("", func(k string) string {
			if k == key {
				return value
			}
			return ""
		})
		checkLoaded(t, dir, c, err)
	})
}
