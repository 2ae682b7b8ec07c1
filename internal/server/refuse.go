package server

import (
	"fmt"
	"log/slog"
	"strings"

	"github.com/gliderlabs/ssh"
	"github.com/lxcgate/lxcgate/internal/audit"
	gossh "golang.org/x/crypto/ssh"
)

// sessionRequests are the only requests a session channel serves.
var sessionRequests = map[string]bool{
	"shell": true, "exec": true, "pty-req": true, "window-change": true, "signal": true, "break": true,
}

// session serves a "session" channel through gliderlabs' handler, with
// every request outside sessionRequests refused and logged first.
// gliderlabs itself would accept "env" and agent forwarding requests.
// The channel holds one of the connection's channel places from the open
// request until gliderlabs' handler returns (the channel closed), started
// or not: an accepted session costs buffers even before its shell.
func (s *Server) session(srv *ssh.Server, conn *gossh.ServerConn, ch gossh.NewChannel, ctx ssh.Context) {
	release, ok := s.acquireChannel(ctx, ch)
	if !ok {
		return
	}
	defer release()
	ssh.DefaultSessionHandler(srv, conn, filteredChannel{NewChannel: ch, s: s, ctx: ctx}, ctx)
}

type filteredChannel struct {
	gossh.NewChannel
	s   *Server
	ctx ssh.Context
}

func (f filteredChannel) Accept() (gossh.Channel, <-chan *gossh.Request, error) {
	ch, reqs, err := f.NewChannel.Accept()
	if err != nil {
		return ch, reqs, err
	}
	out := make(chan *gossh.Request)
	_, target := splitLogin(f.ctx.User())
	go func() {
		defer close(out)
		for req := range reqs {
			switch {
			case sessionRequests[req.Type]:
				out <- req
			case target != nil && intoContainer(req):
				out <- req
			default:
				f.s.refuseRequest(f.ctx, "session request", req)
				if msg := refusedNotice[req.Type]; msg != "" && target != nil {
					// OpenSSH says nothing of these refusals by itself.
					fmt.Fprintf(ch.Stderr(), "lxcgate: %s\r\n", msg)
				}
			}
		}
	}()
	return ch, out, nil
}

// intoContainer says which requests beyond sessionRequests a session into
// a container serves: the sftp subsystem and the locale's variables.
func intoContainer(req *gossh.Request) bool {
	switch req.Type {
	case "subsystem":
		var p struct{ Name string }
		return gossh.Unmarshal(req.Payload, &p) == nil && p.Name == "sftp"
	case "env":
		var kv struct{ Name, Value string }
		return gossh.Unmarshal(req.Payload, &kv) == nil && localeVar(kv.Name)
	}
	return false
}

// localeVar is a variable a client may pass into a container (SendEnv).
func localeVar(name string) bool {
	return name == "LANG" || name == "LANGUAGE" || (strings.HasPrefix(name, "LC_") && len(name) <= 24)
}

// refusedNotice is the line a session into a container gets for a
// forwarding it asked for and cannot have.
var refusedNotice = map[string]string{
	"auth-agent-req@openssh.com": "agent forwarding is not available through the gateway",
	"x11-req":                    "X11 forwarding is not available through the gateway",
}

// refuseChannel refuses every channel type but "session": direct-tcpip
// (ssh -L, -J, -D), direct-streamlocal (unix sockets), x11 and the rest.
func (s *Server) refuseChannel(_ *ssh.Server, _ *gossh.ServerConn, ch gossh.NewChannel, ctx ssh.Context) {
	s.opt.Audit.Record(ctx, audit.Event{Kind: audit.KindRefusal, User: audit.SafeName(ctx.User()), Remote: ctx.RemoteAddr().String(),
		Method: "channel " + audit.SafeName(ch.ChannelType()), Detail: "channel type not allowed"})
	ch.Reject(gossh.Prohibited, "lxcgate does not allow "+ch.ChannelType()+" channels")
}

// refuseGlobal refuses global requests: remote forwarding (ssh -R) and
// its unix-socket form. Keepalives are answered false without a record:
// OpenSSH counts any answer as alive.
func (s *Server) refuseGlobal(ctx ssh.Context, _ *ssh.Server, req *gossh.Request) (bool, []byte) {
	s.refuseRequest(ctx, "global request", req)
	return false, nil
}

// quiet requests are refused with a log line but no audit record: clients
// send them unasked on every connection (keepalives, hints, and the
// SendEnv LANG LC_* of Debian's ssh_config).
var quiet = map[string]slog.Level{
	"keepalive@openssh.com": slog.LevelDebug, "no-more-sessions@openssh.com": slog.LevelDebug, "env": slog.LevelInfo,
}

// refuseRequest records, then answers: the record exists by the time the
// client learns of the refusal.
func (s *Server) refuseRequest(ctx ssh.Context, kind string, req *gossh.Request) {
	if level, ok := quiet[req.Type]; ok {
		s.log.Log(ctx, level, "refused "+kind, "type", req.Type, "user", audit.SafeName(ctx.User()), "remote", ctx.RemoteAddr().String())
	} else {
		s.opt.Audit.Record(ctx, audit.Event{Kind: audit.KindRefusal, User: audit.SafeName(ctx.User()), Remote: ctx.RemoteAddr().String(),
			Method: kind + " " + audit.SafeName(req.Type), Detail: "request type not allowed"})
	}
	if req.WantReply {
		req.Reply(false, nil)
	}
}
