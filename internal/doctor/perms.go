package doctor

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// clientKeyName is the LXD client key the gateway makes in the data
// directory (lxd.ClientKeyName; doctor does not import the LXD adapter).
const clientKeyName = "lxd-client.key"

// CheckPerms checks that the data directory is 0700 and the database file
// and the LXD client key in it 0600: any of them readable by group or
// others fails.
func CheckPerms(dataDir, dbFile string) Check {
	c := Check{Name: "data permissions"}
	for _, p := range []struct {
		path string
		want fs.FileMode
	}{{dataDir, 0o700}, {dbFile, 0o600}, {filepath.Join(dataDir, clientKeyName), 0o600}} {
		st, err := os.Stat(p.path)
		if errors.Is(err, fs.ErrNotExist) {
			continue
		}
		if err != nil {
			c.Status, c.Detail = Fail, fmt.Sprintf("%s: %v", p.path, err)
			return c
		}
		if st.Mode().Perm()&0o077 != 0 {
			c.Status = Fail
			c.Detail = fmt.Sprintf("%s is %04o, readable by others: chmod %04o %s", p.path, st.Mode().Perm(), p.want, p.path)
			return c
		}
	}
	c.Status, c.Detail = OK, fmt.Sprintf("%s and %s are private", dataDir, dbFile)
	return c
}
