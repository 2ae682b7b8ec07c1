package doctor

import (
	"context"
	"errors"
	"testing"
)

type fakeRunner struct {
	out string
	err error
}

func (f fakeRunner) Run(context.Context, string, ...string) (string, error) { return f.out, f.err }

func TestCheckIptablesBackend(t *testing.T) {
	for _, tc := range []struct {
		r    fakeRunner
		want Status
	}{
		{fakeRunner{out: "iptables v1.8.9 (nf_tables)\n"}, OK},
		{fakeRunner{out: "iptables v1.8.9 (legacy)\n"}, OK},
		{fakeRunner{out: "iptables v1.4\n"}, Warn},
		{fakeRunner{err: errors.New("not found")}, Fail},
	} {
		if c := CheckIptablesBackend(context.Background(), tc.r); c.Status != tc.want {
			t.Errorf("%+v: %+v, want %s", tc.r, c, tc.want)
		}
	}
}
