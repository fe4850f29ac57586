#!/bin/sh
# The deep run: each harness (ASan and UBSan, built by run-fuzz.sh) until
# it has made FUZZ_RUNS executions (10 million) or FUZZ_SECONDS have
# passed (600), one at a time, then one line each with the executions,
# the rate and the coverage libFuzzer reached (cov: edges, ft: features).
#
#   FUZZ_TARGETS  which harnesses (default: all of run-fuzz.sh's)
#   FUZZ_OUT      where binaries, corpora, logs and crash inputs go
#
# A crash fails the run; keep its input as a regression case: copy it
# into tests/fuzz/corpus-NAME/ (run-fuzz.sh then replays it on every run).
set -eu

here=$(cd "$(dirname "$0")" && pwd)
runs=${FUZZ_RUNS:-10000000}
seconds=${FUZZ_SECONDS:-600}
out=${FUZZ_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/ccpd-fuzz-deep.XXXXXX")}
targets=${FUZZ_TARGETS:-"jsonrpc netstring http rpc conf phone media"}

FUZZ_OUT=$out FUZZ_BUILD_ONLY=1 "$here/run-fuzz.sh"

failed=0
printf '%-10s %12s %9s %7s %7s %s\n' target executions exec/s cov ft result
for name in $targets; do
	corpus="$out/corpus-$name"
	log="$out/deep-$name.log"
	mkdir -p "$corpus"
	dict=""
	[ -f "$here/$name.dict" ] && dict="-dict=$here/$name.dict"
	result=ok
	# shellcheck disable=SC2086 # dict is empty or one argument
	"$out/fuzz-$name" -runs="$runs" -max_total_time="$seconds" \
		-max_len=8192 -timeout=10 -rss_limit_mb=2048 \
		-print_final_stats=1 -artifact_prefix="$out/$name-" $dict \
		"$corpus" "$here/corpus-$name" >"$log" 2>&1 ||
		{ result="FAILED ($log)"; failed=1; }
	last=$(grep -E '^#[0-9]+' "$log" | tail -n 1)
	printf '%-10s %12s %9s %7s %7s %s\n' "$name" \
		"$(sed -n 's/^stat::number_of_executed_units: *//p' "$log")" \
		"$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")" \
		"$(echo "$last" | sed -n 's/.* cov: \([0-9]*\).*/\1/p')" \
		"$(echo "$last" | sed -n 's/.* ft: \([0-9]*\).*/\1/p')" \
		"$result"
done
exit "$failed"
