package doctor

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// minInotifyInstances is what a host of system containers needs at least:
// each container's systemd takes inotify instances, counted per host user,
// and the kernel's default of 128 is used up at about 20 Debian
// containers, whose PID 1 then exits ("Failed to create control group
// inotify object: Too many open files"): LXD reports them stopped.
const minInotifyInstances = 1024

// CheckInotify warns when fs.inotify.max_user_instances (under procSys,
// /proc/sys) is too low for many system containers.
func CheckInotify(procSys string) Check {
	c := Check{Name: "inotify"}
	b, err := os.ReadFile(filepath.Join(procSys, "fs", "inotify", "max_user_instances"))
	if err != nil {
		c.Status, c.Detail = Warn, fmt.Sprintf("can't read fs.inotify.max_user_instances: %v", err)
		return c
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	switch {
	case err != nil:
		c.Status, c.Detail = Warn, fmt.Sprintf("fs.inotify.max_user_instances is %q", strings.TrimSpace(string(b)))
	case n < minInotifyInstances:
		c.Status, c.Detail = Warn, fmt.Sprintf("fs.inotify.max_user_instances is %d: about 20 systemd containers use it up and stop by themselves; "+
			"sysctl -w fs.inotify.max_user_instances=1048576 fs.inotify.max_user_watches=1048576 (and in /etc/sysctl.d)", n)
	default:
		c.Status, c.Detail = OK, fmt.Sprintf("fs.inotify.max_user_instances %d", n)
	}
	return c
}
