package e2e

import (
	"io"
	"net/http"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// Clients of the gateway's web listener: API requests and the browser.

// api sends a request to the web listener with a bearer token.
func api(t *testing.T, method, url, token, body string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	c := http.Client{Timeout: 60 * time.Second}
	resp, err := c.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, url, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// lastLine is a command's last line of stdout: 'web' and 'token create'
// print their secret there, alone.
func lastLine(r result) string {
	lines := strings.Split(strings.TrimSpace(r.out), "\n")
	return strings.TrimSpace(lines[len(lines)-1])
}

// chromiumPath finds a Chromium to drive, or skips (fails in CI) without one.
func chromiumPath(t *testing.T) string {
	t.Helper()
	for _, p := range []string{"chromium", "chromium-browser", "google-chrome"} {
		if path, err := exec.LookPath(p); err == nil {
			return path
		}
	}
	need(t, "chromium")
	return ""
}
