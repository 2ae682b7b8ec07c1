package mountpath

import "testing"

func TestCheck(t *testing.T) {
	for _, p := range []string{"/mnt/data", "/data", "/home/ubuntu/work", "/srv/x-y.z"} {
		if got, err := Check(p); err != nil || got != p {
			t.Errorf("Check(%q) = %q, %v", p, got, err)
		}
	}
	for _, p := range []string{"", "mnt", "/", "/proc", "/proc/x", "/sys/fs", "/dev/sda", "/run", "/etc/passwd", "/boot",
		"/mnt/../etc", "/mnt//x", "/mnt/", "/mnt/.", "/mnt/a\nb", "./mnt"} {
		if _, err := Check(p); err == nil {
			t.Errorf("Check(%q) accepted", p)
		}
	}
	if _, err := Check("/procfs"); err != nil {
		t.Errorf("/procfs is not under /proc: %v", err)
	}
}

func TestOverlaps(t *testing.T) {
	for _, c := range []struct {
		a, b string
		want bool
	}{{"/mnt/a", "/mnt/a", true}, {"/mnt", "/mnt/a", true}, {"/mnt/a/b", "/mnt/a", true}, {"/mnt/a", "/mnt/ab", false}, {"/x", "/y", false}} {
		if got := Overlaps(c.a, c.b); got != c.want {
			t.Errorf("Overlaps(%q, %q) = %v", c.a, c.b, got)
		}
	}
}
