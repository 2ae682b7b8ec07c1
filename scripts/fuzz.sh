#!/usr/bin/env bash
# fuzz.sh: runs every Go fuzz target for a short while (FUZZTIME each,
# default 5s), as CI does. The seed corpora (f.Add and testdata/fuzz/) also
# run as ordinary tests under go test. A failing input is written to the
# package's testdata/fuzz/FuzzName/ directory; commit it with the fix, so
# that it stays a regression test. Every target runs even when one fails;
# the script fails at the end if any did.
set -euo pipefail
cd "$(dirname "$0")/.."
FUZZTIME=${FUZZTIME:-5s}

targets=(
	"internal/cli FuzzSplit"
	"internal/cli FuzzParse"
	"internal/users FuzzParseAuthorizedKeys"
	"internal/users FuzzAddKeys"
	"internal/users FuzzAddWithKeys"
	"internal/users FuzzValidName"
	"internal/config FuzzLoad"
	"internal/config FuzzLoadEnv"
	"internal/portmap FuzzParseComment"
	"internal/portmap FuzzMappingComment"
	"internal/portmap FuzzRuleLine"
	"internal/portmap FuzzNetlinkRule"
)

out=$(mktemp)
trap 'rm -f "$out"' EXIT
# fuzz PKG NAME: one run. On a loaded machine Go's fuzzing engine can miss
# its own deadline ("context deadline exceeded", no failing input): that
# is the engine, not the code, and gets one more run.
fuzz() {
	local try
	for try in 1 2; do
		go test -run '^$' -fuzz "^${2}\$" -fuzztime "$FUZZTIME" "./$1" 2>&1 | tee "$out"
		[ "${PIPESTATUS[0]}" -eq 0 ] && return 0
		grep -q 'context deadline exceeded' "$out" && ! grep -q 'Failing input written' "$out" || return 1
		echo "== fuzz $2: the engine missed its deadline; once more"
	done
	return 1
}

failed=()
for t in "${targets[@]}"; do
	read -r pkg name <<<"$t"
	echo "== fuzz $name"
	fuzz "$pkg" "$name" || failed+=("$pkg $name")
done

if [ ${#failed[@]} -gt 0 ]; then
	printf 'fuzz targets failed:\n' >&2
	printf '  %s\n' "${failed[@]}" >&2
	exit 1
fi
