package doctor

import (
	"bufio"
	"fmt"
	"os"
	"strings"
)

// LXCFSDir is where LXC's lxcfs mount hook looks for lxcfs when a
// container starts.
const LXCFSDir = "/var/lib/lxcfs"

// CheckLXCFS warns when lxcfs is not mounted at LXCFSDir on the LXD host,
// read from its mount table (mounts, /proc/self/mounts): without it a
// container's /proc shows the host's memory, CPUs and uptime, so "free"
// in a 2 GiB container reports the host's RAM. LXD does not report lxcfs
// itself; containers started before lxcfs need a restart to get it.
func CheckLXCFS(mounts string) Check {
	c := Check{Name: "lxcfs"}
	mounted, err := lxcfsMounted(mounts)
	switch {
	case err != nil:
		c.Status, c.Detail = Warn, fmt.Sprintf("can't read the mount table to look for lxcfs: %v", err)
	case mounted:
		c.Status, c.Detail = OK, "lxcfs mounted at "+LXCFSDir
	default:
		c.Status, c.Detail = Warn, fmt.Sprintf("lxcfs is not mounted at %s: containers see the host's memory and CPUs (free, nproc); "+
			"systemctl enable --now lxcfs (without systemd: lxcfs %s &), then restart running containers", LXCFSDir, LXCFSDir)
	}
	return c
}

// lxcfsMounted looks for a fuse.lxcfs file system at LXCFSDir.
func lxcfsMounted(mounts string) (bool, error) {
	f, err := os.Open(mounts)
	if err != nil {
		return false, err
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// device, mount point, type, options, ...
		if fields := strings.Fields(sc.Text()); len(fields) >= 3 && fields[1] == LXCFSDir && fields[2] == "fuse.lxcfs" {
			return true, nil
		}
	}
	return false, sc.Err()
}
