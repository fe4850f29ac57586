#!/usr/bin/env bash
# Installs what the tests need (Debian packages, and playwright-core from
# npm for the browser tests, which drive Debian's chromium: no browser is
# downloaded), builds ccpd twice (once with -Werror, once
# with AddressSanitizer and UndefinedBehaviorSanitizer), runs every suite
# against the sanitized build, and ends with one line:
#   N passed, N failed, N skipped
# Exit status: 0 only when nothing failed.
set -uo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

packages=(
	build-essential g++ meson ninja-build pkg-config
	libre-dev librem-dev libcjson-dev libsystemd-dev libphonenumber-dev libsqlite3-dev
	libcrypt-dev libwebsockets-dev libuv1-dev
	baresip-core sip-tester kamailio kamailio-presence-modules systemd openssl
	libasound2-dev coturn
	postgresql-15 libpq-dev python3-psycopg2 nats-server libnats-dev libssl-dev
	tcpdump
	nodejs chromium
	python3 python3-pytest python3-jsonschema python3-websockets
	clang libclang-rt-14-dev
	debhelper lintian dpkg-dev
)

if [ "${CCPD_SKIP_INSTALL:-0}" != 1 ]; then
	export DEBIAN_FRONTEND=noninteractive
	apt-get update -qq >/dev/null
	apt-get install -y -qq --no-install-recommends "${packages[@]}" \
		>/dev/null || { echo "apt-get install failed"; echo "0 passed, 1 failed"; exit 1; }
	# Debian's npm; a nodejs from elsewhere may carry its own and conflict
	command -v npm >/dev/null ||
		apt-get install -y -qq --no-install-recommends npm >/dev/null ||
		{ echo "apt-get install npm failed"; echo "0 passed, 1 failed"; exit 1; }
fi
# .ci/run installs first, then starts the shared servers, then runs the rest
[ "${1:-}" = --install-only ] && exit 0

passed=0 failed=0 skipped=0
results=$(mktemp -d)
trap 'rm -rf "$results"' EXIT

count() { # suite name, status
	case $2 in
	pass) passed=$((passed + 1)) ;;
	skip) skipped=$((skipped + 1)) ;;
	*) failed=$((failed + 1)); echo "FAILED: $1" ;;
	esac
}

echo "== build with -Werror"
if meson setup --wipe build-werror -Dwerror=true >"$results/werror.log" 2>&1 ||
   meson setup build-werror -Dwerror=true >"$results/werror.log" 2>&1; then
	if ninja -C build-werror >>"$results/werror.log" 2>&1; then
		count "build -Wall -Wextra -Werror" pass
	else
		cat "$results/werror.log"; count "build -Wall -Wextra -Werror" fail
	fi
else
	cat "$results/werror.log"; count "meson setup" fail
fi

echo "== build with ASan and UBSan"
rm -rf build-san
if ! meson setup build-san --buildtype=debug -Db_sanitize=address,undefined \
	-Db_lundef=false >"$results/san.log" 2>&1 ||
   ! ninja -C build-san >>"$results/san.log" 2>&1; then
	cat "$results/san.log"
	count "sanitized build" fail
	echo "$passed passed, $failed failed, $skipped skipped"
	exit 1
fi

export ASAN_OPTIONS=detect_leaks=1:abort_on_error=0:halt_on_error=1
export UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1

echo "== unit tests (meson test)"
meson test -C build-san --suite unit --print-errorlogs \
	--num-processes 2 | tee "$results/unit.log"
u_ok=$(sed -n 's/^Ok: *\([0-9]*\).*/\1/p' "$results/unit.log" | tail -1)
u_fail=$(sed -n 's/^Fail: *\([0-9]*\).*/\1/p' "$results/unit.log" | tail -1)
u_skip=$(sed -n 's/^Skipped: *\([0-9]*\).*/\1/p' "$results/unit.log" | tail -1)
u_to=$(sed -n 's/^Timeout: *\([0-9]*\).*/\1/p' "$results/unit.log" | tail -1)
passed=$((passed + ${u_ok:-0}))
failed=$((failed + ${u_fail:-0} + ${u_to:-0}))
skipped=$((skipped + ${u_skip:-0}))
[ -n "$u_ok" ] || count "meson test produced no summary" fail

echo "== fuzzers (bounded)"
if [ -x tests/fuzz/run-fuzz.sh ]; then
	FUZZ_SECONDS=${FUZZ_SECONDS:-10} tests/fuzz/run-fuzz.sh \
		>"$results/fuzz.log" 2>&1
	case $? in
	0) count fuzz pass ;;
	77) tail -3 "$results/fuzz.log"; count fuzz skip ;;
	*) tail -40 "$results/fuzz.log"; count fuzz fail ;;
	esac
fi

echo "== integration tests (pytest, real ccpd, baresip, SIPp, kamailio)"
export CCPD_BIN="$top/build-san/ccpd"
export CCPCTL_BIN="$top/build-san/ctl/ccpctl"
/usr/bin/python3 -m pytest -p no:cacheprovider -v -rfEs \
	--junitxml="$results/integration.xml" tests/integration
rc=$?
if [ -f "$results/integration.xml" ]; then
	read -r i_pass i_fail i_skip < <(/usr/bin/python3 - "$results/integration.xml" <<'PY'
import sys, xml.etree.ElementTree as ET
root = ET.parse(sys.argv[1]).getroot()
suites = [root] if root.tag == "testsuite" else root.findall("testsuite")
t = f = e = s = 0
for su in suites:
    t += int(su.get("tests", 0)); f += int(su.get("failures", 0))
    e += int(su.get("errors", 0)); s += int(su.get("skipped", 0))
print(t - f - e - s, f + e, s)
PY
)
	passed=$((passed + i_pass)); failed=$((failed + i_fail))
	skipped=$((skipped + i_skip))
	# pytest exits 5 when it collected nothing: that is a failure here
	if [ "$rc" -ne 0 ] && [ "$i_fail" -eq 0 ]; then
		count "pytest exit status $rc" fail
	fi
else
	count "pytest produced no report (exit $rc)" fail
fi

echo "== browser tests (playwright-core driving Debian's chromium)"
export CCPD_ARTIFACTS="${CCPD_ARTIFACTS:-$top/build-san/artifacts/browser}"
mkdir -p "$CCPD_ARTIFACTS"
if (cd tests/browser && { npm ci --no-audit --no-fund || npm install --no-audit --no-fund; }) \
	>"$results/npm.log" 2>&1; then
	(cd tests/browser && node --test --test-reporter=tap ccp.test.mjs floor.test.mjs) \
		2>&1 | tee "$results/browser.log"
	b_pass=$(sed -n 's/^# pass \([0-9]*\)$/\1/p' "$results/browser.log" | tail -1)
	b_fail=$(sed -n 's/^# fail \([0-9]*\)$/\1/p' "$results/browser.log" | tail -1)
	b_skip=$(sed -n 's/^# skipped \([0-9]*\)$/\1/p' "$results/browser.log" | tail -1)
	if [ -z "$b_pass" ]; then
		count "browser tests produced no summary" fail
	else
		passed=$((passed + b_pass)); failed=$((failed + ${b_fail:-0}))
		skipped=$((skipped + ${b_skip:-0}))
		[ "$b_pass" -gt 0 ] || count "no browser test ran" fail
	fi
	echo "screenshots: $CCPD_ARTIFACTS"
else
	tail -20 "$results/npm.log"; count "npm ci" fail
fi

echo "$passed passed, $failed failed, $skipped skipped"
[ "$failed" -eq 0 ]
