#!/bin/sh
# Builds the libFuzzer harnesses with clang (ASan + UBSan) and runs each for a
# bounded time; exits non-zero when a harness crashes, leaks or times out.
#
#   jsonrpc    jsonrpc_decode and jsonrpc_check: requests and batches
#   netstring  the netstring decoder, fed in pieces of every size
#   rpc        rpc_peer_input on the daemon's objects minus main: dispatch,
#              batches, every method's parameter checks, the admin
#              validators, the desk (made, not started: no baresip)
#   conf       the configuration file: conf_load, conf_finish, the dump
#   phone      phone-number input (phone.cc over libphonenumber)
#   http       the header logic ccpd owns: X-Forwarded-For behind trusted
#              proxies, origins in the frame-ancestors policy
#   media      what baresip says: netstrings of JSON through the media
#              stack's event parsing to a real desk, media up, no baresip
#   attrs      the screen pop's attributes in a caller's From URI (attrs.c)
#
#   FUZZ_SECONDS  seconds per harness (default 20)
#   FUZZ_TARGETS  which harnesses run (default: all)
#   FUZZ_OUT      where binaries, grown corpora and crash inputs go
#                 (default: a new directory under ${TMPDIR:-/tmp})
#   FUZZ_BUILD_ONLY=1  build, do not run (run-deep.sh does the long runs)
#   CC, CXX       the clang to use (default: clang, clang++)
#
# Each harness also replays its seeds and regression cases,
# tests/fuzz/corpus-NAME. Needs Debian's clang and libclang-rt-14-dev (the
# fuzzer runtime) and the daemon's -dev packages. Exits 77 (skipped) when
# clang or cJSON is missing.
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
sanitize="-fsanitize=address,undefined -fno-sanitize-recover=undefined"
cflags="-g -O1 -fno-omit-frame-pointer $sanitize -D_GNU_SOURCE
	-I$root/daemon -I$root/proto"

# The pure modules are built into their harness with it.
# name, the modules it tests, extra link flags
build() {
	# shellcheck disable=SC2086 # cflags and libs are lists
	"$cc" $cflags -fsanitize=fuzzer -o "$out/fuzz-$1" "$here/fuzz-$1.c" $2 $3
}

# The rest link the daemon's objects minus main (as tests/unit does for
# the pure modules), built once into a library, instrumented for coverage.
pkgs="libre librem libcjson libsystemd sqlite3 libwebsockets libuv alsa
	protobuf libcrypt libnats libpq libcrypto"
build_daemon() {
	# shellcheck disable=SC2086 # lists
	dflags="$cflags -fsanitize=fuzzer-no-link $(pkg-config --cflags $pkgs)
		-DHAVE_INTTYPES_H -DHAVE_STDBOOL_H -DHAVE_INET6
		-DCCPD_VERSION=\"fuzz\" -DCCPD_WEB_DIR=\"$root/web\"
		-DCCPD_SOURCE_WEB_DIR=\"$root/web\" -DCCPD_GUARD_DIR=\"$out\" -DCCPD_GUARD_REL=\"\""
	mkdir -p "$out/obj"
	for src in "$root"/daemon/*.c "$root"/daemon/*.cc; do
		obj="$out/obj/$(basename "$src").o"
		[ "$src" = "$root/daemon/main.c" ] && continue
		# the guard wraps accept() for baresip's process alone
		[ "$src" = "$root/daemon/ctrlguard.c" ] && continue
		[ "$obj" -nt "$src" ] && continue
		case $src in
		*.cc) comp="${CXX:-clang++} -std=gnu++17" ;;
		*) comp="$cc -std=gnu11" ;;
		esac
		# shellcheck disable=SC2086 # lists
		$comp $dflags -c -o "$obj" "$src" || return 1
	done
	rm -f "$out/libccpd.a"
	ar rcs "$out/libccpd.a" "$out"/obj/*.o
}
build_linked() {
	# shellcheck disable=SC2086 # lists
	"$cc" $dflags -std=gnu11 -c -o "$out/fuzz-$1.o" "$here/fuzz-$1.c" &&
	"${CXX:-clang++}" $cflags -fsanitize=fuzzer -o "$out/fuzz-$1" \
		"$out/fuzz-$1.o" "$out/libccpd.a" $(pkg-config --libs $pkgs) \
		-lphonenumber -lm
}

targets=${FUZZ_TARGETS:-"jsonrpc netstring http rpc conf phone media attrs"}
d="$root/daemon"
if ! build jsonrpc "$d/jsonrpc.c $d/json.c" -lcjson ||
   ! build netstring "$d/netstring.c" "" ||
   ! build http "$d/httphdr.c" "" || ! build attrs "$d/attrs.c" -lcjson ||
   ! build_daemon ||
   ! build_linked rpc || ! build_linked conf || ! build_linked phone ||
   ! build_linked media; then
	echo "run-fuzz: building the harnesses failed (are libclang-rt-14-dev and the daemon's -dev packages installed?)" >&2
	exit 1
fi
if [ "${FUZZ_BUILD_ONLY:-0}" = 1 ]; then
	echo "run-fuzz: harnesses built in $out"
	exit 0
fi

failed=0
for name in $targets; do
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
