#!/usr/bin/env bash
# test.sh: the whole suite, as CI runs it. Brings the lab up (idempotent),
# then static checks, unit tests under the race detector, and the end-to-end
# tests against the real binary, OpenSSH client and LXD lab.
set -euo pipefail
cd "$(dirname "$0")/.."
export CI=${CI:-true} # tests that need the lab fail rather than skip

scripts/lab.sh up
# The nested LXD cluster: about 12 s from the image cache, under a second
# when it runs; the first build of its member image takes 1-3 minutes.
scripts/lab.sh cluster up

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
	printf 'gofmt would change:\n%s\n' "$unformatted"
	exit 1
fi
echo "== go vet"
go vet ./...
echo "== unit tests (race)"
go test -race -count=1 ./internal/... ./cmd/...
echo "== fuzzing (short)"
FUZZTIME=${FUZZTIME:-2s} scripts/fuzz.sh
echo "== benchmark smoke (parallel logins against a bare x/crypto server)"
bench/logins.sh --smoke
echo "== flow smoke (20 users launch, key, ssh, snapshot, stop and delete at once; nothing left behind)"
bench/flow.sh 20 1
echo "== end-to-end tests"
go test -count=1 -timeout 30m ./e2e/...
