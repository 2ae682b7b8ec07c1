// Package failpoint kills the process at a named step (LXCGATE_FAILPOINT),
// so that end-to-end tests can check what a crash between two steps leaves
// behind. It acts only in binaries built with -tags failpoint; the gateway
// proper has no such switch.
package failpoint
