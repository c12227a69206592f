#!/usr/bin/env bash
# libFuzzer (clang, ASan+UBSan) on every fuzz target for a bounded time: SECONDS each
# (CI: 15).  Exits 77 without clang; 1 if any target finds a crash (the crasher is
# printed and kept in the temp dir's crash-* until the test ends: copy it into
# tests/fuzz/corpus/TARGET/ as a regression seed).
set -euo pipefail
src=${1:?usage: libfuzzer.sh SOURCE_ROOT [SECONDS]}
secs=${2:-15}
command -v clang >/dev/null || { echo "SKIP: no clang (libFuzzer needs it)"; exit 77; }
tmp=$(mktemp -d /tmp/weir-libfuzzer-XXXXXX)
trap 'rm -rf "$tmp"' EXIT
rc=0
for t in decode config itch line sql; do
	if ! WEIR_FUZZ_OUT="$tmp/$t" "$src/tools/fuzz" "$t" "$secs" >"$tmp/$t.log" 2>&1; then
		echo "FAIL: libFuzzer on $t:"; tail -40 "$tmp/$t.log"; ls "$tmp/$t"/crash-* 2>/dev/null && xxd "$tmp/$t"/crash-* | head -20
		rc=1
	else
		echo "ok $t: $(grep -E '^#[0-9]+.*DONE' "$tmp/$t.log" | tail -1)"
	fi
done
exit $rc
