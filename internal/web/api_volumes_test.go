package web_test

import (
	"strings"
	"testing"
)

// Scenario: alice makes, attaches, detaches and deletes a volume through
// the API, and launches with it; bob reaches none of it by any name.
func TestAPIVolumes(t *testing.T) {
	l := newLab(t)
	alice, bob := l.token("alice"), l.token("bob")
	l.want("POST", "/api/v1/volumes", alice, `{"name":"data","size":"2GiB"}`, 201, `"size": 2147483648`)
	l.want("POST", "/api/v1/volumes", alice, `{"name":"data"}`, 409, `already`)
	l.want("POST", "/api/v1/volumes", alice, `{"name":"bad_name"}`, 400, `invalid volume name`)
	l.want("POST", "/api/v1/volumes", alice, `{"name":"x","size":"1TiB"}`, 409, `at most 4GiB`)
	l.want("POST", "/api/v1/volumes", alice, `{"name":"y","host":"member1"}`, 409, `not a cluster`)
	l.want("POST", "/api/v1/containers", alice, `{"name":"dev","start":true,"volumes":[{"name":"data","path":"/work"}],"datasets":["imagenet"]}`,
		201, `"name": "dev"`)
	l.want("GET", "/api/v1/volumes", alice, "", 200, `"path": "/work"`)
	l.want("DELETE", "/api/v1/volumes/data", alice, "", 409, `attached to dev at /work`)
	l.want("POST", "/api/v1/volumes/data/detach", alice, `{"container":"dev"}`, 200, `"attached": []`)
	l.want("POST", "/api/v1/volumes/data/attach", alice, `{"container":"dev","path":"/proc/x"}`, 400, `nothing may be mounted`)
	l.want("POST", "/api/v1/volumes/data/attach", alice, `{"container":"dev","readonly":true}`, 200, `"readonly": true`)
	l.want("POST", "/api/v1/volumes/data/frob", alice, `{"container":"dev"}`, 404, `no such action`)
	l.want("GET", "/api/v1/datasets", alice, "", 200, `"path": "/data/imagenet"`)
	for _, path := range []string{"data", "DATA", "alice.data", "lxcgate-alice.data", "..%2fdata", "data%2f", "%2e%2e"} {
		l.want("GET", "/api/v1/volumes/"+path, bob, "", 404, `no such volume`)
		l.want("DELETE", "/api/v1/volumes/"+path, bob, "", 404, `no such volume`)
		l.want("POST", "/api/v1/volumes/"+path+"/attach", bob, `{"container":"dev"}`, 404, `no such`)
	}
	body := l.want("GET", "/api/v1/volumes", bob, "", 200, `[]`)
	if strings.Contains(body, "data") {
		t.Fatalf("bob sees %s", body)
	}
	// The page shows the volume, its size and where it is attached.
	page := l.signIn("alice").want("GET", "/", 200, `id="volumes"`)
	if !strings.Contains(page, "<td>data</td><td>2GiB</td>") || !strings.Contains(page, "dev:<code>/mnt/data</code> (read-only)") {
		t.Fatalf("page: %s", page)
	}
	if strings.Contains(l.signIn("bob").want("GET", "/", 200, ""), `id="volumes"`) {
		t.Fatal("bob's page shows volumes")
	}
	l.want("POST", "/api/v1/volumes/data/detach", alice, `{"container":"dev"}`, 200, `"attached": []`)
	l.want("DELETE", "/api/v1/volumes/data", alice, "", 204, ``)
	l.want("GET", "/api/v1/volumes/data", alice, "", 404, `no such volume`)
}
