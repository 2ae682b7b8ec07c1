package lxd

import (
	"errors"
	"testing"
)

// Only LXD's known storage races are tried again; the error the caller
// sees is the checked one.
func TestStorageRace(t *testing.T) {
	checked := errors.New("create box: LXD failed; the error was logged for the admin")
	for raw, want := range map[string]bool{
		"Failed creating instance from image: readdirent /var/lib/lxd/x: bad file descriptor": true,
		"Failed to handle idmapped storage: Failed to change ownership of /x/rootfs/bin/tail": true,
		"Failed creating instance from image: no space left on device":                        false,
		"Image not found": false,
		"Failed creating instance from image: readdirent /x/rootfs/usr/share/doc/y: not a directory": true,
	} {
		err := raced(errors.New(raw), checked)
		if storageRace(err) != want || err.Error() != checked.Error() || !errors.Is(err, checked) {
			t.Errorf("%q: race %v, error %v", raw, storageRace(err), err)
		}
	}
}
