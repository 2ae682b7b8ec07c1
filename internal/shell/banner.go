package shell

import (
	"fmt"
	"io"
	"time"

	"github.com/lxcgate/lxcgate/internal/containers"
)

// noticeWindow is how soon a lease must run out to be in the banner.
const noticeWindow = 24 * time.Hour

// banner tells a user at a terminal, right after the welcome, which of
// their containers the gateway stopped (and that were not started since:
// a login in exec mode, 'ssh gw list', does not count as being told), and
// which leases run out within a day. It says nothing when there is
// nothing to say, and never fails the login.
func (s *Session) banner(w io.Writer) {
	if s.sh.cs == nil {
		return
	}
	ns, err := s.sh.cs.Notices(s.ctx, s.user.Name, time.Time{}, noticeWindow)
	if err != nil {
		s.sh.Log.Warn("banner: notices unknown", "user", s.user.Name, "err", err)
		return
	}
	if len(ns) == 0 {
		return
	}
	fmt.Fprintln(w, "Your containers:")
	told := false
	for _, n := range ns {
		at := n.At.UTC().Format("2006-01-02 15:04 UTC")
		switch n.Reason {
		case containers.NoticeQueueStarted:
			fmt.Fprintf(w, "  %s, queued for GPUs, was launched at %s ('details %s')\n", n.Name, at, n.Name)
			told = true
		case containers.NoticeQueueFailed:
			fmt.Fprintf(w, "  %s, queued for GPUs, could not be launched at %s: %s\n", n.Name, at, n.Detail)
			told = true
		case containers.ReasonIdle:
			fmt.Fprintf(w, "  %s was stopped at %s: idle ('start %s' runs it again)\n", n.Name, at, n.Name)
		case containers.ReasonExpired:
			fmt.Fprintf(w, "  %s was stopped at %s: its lease ran out ('renew %s', then 'start %s')\n", n.Name, at, n.Name, n.Name)
		default:
			fmt.Fprintf(w, "  %s: its lease runs out at %s ('renew %s' extends it)\n", n.Name, at, n.Name)
		}
	}
	if told {
		s.sh.cs.Told(s.ctx, s.user.Name) // said once, at a terminal
	}
}
