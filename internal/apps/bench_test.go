package apps

import (
	"io"
	"net/http"
	"testing"
)

// BenchmarkGET is one keep-alive GET straight to an app and through the
// apps server, to compare (the e2e figure is bench/apps.sh).
func BenchmarkGET(b *testing.B) {
	t := &testing.T{}
	r := newRig(t, "")
	c := r.client()
	r.signIn(c, "alice", "alice", "box", "jupyter")
	plain := &http.Client{}
	for _, tc := range []struct {
		name string
		c    *http.Client
		url  string
	}{{"direct", plain, r.backend.URL + "/alice/box/jupyter/x"}, {"proxied", c, r.s.URL("alice", "box", "jupyter") + "x"}} {
		b.Run(tc.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				resp, err := tc.c.Get(tc.url)
				if err != nil {
					b.Fatal(err)
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
			}
		})
	}
}
