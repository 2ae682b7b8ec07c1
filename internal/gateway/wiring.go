package gateway

import (
	"github.com/lxcgate/lxcgate/internal/auth"
	"github.com/lxcgate/lxcgate/internal/containers"
	"github.com/lxcgate/lxcgate/internal/portmap"
	"github.com/lxcgate/lxcgate/internal/server"
	"github.com/lxcgate/lxcgate/internal/shell"
	"github.com/lxcgate/lxcgate/internal/users"
	"github.com/lxcgate/lxcgate/internal/web"
	"github.com/lxcgate/lxcgate/internal/webauth"
)

// What serve plugs into what: the build, not a user, finds a missing
// method. (The SSH layer may not know containers, so this lives here.)
var (
	_ shell.KeyStore      = (*users.Store)(nil)
	_ shell.Authenticator = (*auth.Authenticator)(nil)
	_ server.Jumper       = (*containers.Service)(nil)
	_ server.Rooms        = (*containers.Service)(nil)
	_ portmap.Source      = (*containers.Service)(nil)
	_ portmap.Backend     = (*portmap.IPTables)(nil)
	_ portmap.Backend     = (*portmap.NFTables)(nil)
	_ auth.Store          = (*users.Store)(nil)
	_ web.Users           = (*users.Store)(nil)
	_ web.Auth            = (*webauth.Auth)(nil)
	_ shell.Web           = (*webauth.Auth)(nil)
)
