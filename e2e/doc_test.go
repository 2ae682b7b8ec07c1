// Package e2e drives the real lxcgate binary with the real OpenSSH client
// and, where a test needs it, the real lab that scripts/lab.sh brings up:
// LXD with its bridges and images, iptables, the client network namespace,
// Chromium and the nested LXD cluster. Every test starts its own gateway
// on a free loopback port with a temporary data directory, its own LXD
// project prefix and its own iptables chain prefix, and removes them.
//
// A test belongs here only when it needs something real that a fake
// cannot stand for; the other two tiers come first (docs/testing.md):
//
//   - unit tests beside the package, on the in-memory fakes
//     (internal/lxd/lxdtest for LXD, a fake backend for iptables);
//   - in-process gateway tests (internal/server, internal/web,
//     cmd/lxcgate) on the LXD fake, with no lab.
//
// Where things are: harness_test.go (building and starting gateways),
// client_test.go (ssh and terminals), webclient_test.go (HTTP
// clients and the browser), fixtures_test.go (the lab and the gateways on it),
// lxc_test.go (the one way to run lxc), views_test.go (the gateway's JSON
// as the tests read it), network_test.go (iptables, the client namespace,
// listeners), words_test.go (quoted command lines); the other files hold
// tests, one subject each.
package e2e
