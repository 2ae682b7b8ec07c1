package main

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite README.md's generated host help block")

// lxcgate runs the host command line in-process.
func lxcgate(t *testing.T, stdin string, args ...string) (int, string, string) {
	t.Helper()
	var out, errw bytes.Buffer
	code := run(args, strings.NewReader(stdin), &out, &errw)
	return code, out.String(), errw.String()
}

func testData(t *testing.T) string {
	t.Helper()
	t.Setenv("LXCGATE_CONFIG", "")
	t.Setenv("LXCGATE_DATA", "")
	return filepath.Join(t.TempDir(), "data")
}

// hostCase is one host command line and the exit code and output it must
// give.
type hostCase struct {
	args     []string
	code     int
	out, err string
}

// hostCases run against a data directory holding alice; data is its path.
func hostCases(data string) []hostCase {
	return []hostCase{
		{[]string{"user", "list", "--admin", "--containers", "3"}, 2, "", "unknown flag --admin"},
		{[]string{"user", "list", "--help"}, 0, "usage: lxcgate user list [flags]", ""},
		{[]string{"user", "list", "-h"}, 0, "--format FORMAT", ""},
		{[]string{"help", "user", "list"}, 0, "usage: lxcgate user list [flags]", ""},
		{[]string{"user", "list", "--data", data, "--json"}, 0, `"name": "alice"`, ""},
		{[]string{"user", "--data", data, "list"}, 0, "alice", ""},
		{[]string{"-data", data, "user", "list", "-json"}, 0, `"name": "alice"`, ""},
		{[]string{"user", "list", "--format", "csv"}, 0, "name,role,disabled,has_password,keys,created\nalice,user,", ""},
		{[]string{"user", "list", "--format", "yaml"}, 0, "- name: alice\n  role: user\n", ""},
		{[]string{"user", "list", "--format", "xml"}, 2, "", `invalid value "xml" for --format`},
		{[]string{"user", "list", "--json", "--json"}, 2, "", "flag --json is given more than once"},
		{[]string{"user", "list", "extra"}, 2, "", "usage: lxcgate user list"},
		{[]string{"user", "key", "list", "alice", "--format", "csv"}, 0, "fingerprint,type,comment,added\n", ""},
		{[]string{"user", "quota", "alice", "--containers", "3", "--memory", "4GiB"}, 0, "containers  0 / 3", ""},
		{[]string{"user", "quota", "alice", "--json"}, 0, `"memory": 4294967296`, ""},
		{[]string{"user", "quota", "alice", "--memory", "lots"}, 2, "", `invalid value "lots" for --memory`},
		{[]string{"user", "quota", "alice", "--cpu", "1", "--cpu", "2"}, 2, "", "given more than once"},
		{[]string{"user", "add", "bob", "--password-stdin", "--password-stdin"}, 2, "", "given more than once"},
		{[]string{"user", "add", "dave"}, 1, "", "--password-stdin"},
		{[]string{"user", "role", "alice", "boss"}, 2, "", "usage: lxcgate user role NAME admin|user"},
		{[]string{"user", "role", "nobody", "admin"}, 1, "", "no such user"},
		{[]string{"user", "role", "alice", "admin"}, 0, "", "alice is now admin"},
		{[]string{"user", "role", "alice", "user"}, 1, "", "last enabled admin"},
		{[]string{"user", "del", "nobody"}, 1, "", "no such user"},
		{[]string{"user"}, 2, "", "usage: lxcgate user add|list|"},
		{[]string{"user", "frob"}, 2, "", `unknown user command "frob"`},
		{[]string{"user", "key"}, 2, "", "usage: lxcgate user key add|list|del"},
		{[]string{"portmap", "bogus"}, 2, "", `unknown portmap command "bogus"`},
		{[]string{"frobnicate"}, 2, "", `unknown command "frobnicate"`},
		{[]string{}, 2, "", "usage: lxcgate [--config FILE] [--data DIR] COMMAND"},
		{[]string{"--help"}, 0, "usage: lxcgate [--config FILE] [--data DIR] COMMAND", ""},
		{[]string{"help"}, 0, "  user quota NAME", ""},
		{[]string{"version"}, 0, "lxcgate ", ""},
		{[]string{"version", "extra"}, 2, "", "usage: lxcgate version"},
		{[]string{"migrate"}, 0, "schema version ", ""},
		{[]string{"config", "--default"}, 0, `listen = ":2222"`, ""},
		{[]string{"serve", "--listen"}, 2, "", "flag --listen needs a value"},
		{[]string{"completion", "bash"}, 0, "lxcgate", ""},
		{[]string{"completion", "zsh"}, 0, "#compdef lxcgate", ""},
		{[]string{"completion", "fish"}, 0, "complete -c lxcgate", ""},
		{[]string{"completion", "tcsh"}, 2, "", "usage: lxcgate completion bash|zsh|fish"},
	}
}

// Exit statuses: 0 done (help included), 1 failed, 2 bad usage; global
// flags anywhere; one-line errors.
func TestHostExitCodes(t *testing.T) {
	data := testData(t)
	if code, _, errw := lxcgate(t, "alice-password\n", "--data", data, "user", "add", "alice", "--password-stdin"); code != 0 {
		t.Fatalf("user add: %d %s", code, errw)
	}
	for _, tc := range hostCases(data) {
		args := tc.args
		if !contains(args, "--data") && !contains(args, "-data") {
			args = append([]string{"--data", data}, args...)
		}
		code, out, errw := lxcgate(t, "", args...)
		if code != tc.code || !strings.Contains(out, tc.out) || !strings.Contains(errw, tc.err) {
			t.Errorf("%q: %d out %q err %q; want %d %q %q", tc.args, code, out, errw, tc.code, tc.out, tc.err)
		}
		if code == 2 && len(tc.args) > 0 && strings.Count(errw, "\n") != 1 {
			t.Errorf("%q: error is not one line: %q", tc.args, errw)
		}
	}
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Completion scripts ask the binary for candidates: commands and flags.
func TestHostCompletion(t *testing.T) {
	testData(t)
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"__complete", "us"}, "user\t"},
		{[]string{"__complete", "user", "k"}, "key\t"},
		{[]string{"__complete", "user", "list", "--f"}, "--format\t"},
		{[]string{"__complete", "completion", ""}, "zsh"},
	} {
		code, out, errw := lxcgate(t, "", tc.args...)
		if code != 0 || !strings.Contains(out, tc.want) {
			t.Errorf("%q: %d %q %q; want %q", tc.args, code, out, errw, tc.want)
		}
	}
}

// TestREADMEHostHelp keeps README.md's "Host command line" block equal to
// 'lxcgate help'. Regenerate it with
//
//	go test ./cmd/lxcgate -run TestREADMEHostHelp -update
func TestREADMEHostHelp(t *testing.T) {
	testData(t)
	_, out, _ := lxcgate(t, "", "help")
	const path = "../../README.md"
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	begin, end := "<!-- help:host -->\n", "<!-- /help:host -->"
	text := string(data)
	i, j := strings.Index(text, begin), strings.Index(text, end)
	if i < 0 || j < i {
		t.Fatalf("README.md has no block marked %q ... %q", begin, end)
	}
	block := "```\n" + out + "```\n"
	if got := text[i+len(begin) : j]; got != block {
		if !*update {
			t.Fatalf("README.md's host help differs from 'lxcgate help'; regenerate it with\n"+
				"  go test ./cmd/lxcgate -run TestREADMEHostHelp -update\ngot:\n%s\nwant:\n%s", got, block)
		}
		if err := os.WriteFile(path, []byte(text[:i+len(begin)]+block+text[j:]), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
