package shell

import (
	"github.com/lxcgate/lxcgate/internal/cli"
	"github.com/lxcgate/lxcgate/internal/quota"
)

// QuotaFlags are the flags that change a user's quota, in the shell's
// quota command and the host's 'lxcgate user quota' alike: one per field
// of quota.Fields.
var QuotaFlags = quotaFlags()

func quotaFlags() []cli.Flag {
	kinds := map[quota.Kind]cli.Kind{quota.Count: cli.Int, quota.Size: cli.Size, quota.Group: cli.String}
	var out []cli.Flag
	for _, f := range quota.Fields {
		fl := cli.Flag{Name: f.Name, Kind: kinds[f.Kind], Help: f.Help, Admin: true}
		if f.Kind == quota.Group {
			fl.Arg = "GROUP"
		}
		out = append(out, fl)
	}
	return out
}
