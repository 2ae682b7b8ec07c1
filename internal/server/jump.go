package server

import (
	"context"
	"io"
	"net"
	"strconv"
	"time"

	"github.com/gliderlabs/ssh"
	"github.com/lxcgate/lxcgate/internal/audit"
	gossh "golang.org/x/crypto/ssh"
)

// directTCPIPRequest is a direct-tcpip channel's extra data (RFC 4254,
// 7.2): where to, and where from.
type directTCPIPRequest struct {
	Host       string
	Port       uint32
	OriginHost string
	OriginPort uint32
}

// directTCPIP serves ssh -J (and -W, -L) towards the caller's own running
// containers only: the Jumper decides, the server only dials and copies.
func (s *Server) directTCPIP(_ *ssh.Server, conn *gossh.ServerConn, ch gossh.NewChannel, ctx ssh.Context) {
	var req directTCPIPRequest
	release, ok := s.acquireChannel(ctx, ch)
	if !ok {
		return
	}
	defer release() // whichever way it ends; release is idempotent
	if err := gossh.Unmarshal(ch.ExtraData(), &req); err != nil {
		release()
		ch.Reject(gossh.ConnectionFailed, "malformed request")
		return
	}
	dest := audit.SafeName(net.JoinHostPort(req.Host, strconv.Itoa(int(req.Port))))
	id, err := s.identityOf(ctx, ctx)
	refuse := func(why string) {
		release()
		s.opt.Audit.Record(ctx, audit.Event{Kind: audit.KindRefusal, User: audit.SafeName(conn.User()), Remote: ctx.RemoteAddr().String(),
			Method: "direct-tcpip " + dest, Detail: why})
		ch.Reject(gossh.Prohibited, why)
	}
	switch {
	case err != nil:
		refuse("no identity")
		return
	case id.Target != nil:
		s.forwardInto(ctx, ch, id, req, dest, refuse, release)
		return
	case id.Lobby || s.opt.Jump == nil:
		refuse("forwarding is not allowed here")
		return
	}
	up, why := s.dialJump(ctx, id.User.Name, req)
	if up == nil {
		refuse(why)
		return
	}
	channel, reqs, err := ch.Accept()
	if err != nil {
		up.Close()
		return
	}
	go gossh.DiscardRequests(reqs)
	s.opt.Audit.Record(ctx, audit.Event{Kind: audit.KindCommand, User: id.User.Name, Remote: ctx.RemoteAddr().String(),
		Method: id.Method, Detail: "direct-tcpip " + dest + " => ok", OK: true})
	splice(channel, up)
	release()
	channel.Close()
	up.Close()
}

// dialJump asks the Jumper where user may go for req, and dials it; a nil
// conn comes with the reason to give the client.
func (s *Server) dialJump(ctx context.Context, user string, req directTCPIPRequest) (*net.TCPConn, string) {
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	addr, err := s.opt.Jump.Resolve(rctx, user, req.Host, int(req.Port))
	cancel()
	if err != nil {
		// One answer for a foreign, unknown or unpublished destination.
		return nil, "only your own running containers, on port 22 or a published port: " + err.Error()
	}
	up, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		return nil, "container did not answer: " + err.Error()
	}
	return up.(*net.TCPConn), ""
}

// halfCloser is a TCP connection, or a relay that stands for one.
type halfCloser interface {
	io.ReadWriter
	CloseWrite() error
}

// splice copies both ways until both directions end, passing each EOF on
// as a half-close.
func splice(channel gossh.Channel, up halfCloser) {
	done := make(chan struct{}, 2)
	go func() { io.Copy(up, channel); up.CloseWrite(); done <- struct{}{} }()
	go func() { io.Copy(channel, up); channel.CloseWrite(); done <- struct{}{} }()
	<-done
	<-done
}
