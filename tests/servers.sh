#!/usr/bin/env bash
# The shared servers the tests use, started on loopback ports in a temporary
# directory: PostgreSQL 15 (run as the postgres user: initdb refuses root)
# and nats-server with JetStream. `tests/servers.sh start DIR` starts them
# and writes DIR/env, lines of `export NAME=VALUE` that the test fixtures
# read (CCPD_TEST_PG_*, CCPD_TEST_NATS_URL); `tests/servers.sh stop DIR`
# stops them (by the PIDs they wrote) and removes DIR. A fixture that finds
# no such variable starts a server of its own, so a single test file still
# runs alone; tests that stop or break a server always start their own.
set -uo pipefail

pgbin=/usr/lib/postgresql/15/bin

free_port() {
	/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}

start_pg() {
	local dir=$1 port
	port=$(free_port)
	mkdir -p "$dir/pg" "$dir/pgsock"
	chown postgres: "$dir/pg" "$dir/pgsock"
	chmod 0700 "$dir/pg"
	runuser -u postgres -- "$pgbin/initdb" -D "$dir/pg/data" -A trust \
		-U ccp >"$dir/pg/initdb.log" 2>&1 || { cat "$dir/pg/initdb.log"; return 1; }
	runuser -u postgres -- "$pgbin/pg_ctl" -D "$dir/pg/data" \
		-l "$dir/pg/server.log" -w -o "-p $port -k $dir/pgsock -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=on" \
		start >/dev/null || { cat "$dir/pg/server.log"; return 1; }
	{
		echo "export CCPD_TEST_PG_HOST=127.0.0.1"
		echo "export CCPD_TEST_PG_PORT=$port"
		echo "export CCPD_TEST_PG_USER=ccp"
		echo "export CCPD_TEST_PG_DATA=$dir/pg/data"
	} >>"$dir/env"
}

start_nats() {
	local dir=$1 port
	port=$(free_port)
	mkdir -p "$dir/nats"
	nats-server -js -a 127.0.0.1 -p "$port" -sd "$dir/nats" \
		-l "$dir/nats/server.log" -P "$dir/nats/pid" &
	for _ in $(seq 100); do
		[ -s "$dir/nats/pid" ] && (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
		sleep 0.1
	done
	echo "export CCPD_TEST_NATS_URL=nats://127.0.0.1:$port" >>"$dir/env"
}

case ${1:-} in
start)
	dir=${2:?usage: servers.sh start DIR}
	mkdir -p "$dir"; chmod 0755 "$dir"; : >"$dir/env"
	start_pg "$dir" || exit 1
	start_nats "$dir" || exit 1
	;;
stop)
	dir=${2:?usage: servers.sh stop DIR}
	if [ -d "$dir/pg/data" ]; then
		runuser -u postgres -- "$pgbin/pg_ctl" -D "$dir/pg/data" -m fast \
			-w stop >/dev/null 2>&1
	fi
	if [ -s "$dir/nats/pid" ]; then
		kill "$(cat "$dir/nats/pid")" 2>/dev/null
	fi
	rm -rf "$dir"
	;;
*)
	echo "usage: $0 start|stop DIR" >&2; exit 2 ;;
esac
