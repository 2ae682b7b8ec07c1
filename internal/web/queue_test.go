package web_test

import (
	"net/http"
	"strings"
	"testing"
)

// A launch whose GPU is held is queued through the API (202 and the
// entry); the queue shows others' entries masked; ?all=1 is for admins.
func TestAPIQueue(t *testing.T) {
	l := newLab(t)
	alice, bob, root := l.token("alice"), l.token("bob"), l.token("root1")
	l.want("POST", "/api/v1/containers", alice, `{"name":"g","gpus":1,"start":true}`, http.StatusCreated, `"name": "g"`)
	l.want("POST", "/api/v1/containers", bob, `{"name":"q","gpus":1,"queue":true}`, http.StatusAccepted, `"position": 1`)
	l.want("POST", "/api/v1/containers", bob, `{"name":"q2","queue":true}`, http.StatusBadRequest, "--gpus")
	body := l.want("GET", "/api/v1/queue", alice, "", http.StatusOK, `"user": "(another user)"`)
	if strings.Contains(body, `"q"`) {
		t.Fatalf("alice sees bob's name: %s", body)
	}
	l.want("GET", "/api/v1/queue?all=1", alice, "", http.StatusForbidden, "admins")
	l.want("GET", "/api/v1/queue?all=1", root, "", http.StatusOK, `"name": "q"`)
	l.want("GET", "/api/v1/queue", bob, "", http.StatusOK, `"name": "q"`)
}
