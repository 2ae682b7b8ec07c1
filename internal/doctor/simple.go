package doctor

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
)

// CheckHostKey warns when the SSH host key does not exist yet.
func CheckHostKey(path string) Check {
	c := Check{Name: "host key"}
	_, err := os.Stat(path)
	switch {
	case err == nil:
		c.Status, c.Detail = OK, path
	case errors.Is(err, fs.ErrNotExist):
		c.Status, c.Detail = Warn, fmt.Sprintf("%s missing: created at first start", path)
	default:
		c.Status, c.Detail = Fail, fmt.Sprintf("%s: %v", path, err)
	}
	return c
}

// CheckPoolDriver rates the storage driver of the pool behind the default
// profile's root disk: zfs and btrfs are fine, dir has no copy-on-write.
func CheckPoolDriver(pool, driver string) Check {
	c := Check{Name: "storage pool"}
	switch driver {
	case "":
		c.Status, c.Detail = Fail, "the default profile has no root disk on a pool: lxc profile device add default root disk path=/ pool=POOL"
	case "zfs", "btrfs":
		c.Status, c.Detail = OK, fmt.Sprintf("pool %s uses %s", pool, driver)
	case "dir":
		c.Status, c.Detail = Warn, fmt.Sprintf("pool %s uses dir: no copy-on-write, creates and snapshots copy whole trees; use zfs or btrfs", pool)
	default:
		c.Status, c.Detail = Warn, fmt.Sprintf("pool %s uses %s: zfs or btrfs recommended", pool, driver)
	}
	return c
}
