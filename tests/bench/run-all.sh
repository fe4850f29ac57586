#!/usr/bin/env bash
# Every benchmark in one command, each printing its figures as ratios
# against the reference it names, measured in the same run:
#   control-rtt  ccpd's control round trip against a line-echo floor (and
#                linphone-daemon and baresip's ctrl_tcp)   run-control-rtt.sh
#   ws-fanout    one state change to 500 WebSocket clients against ws-floor,
#                a bare libwebsockets broadcast server, for ccpd with its
#                journal on tmpfs (the fan-out) and on disk (what syncing
#                the journal there adds)               ws-fanout.py
# See README.md beside this file.
#
# usage: run-all.sh [BUILD_DIR]
#   BUILD_DIR  the top-level build directory (default: build); ccpd is
#              BUILD_DIR/ccpd (or BUILD_DIR/daemon/ccpd), the benchmark
#              programs are in BUILD_DIR/tests/bench
#
# Environment: BENCH_ONLY="name ..." runs only those; BENCH_ALL_TIME_LIMIT
# (900) bounds each benchmark in seconds; every setting of the single
# benchmarks (BENCH_COUNT, BENCH_WS_CLIENTS, BENCH_CPUS, ...) passes through.
#
# Exit status: 0 when every benchmark measured everything, 1 when one did
# not (its output says why), 2 on a usage error.

set -u -o pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)

if [ $# -gt 1 ]; then
	echo "usage: run-all.sh [BUILD_DIR]" >&2
	exit 2
fi
build=$(cd "${1:-$root/build}" 2>/dev/null && pwd) || {
	echo "run-all.sh: no build directory ${1:-$root/build}; build first (meson setup build && meson compile -C build)" >&2
	exit 2
}
ccpd_bin=$build/ccpd
[ -x "$ccpd_bin" ] || ccpd_bin=$build/daemon/ccpd
bench_dir=$build/tests/bench
for b in "$ccpd_bin" "$bench_dir/rtt" "$bench_dir/ws-floor" "$bench_dir/ws-fanout-client"; do
	if [ ! -x "$b" ]; then
		echo "run-all.sh: $b not found; build first (meson compile -C $build)" >&2
		exit 2
	fi
done
limit=${BENCH_ALL_TIME_LIMIT:-900}
case $limit in
'' | *[!0-9]*)
	echo "run-all.sh: BENCH_ALL_TIME_LIMIT must be a whole number of seconds" >&2
	exit 2
	;;
esac

declare -A CMD=(
	[control-rtt]="bash $here/run-control-rtt.sh $ccpd_bin $bench_dir"
	[ws-fanout]="$here/ws-fanout.py $ccpd_bin $bench_dir"
	[acd-load]="$here/acd-load.py $ccpd_bin"
	[sip-flood]="$here/sip-flood.py $ccpd_bin"
)
ORDER=(control-rtt ws-fanout acd-load sip-flood)
only=${BENCH_ONLY:-${ORDER[*]}}

out=$(mktemp -d /tmp/ccpd-bench-all.XXXXXX) || exit 1
trap 'rm -rf "$out"' EXIT

rc=0
for name in "${ORDER[@]}"; do
	case " $only " in *" $name "*) ;; *) continue ;; esac
	echo "==== $name"
	# shellcheck disable=SC2086  # the command is split on blanks on purpose
	timeout -k 10 "$limit" ${CMD[$name]} 2>&1 | tee "$out/$name"
	st=${PIPESTATUS[0]}
	if [ "$st" = 124 ]; then
		echo "SUMMARY $name: not measured (stopped after ${limit}s)" >>"$out/$name"
	fi
	[ "$st" = 0 ] || rc=1
	echo
done

echo "==== summary ($(uname -n), $(nproc) CPUs, $(date -u '+%Y-%m-%d %H:%M UTC'))"
for name in "${ORDER[@]}"; do
	[ -e "$out/$name" ] || continue
	grep -h '^SUMMARY ' "$out/$name" | sed 's/^SUMMARY /  /' ||
		echo "  $name: not measured (no summary; see its output above)"
done
exit $rc
