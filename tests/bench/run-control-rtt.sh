#!/usr/bin/env bash
# shellcheck disable=SC2317  # functions run from the EXIT trap look unreachable
# Control round-trip benchmark: ccpd against linphone-daemon, baresip's
# ctrl_tcp and a bare line-echo server, all started here and measured in
# the same run. See README.md beside this file.
#
# usage: run-control-rtt.sh [CCPD_BINARY [BENCH_BUILD_DIR]]
#   CCPD_BINARY      default: build/daemon/ccpd, else build/ccpd
#   BENCH_BUILD_DIR  where rtt and echo-server were built
#                    (default: build/tests/bench; a top-level build dir works too)
#
# Environment:
#   BENCH_COUNT=5000         measured round trips per target, all rounds
#   BENCH_ROUNDS=5           rounds; each target takes a turn in each round
#   BENCH_WARMUP=500         warm-up round trips per target and round
#   BENCH_TIME_LIMIT=60      seconds per target (all rounds, warm-ups included)
#   BENCH_READY_TIMEOUT=30   seconds each program gets to start answering
#   BENCH_CPUS=same          where processes run: "same" pins the client and
#                            every server to one CPU, "split" puts the client
#                            on another CPU than the servers, "none" pins
#                            nothing (see README.md)
#   BENCH_SKIP_CCPD=1        do not start or measure ccpd
#   BENCH_KEEP=1             keep the temporary directory (logs, configs)
#   CCPD_EXTRA_ARGS="..."    more arguments for ccpd (split on blanks)
#   LINPHONE_DAEMON, BARESIP program names or paths of the reference programs
#
# Exit status: 0 when every target that was not skipped was measured
# (whatever the goals say), 1 when something could not be measured, 2 on a
# usage error.

set -u -o pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)

if [ $# -ge 1 ]; then
	ccpd_bin=$1
elif [ ! -x "$root/build/daemon/ccpd" ] && [ -x "$root/build/ccpd" ]; then
	ccpd_bin=$root/build/ccpd
else
	ccpd_bin=$root/build/daemon/ccpd
fi
bench_dir=${2:-$root/build/tests/bench}
if [ ! -x "$bench_dir/rtt" ] && [ -x "$bench_dir/tests/bench/rtt" ]; then
	bench_dir=$bench_dir/tests/bench
fi
RTT=$bench_dir/rtt
ECHO_SERVER=$bench_dir/echo-server

COUNT=${BENCH_COUNT:-5000}
WARMUP=${BENCH_WARMUP:-500}
ROUNDS=${BENCH_ROUNDS:-5}
TIME_LIMIT=${BENCH_TIME_LIMIT:-60}
READY_TIMEOUT=${BENCH_READY_TIMEOUT:-30}
SKIP_CCPD=${BENCH_SKIP_CCPD:-0}
KEEP=${BENCH_KEEP:-0}
CPU_LAYOUT=${BENCH_CPUS:-same}
LINPHONE_DAEMON=${LINPHONE_DAEMON:-linphone-daemon}
BARESIP=${BARESIP:-baresip}

die_usage() {
	echo "run-control-rtt.sh: $*" >&2
	exit 2
}

for v in COUNT ROUNDS WARMUP TIME_LIMIT READY_TIMEOUT; do
	case ${!v} in
	'' | *[!0-9]*) die_usage "BENCH_$v must be a whole number, got '${!v}'" ;;
	esac
done
[ "$COUNT" -ge 1 ] || die_usage "BENCH_COUNT must be at least 1"
if [ "$ROUNDS" -lt 1 ] || [ "$ROUNDS" -gt "$COUNT" ]; then
	die_usage "BENCH_ROUNDS must be from 1 to BENCH_COUNT"
fi
[ "$TIME_LIMIT" -ge 1 ] || die_usage "BENCH_TIME_LIMIT must be at least 1"
[ "$READY_TIMEOUT" -ge 1 ] || die_usage "BENCH_READY_TIMEOUT must be at least 1"
for b in "$RTT" "$ECHO_SERVER"; do
	[ -x "$b" ] || die_usage "$b not found; build first (meson setup build && meson compile -C build) or pass the build dir"
done

# ---- CPU placement ----
# On a small VM a wake-up across CPUs costs several times what the servers
# themselves spend on a request, and the scheduler places processes as it
# likes; pinning makes runs comparable.
read -r -a cpus <<<"$("$RTT" cpus)"
SRV_PIN=()
CLI_PIN=()
case $CPU_LAYOUT in
same)
	SRV_PIN=(taskset -c "${cpus[0]}")
	CLI_PIN=(taskset -c "${cpus[0]}")
	layout_text="client and servers pinned to CPU ${cpus[0]}"
	;;
split)
	[ "${#cpus[@]}" -ge 2 ] || die_usage "BENCH_CPUS=split needs two CPUs"
	SRV_PIN=(taskset -c "${cpus[0]}")
	CLI_PIN=(taskset -c "${cpus[1]}")
	layout_text="servers pinned to CPU ${cpus[0]}, client to CPU ${cpus[1]}"
	;;
none)
	layout_text="nothing pinned"
	;;
*) die_usage "BENCH_CPUS must be same, split or none, got '$CPU_LAYOUT'" ;;
esac
if [ "${#SRV_PIN[@]}" -gt 0 ] && ! command -v taskset >/dev/null 2>&1; then
	die_usage "taskset (util-linux) not found; set BENCH_CPUS=none"
fi

PER_ROUND=$(((COUNT + ROUNDS - 1) / ROUNDS))
ROUND_LIMIT=$(awk -v t="$TIME_LIMIT" -v r="$ROUNDS" 'BEGIN { printf "%.3f", t / r }')

# Everything lives under one directory in /tmp: linphone-daemon's --pipe
# takes a name relative to /tmp.
work=$(mktemp -d /tmp/ccpd-bench.XXXXXX) || exit 1

declare -A PID=() STATUS=() WHY=() P50=() P99=() MEAN=() CNT=() RAW=() PARTIAL=() ROUND_P50=()
TARGETS=(ccpd linphone-daemon baresip-ctrl_tcp floor)
declare -A FRAMING=(
	[ccpd]="JSON-RPC line, Unix socket"
	[linphone-daemon]="text block, Unix socket"
	[baresip-ctrl_tcp]="JSON netstring, TCP"
	[floor]="line echo, Unix socket"
)
declare -A STOPSIG=([ccpd]=TERM [linphone-daemon]=INT [baresip-ctrl_tcp]=TERM [floor]=TERM)
CCPD_CHILDREN=""

# A process is alive if it exists and is not a zombie waiting to be reaped.
alive() {
	local st
	st=$(sed -n 's/^.*) \(.\).*$/\1/p' "/proc/$1/stat" 2>/dev/null) || return 1
	[ -n "$st" ] && [ "$st" != Z ]
}

starttime() {
	sed -n 's/^.*) //p' "/proc/$1/stat" 2>/dev/null | awk '{print $20}'
}

# Stops one process by its PID: the given signal, then SIGKILL after 5 s.
stop_pid() {
	local name=$1 pid=$2 sig=$3 i=0
	if alive "$pid"; then
		kill -s "$sig" "$pid" 2>/dev/null
		while alive "$pid" && [ "$i" -lt 100 ]; do
			sleep 0.05
			i=$((i + 1))
		done
		if alive "$pid"; then
			echo "note: $name (pid $pid) still running 5 s after SIG$sig; sending SIGKILL" >&2
			kill -s KILL "$pid" 2>/dev/null
		fi
	fi
	wait "$pid" 2>/dev/null
	return 0
}

cleanup() {
	local t pid entry cpid cstart
	trap - EXIT INT TERM
	for t in "${TARGETS[@]}"; do
		pid=${PID[$t]:-}
		[ -n "$pid" ] || continue
		if [ "$t" = ccpd ] && alive "$pid"; then
			# remember ccpd's children (its baresip) to check they end with it
			# shellcheck disable=SC2013
			for cpid in $(cat /proc/"$pid"/task/*/children 2>/dev/null); do
				CCPD_CHILDREN="$CCPD_CHILDREN $cpid:$(starttime "$cpid")"
			done
		fi
		stop_pid "$t" "$pid" "${STOPSIG[$t]}"
	done
	for entry in $CCPD_CHILDREN; do
		cpid=${entry%%:*}
		cstart=${entry#*:}
		if alive "$cpid" && [ "$(starttime "$cpid")" = "$cstart" ]; then
			echo "note: ccpd left its child pid $cpid running; stopping it" >&2
			stop_pid "ccpd child" "$cpid" TERM
		fi
	done
	if [ "$KEEP" = 1 ] || [ "${KEEP_FOR_LOGS:-0}" = 1 ]; then
		echo "logs and configuration kept in $work"
	else
		rm -rf "$work"
	fi
}
trap cleanup EXIT
trap 'echo "interrupted: stopping the programs" >&2; exit 130' INT TERM

not_measured() {
	STATUS[$1]=fail
	WHY[$1]=$2
}

# field NAME LINE: the value of NAME=... in a result line
field() {
	sed -n "s/.* $1=\([^ ]*\).*/\1/p" <<<"$2"
}

now_ms() {
	echo $(($(date +%s%N) / 1000000))
}

# Polls the target until it answers a real request, the process dies, or
# the deadline passes.
wait_ready() {
	local name=$1 pid=$2
	shift 2
	local deadline=$(($(now_ms) + READY_TIMEOUT * 1000))
	while :; do
		if ! alive "$pid"; then
			wait "$pid" 2>/dev/null
			not_measured "$name" "exited before it answered (exit status $?); see its log"
			return 1
		fi
		if "${CLI_PIN[@]}" "$RTT" -p -c 0.2 -l "$name" "$@" 2>"$work/$name.probe.err"; then
			return 0
		fi
		if [ "$(now_ms)" -ge "$deadline" ]; then
			not_measured "$name" "no answer within ${READY_TIMEOUT}s: $(tail -n 1 "$work/$name.probe.err")"
			return 1
		fi
	done
}

# One round of one target: a fresh connection, warm-up, then this round's
# share of the samples, saved for the summary.
measure_round() {
	local name=$1 round=$2 line status
	shift 2
	line=$("${CLI_PIN[@]}" "$RTT" -n "$PER_ROUND" -w "$WARMUP" -t "$ROUND_LIMIT" -c 5 \
		-l "$name" -o "$work/$name.$round.samples" "$@" \
		2>>"$work/$name.rtt.err" | grep '^RESULT ')
	echo "$line" >>"$work/$name.rounds"
	if [ -z "$line" ]; then
		not_measured "$name" "round $round: rtt printed no result: $(tail -n 1 "$work/$name.rtt.err")"
		return 1
	fi
	status=$(field status "$line")
	case $status in
	ok) ;;
	partial)
		WHY[$name]="time limit reached in round $round after $(field count "$line") round trips"
		PARTIAL[$name]=1
		;;
	*)
		not_measured "$name" "round $round: $(sed -n 's/.*reason="\(.*\)".*/\1/p' <<<"$line")"
		return 1
		;;
	esac
	if [ "$(field errors "$line")" != 0 ]; then
		not_measured "$name" "round $round: $(field errors "$line") answers were errors: $(tail -n 1 "$work/$name.rtt.err")"
		return 1
	fi
	return 0
}

# The summary over every round of one target.
summarize() {
	local name=$1 line
	line=$("$RTT" summarize -l "$name" "$work/$name".*.samples | grep '^RESULT ')
	if [ "$(field status "$line")" != ok ]; then
		not_measured "$name" "no samples to summarize"
		return 1
	fi
	STATUS[$name]=ok
	[ -z "${PARTIAL[$name]:-}" ] || STATUS[$name]=partial
	P50[$name]=$(field p50_us "$line")
	P99[$name]=$(field p99_us "$line")
	MEAN[$name]=$(field mean_us "$line")
	CNT[$name]=$(field count "$line")
	RAW[$name]=$line
	ROUND_P50[$name]=$(sed -n 's/.* p50_us=\([^ ]*\).*/\1/p' "$work/$name.rounds" | tr '\n' ' ')
	if [ "${CNT[$name]}" -lt 100 ]; then
		not_measured "$name" "${WHY[$name]:-} (too few round trips for a p99)"
		return 1
	fi
	return 0
}

# ---- ports ----
ports=$("$RTT" free-port 4 | tr '\n' ' ')
read -r port_lin_sip port_bs_sip port_bs_ctrl port_ccpd_sip <<<"$ports"
if [ -z "${port_ccpd_sip:-}" ]; then
	echo "run-control-rtt.sh: could not find free ports on 127.0.0.1" >&2
	exit 1
fi

# ---- start every target ----

# floor
"${SRV_PIN[@]}" "$ECHO_SERVER" "$work/echo.sock" >"$work/floor.log" 2>&1 &
PID[floor]=$!

# linphone-daemon
lin_sock_name=${work#/tmp/}/linphone.sock
lin_sock=/tmp/$lin_sock_name
if command -v "$LINPHONE_DAEMON" >/dev/null 2>&1; then
	lin_home=$work/linphone-home
	# without this directory linphone-daemon binds no SIP port
	mkdir -p "$lin_home/.local/share/linphone" "$lin_home/.config"
	cat >"$work/linphonerc" <<EOF
[sip]
sip_port=$port_lin_sip
sip_tcp_port=0
sip_tls_port=0
bind_address=127.0.0.1
use_ipv6=0
[video]
capture=0
display=0
automatically_initiate=0
automatically_accept=0
EOF
	HOME=$lin_home XDG_DATA_HOME=$lin_home/.local/share XDG_CONFIG_HOME=$lin_home/.config \
		"${SRV_PIN[@]}" "$LINPHONE_DAEMON" --pipe "$lin_sock_name" --config "$work/linphonerc" \
		--log "$work/linphone-daemon.log" --disable-stats-events \
		</dev/null >"$work/linphone-daemon.out" 2>&1 &
	PID[linphone-daemon]=$!
else
	not_measured linphone-daemon "$LINPHONE_DAEMON not found (Debian package linphone-cli)"
fi

# baresip with ctrl_tcp
if command -v "$BARESIP" >/dev/null 2>&1; then
	modpath=""
	for d in /usr/lib/baresip/modules /usr/lib/*/baresip/modules /usr/local/lib/baresip/modules; do
		if [ -e "$d/ctrl_tcp.so" ]; then
			modpath=$d
			break
		fi
	done
	if [ -z "$modpath" ]; then
		not_measured baresip-ctrl_tcp "baresip's ctrl_tcp module not found (Debian package baresip-core)"
	else
		bs_dir=$work/baresip
		mkdir -p "$bs_dir"
		# SIP listens on UDP and TCP at the port, and TLS at the port + 1.
		cat >"$bs_dir/config" <<EOF
poll_method		epoll
sip_listen		127.0.0.1:$port_bs_sip
net_interface		127.0.0.1
module_path		$modpath
module			g711.so
module_app		account.so
module_app		menu.so
module_app		ctrl_tcp.so
ctrl_tcp_listen		127.0.0.1:$port_bs_ctrl
EOF
		echo '<sip:bench@127.0.0.1>;regint=0' >"$bs_dir/accounts"
		"${SRV_PIN[@]}" "$BARESIP" -f "$bs_dir" </dev/null >"$work/baresip-ctrl_tcp.log" 2>&1 &
		PID[baresip-ctrl_tcp]=$!
	fi
else
	not_measured baresip-ctrl_tcp "$BARESIP not found (Debian package baresip-core)"
fi

# ccpd
ccpd_dir=$work/ccpd
if [ "$SKIP_CCPD" = 1 ]; then
	STATUS[ccpd]=skipped
	WHY[ccpd]="BENCH_SKIP_CCPD=1"
elif [ ! -x "$ccpd_bin" ]; then
	not_measured ccpd "$ccpd_bin not found or not executable (set BENCH_SKIP_CCPD=1 to leave it out)"
else
	mkdir -p "$ccpd_dir"
	# shellcheck disable=SC2086
	"${SRV_PIN[@]}" "$ccpd_bin" -o "socket=$ccpd_dir/ccpd.sock" -o "runtime_dir=$ccpd_dir" \
		-o "state_dir=$ccpd_dir" -o "sip_listen=127.0.0.1:$port_ccpd_sip" \
		${CCPD_EXTRA_ARGS:-} </dev/null >"$work/ccpd.log" 2>&1 &
	PID[ccpd]=$!
fi

# ---- wait for each, then measure each ----
declare -A PROBE=(
	[ccpd]="line-json $ccpd_dir/ccpd.sock"
	[linphone-daemon]="linphone $lin_sock"
	[baresip-ctrl_tcp]="netstring 127.0.0.1:$port_bs_ctrl"
	[floor]="line-json $work/echo.sock"
)
for t in floor ccpd linphone-daemon baresip-ctrl_tcp; do
	[ -n "${PID[$t]:-}" ] || continue
	# shellcheck disable=SC2086
	wait_ready "$t" "${PID[$t]}" ${PROBE[$t]}
done

echo "ccpd control round trip: one request in flight; per target $ROUNDS rounds of $PER_ROUND timed requests, each after $WARMUP warm-up"
echo "host: $(uname -srm), $(nproc) CPUs; $(date -u '+%Y-%m-%d %H:%M:%S UTC'); $layout_text"
echo "linphone-daemon $(dpkg-query -W -f '${Version}' linphone-cli 2>/dev/null || echo '?'), baresip $(dpkg-query -W -f '${Version}' baresip-core 2>/dev/null || echo '?')"
echo

# Rounds: every target takes its turn in each round, starting with a
# different one each time, so that slow drifts of the machine spread over
# all targets instead of landing on one.
order=(floor ccpd linphone-daemon baresip-ctrl_tcp)
for ((round = 1; round <= ROUNDS; round++)); do
	for ((k = 0; k < ${#order[@]}; k++)); do
		t=${order[$(((k + round - 1) % ${#order[@]}))]}
		[ -n "${PID[$t]:-}" ] || continue
		[ -z "${STATUS[$t]:-}" ] || continue # failed already
		if ! alive "${PID[$t]}"; then
			not_measured "$t" "exited before round $round; see its log"
			continue
		fi
		# shellcheck disable=SC2086
		measure_round "$t" "$round" ${PROBE[$t]}
	done
done
for t in "${order[@]}"; do
	[ -n "${PID[$t]:-}" ] || continue
	[ -z "${STATUS[$t]:-}" ] || continue
	summarize "$t"
done

# ---- report ----
ratio() {
	awk -v a="$1" -v b="$2" 'BEGIN { if (a != "" && b != "" && b + 0 > 0) printf "%.2fx", a / b; else printf "n/a" }'
}
measured() {
	case ${STATUS[$1]:-} in ok | partial) return 0 ;; *) return 1 ;; esac
}

printf '%-18s %-28s %7s %9s %9s %9s %10s %10s\n' \
	target framing count p50_us p99_us mean_us p50/floor p99/floor
for t in "${TARGETS[@]}"; do
	if measured "$t"; then
		printf '%-18s %-28s %7s %9s %9s %9s %10s %10s\n' "$t" "${FRAMING[$t]}" \
			"${CNT[$t]}" "${P50[$t]}" "${P99[$t]}" "${MEAN[$t]}" \
			"$(ratio "${P50[$t]}" "${P50[floor]:-}")" "$(ratio "${P99[$t]}" "${P99[floor]:-}")"
	else
		printf '%-18s %-28s %7s %9s %9s %9s %10s %10s\n' "$t" "${FRAMING[$t]}" \
			- - - - - -
	fi
done
echo

for ref in linphone-daemon baresip-ctrl_tcp; do
	if measured ccpd && measured "$ref"; then
		printf 'ccpd / %-18s p50 %s   p99 %s\n' "$ref" \
			"$(ratio "${P50[ccpd]}" "${P50[$ref]}")" "$(ratio "${P99[ccpd]}" "${P99[$ref]}")"
	else
		printf 'ccpd / %-18s n/a\n' "$ref"
	fi
done
echo

echo "goals:"
goal() {
	local ref=$1 factor=$2 verdict
	if measured ccpd && measured "$ref"; then
		verdict=$(awk -v c="${P50[ccpd]}" -v r="${P50[$ref]}" -v f="$factor" \
			'BEGIN { print (c <= f * r) ? "PASS" : "MISS" }')
		printf '  %-4s ccpd p50 <= %s x %s p50   (%s us vs %s us: %s)\n' "$verdict" \
			"$factor" "$ref" "${P50[ccpd]}" "${P50[$ref]}" "$(ratio "${P50[ccpd]}" "${P50[$ref]}")"
	elif [ "${STATUS[ccpd]:-}" = skipped ]; then
		printf '  %-4s ccpd p50 <= %s x %s p50   (ccpd skipped)\n' SKIP "$factor" "$ref"
	else
		printf '  %-4s ccpd p50 <= %s x %s p50   (not measured)\n' N/A "$factor" "$ref"
	fi
}
goal linphone-daemon 1.0
goal baresip-ctrl_tcp 0.7
echo

rc=0
for t in "${TARGETS[@]}"; do
	case ${STATUS[$t]:-} in
	skipped) echo "skipped: $t (${WHY[$t]})" ;;
	partial) echo "note: $t: ${WHY[$t]}" ;;
	ok) ;;
	*)
		echo "NOT MEASURED: $t: ${WHY[$t]:-unknown reason}"
		rc=1
		;;
	esac
done
echo
echo "raw:"
for t in "${TARGETS[@]}"; do
	[ -n "${RAW[$t]:-}" ] || continue
	echo "  ${RAW[$t]}"
	echo "    p50 of each round (us): ${ROUND_P50[$t]}"
done
echo
if measured ccpd && measured floor; then
	printf 'SUMMARY control-rtt: ccpd p50 %s us = %s echo floor, p99 %s us = %s echo floor; p50 %s linphone-daemon, %s baresip-ctrl_tcp (same run)\n' \
		"${P50[ccpd]}" "$(ratio "${P50[ccpd]}" "${P50[floor]}")" \
		"${P99[ccpd]}" "$(ratio "${P99[ccpd]}" "${P99[floor]}")" \
		"$(ratio "${P50[ccpd]}" "${P50[linphone-daemon]:-}")" \
		"$(ratio "${P50[ccpd]}" "${P50[baresip-ctrl_tcp]:-}")"
else
	echo "SUMMARY control-rtt: not measured"
fi
if [ $rc -ne 0 ]; then
	KEEP_FOR_LOGS=1
	echo "result: some targets could not be measured (see above)"
else
	echo "result: all targets measured"
fi
exit $rc
