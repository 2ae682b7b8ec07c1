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

// directTCPIP serves ssh -J (and -W, -L) towards the caller's own running
// containers only: the Jumper decides, the server only dials and copies.
func (s *Server) directTCPIP(_ *ssh.Server, conn *gossh.ServerConn, ch gossh.NewChannel, ctx ssh.Context) {
	var req struct {
		Host       string
		Port       uint32
		OriginHost string
		OriginPort uint32
	}
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
	case id.Lobby || s.opt.Jump == nil:
		refuse("forwarding is not allowed here")
		return
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	addr, err := s.opt.Jump.Resolve(rctx, id.User.Name, req.Host, int(req.Port))
	cancel()
	if err != nil {
		// One answer for a foreign, unknown or unpublished destination.
		refuse("only your own running containers, on port 22 or a published port: " + err.Error())
		return
	}
	up, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		refuse("container did not answer: " + err.Error())
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
	done := make(chan struct{}, 2)
	go func() { io.Copy(up, channel); up.(*net.TCPConn).CloseWrite(); done <- struct{}{} }()
	go func() { io.Copy(channel, up); channel.CloseWrite(); done <- struct{}{} }()
	<-done
	<-done
	release()
	channel.Close()
	up.Close()
}
