#!/bin/sh
# Builds the libFuzzer harnesses with clang (ASan + UBSan) and runs each for a
# bounded time; exits non-zero when a harness crashes, leaks or times out.
#
#   FUZZ_SECONDS  seconds per harness (default 20)
#   FUZZ_OUT      where binaries, grown corpora and crash inputs go
#                 (default: a new directory under ${TMPDIR:-/tmp})
#   CC            the clang to use (default: clang)
#
# Needs Debian's clang and libclang-rt-14-dev (the fuzzer runtime) and
# libcjson-dev. Exits 77 (skipped) when they are missing.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
seconds=${FUZZ_SECONDS:-20}
cc=${CC:-clang}
out=${FUZZ_OUT:-$(mktemp -d "${TMPDIR:-/tmp}/ccpd-fuzz.XXXXXX")}

case $seconds in
''|*[!0-9]*) echo "run-fuzz: FUZZ_SECONDS must be a whole number" >&2; exit 2 ;;
esac

if ! command -v "$cc" >/dev/null 2>&1; then
	echo "run-fuzz: $cc not found (apt-get install clang libclang-rt-14-dev), skipping" >&2
	exit 77
fi
if [ ! -e /usr/include/cjson/cJSON.h ]; then
	echo "run-fuzz: cJSON headers not found (apt-get install libcjson-dev), skipping" >&2
	exit 77
fi

mkdir -p "$out"
cflags="-g -O1 -fno-omit-frame-pointer -fsanitize=fuzzer,address,undefined
	-fno-sanitize-recover=undefined -D_GNU_SOURCE
	-I$root/daemon -I$root/proto"

# name, the module it tests, extra link flags
build() {
	# shellcheck disable=SC2086 # cflags and libs are lists
	"$cc" $cflags -o "$out/fuzz-$1" "$here/fuzz-$1.c" "$root/daemon/$2" $3
}

if ! build jsonrpc jsonrpc.c "$root/daemon/json.c -lcjson" || ! build netstring netstring.c ""; then
	echo "run-fuzz: building the harnesses failed (is libclang-rt-14-dev installed?)" >&2
	exit 1
fi

failed=0
for name in jsonrpc netstring; do
	corpus="$out/corpus-$name"
	mkdir -p "$corpus"
	dict=""
	if [ -f "$here/$name.dict" ]; then
		dict="-dict=$here/$name.dict"
	fi
	echo "run-fuzz: fuzz-$name for $seconds s (corpus $corpus)"
	# New inputs go to the first directory; the seeds in the repo stay as
	# they are.
	# shellcheck disable=SC2086 # dict is empty or one argument
	if "$out/fuzz-$name" -max_total_time="$seconds" -max_len=8192 \
		-timeout=10 -rss_limit_mb=2048 -print_final_stats=1 \
		-artifact_prefix="$out/$name-" $dict \
		"$corpus" "$here/corpus-$name" >"$out/$name.log" 2>&1; then
		echo "run-fuzz: fuzz-$name: ok, $(find "$corpus" -type f | wc -l) corpus files, $(sed -n 's/^stat::number_of_executed_units: *//p' "$out/$name.log") runs"
	else
		failed=1
		echo "run-fuzz: fuzz-$name FAILED; log $out/$name.log" >&2
		grep -E '^(==[0-9]+==|SUMMARY|.*runtime error|artifact_prefix|Test unit written)' \
			"$out/$name.log" | head -n 20 >&2 || true
		for crash in "$out/$name-"*; do
			[ -e "$crash" ] || continue
			echo "run-fuzz: reproduce with $out/fuzz-$name $crash" >&2
		done
	fi
done

exit "$failed"
