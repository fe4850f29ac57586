#!/usr/bin/python3
"""WebSocket fan-out benchmark: one agent state change delivered to many
WebSocket clients, against a floor measured in the same run.

Starts ccpd (CCPD_BIN, else build/ccpd) twice and ws-floor, a bare
libwebsockets server that broadcasts every line written to its Unix
trigger socket (see README.md). The two ccpd's run the same binary with
the same settings but for where their state_dir is: "ccpd" keeps it on
tmpfs (BENCH_WS_TMPFS_DIR, /dev/shm), "ccpd-disk" on disk
(BENCH_WS_DISK_DIR, else /var/tmp, else the build directory; checked with
stat -f). ccpd syncs each state change's journal row (SQLite, WAL,
synchronous=FULL) before it sends the event, a durability it keeps in
both; on tmpfs that sync costs next to nothing, so "ccpd" is the fan-out's
figure and the one the goals judge, and "ccpd-disk" shows what syncing
to this machine's disk adds. Then, for each of two clients:

  fast    ws-fanout-client (C, libwebsockets on epoll): BENCH_WS_CLIENTS
          (500) clients on each target
  python  this script, one process reading all the sockets through
          python3-websockets' Sans-I/O client (a second view, slow enough
          to be part of its own figure)

it runs BENCH_WS_ROUNDS (30) rounds; in each, each ccpd's agent status is
changed over its Unix socket and the floor is sent a copy of ccpd's event,
taking turns, and every client's arrival of the event is timed from the
moment the trigger was written. Prints p50, p99 and max of those delivery
latencies for each target, each ccpd's as a ratio to the floor's, their
resident memory per client, and the goals.

usage: ws-fanout.py [CCPD_BINARY [BENCH_BUILD_DIR]]
  CCPD_BINARY      default: $CCPD_BIN, else build/ccpd
  BENCH_BUILD_DIR  where ws-floor and ws-fanout-client were built
                   (default: $BENCH_BUILD_DIR, else build/tests/bench; a
                   top-level build dir works too)

Bounded: every wait has a deadline (BENCH_WS_TIME_LIMIT, 120 s, per
client), and it stops by itself. Only 127.0.0.1. Exit status 0 when
everything was measured, whatever the goals say; 1 when something could
not be measured.
"""

import json
import os
import selectors
import shutil
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))

import ccpd as ccpd_mod  # noqa: E402
import peers  # noqa: E402
import wsconn  # noqa: E402
from websockets.exceptions import WebSocketException  # noqa: E402
from websockets.frames import Opcode  # noqa: E402

CLIENTS = int(os.environ.get("BENCH_WS_CLIENTS", "500"))
ROUNDS = int(os.environ.get("BENCH_WS_ROUNDS", "30"))
WARMUP = int(os.environ.get("BENCH_WS_WARMUP", "2"))
GAP_MS = int(os.environ.get("BENCH_WS_GAP_MS", "50"))
LIMIT = float(os.environ.get("BENCH_WS_TIME_LIMIT", "120"))
PYTHON_VIEW = os.environ.get("BENCH_WS_PYTHON", "1") == "1"
CPUS = os.environ.get("BENCH_CPUS", "split")
SPIN = os.environ.get("BENCH_WS_SPIN", "1") == "1"
BUILD = os.environ.get("BENCH_BUILD_DIR",
                       os.path.join(TOP, "build", "tests", "bench"))

# the journal of ccpd, the fan-out's figure, on tmpfs; ccpd-disk's on
# disk (the default: /var/tmp, else the build directory)
TMPFS_DIR = os.environ.get("BENCH_WS_TMPFS_DIR", "/dev/shm")
DISK_DIR = os.environ.get("BENCH_WS_DISK_DIR", "")
RAM_FS = ("tmpfs", "ramfs")
TARGETS = ("ccpd", "ccpd-disk", "floor")

GOAL_RATIO = 1.2        # ccpd at most this many times the floor
GOAL_P99_MS = 5.0       # ccpd's p99 with the fast client
GOAL_KIB = 10.0         # ccpd's memory per client
EVENT_MARK = b'"agent.stateChange"'


class Unmeasured(Exception):
    pass


# ---- the WebSocket clients: python3-websockets, as in wsconn.py ----

def ws_open(port, timeout=10):
    """A client upgraded by the library (wsconn.WebSocket, blocking)."""
    try:
        return wsconn.WebSocket(port, path="/", timeout=timeout)
    except (OSError, WebSocketException, wsconn.HandshakeError) as e:
        raise Unmeasured("handshake on port %d: %s" % (port, e))


def login(port, user, password):
    ws = ws_open(port)
    try:
        ws.start_reader()
        return ws.login(user, password)["token"]
    except (ccpd_mod.RpcError, AssertionError) as e:
        raise Unmeasured("session.login failed: %s" % e)
    finally:
        ws.close()


def subscribe(ws, token, deadline):
    """session.resume (with a token) and events.subscribe, then reads
    until the snapshot; the library answers ccpd's pings meanwhile."""
    if token:
        ws.send_text(json.dumps({"jsonrpc": "2.0", "id": 0,
                                 "method": "session.resume",
                                 "params": {"token": token}}))
    ws.send_text(json.dumps({"jsonrpc": "2.0", "id": 1,
                             "method": "events.subscribe"}))
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise Unmeasured("python: time limit while attaching")
        ws.sock.settimeout(min(10.0, left))
        try:
            msg = ws.recv_message()
        except socket.timeout:
            raise Unmeasured("python: no snapshot in time")
        except (OSError, EOFError, WebSocketException):
            msg = None
        if msg is None:
            raise Unmeasured("python: a client was dropped while "
                             "subscribing")
        if '"snapshot"' in msg:
            return


class PyClient:
    """One subscribed client in the select loop: its socket, now
    non-blocking, and the library's connection object, which is fed what
    the socket reads and parses it; its pongs go out as it queues them."""

    def __init__(self, ws):
        self.sock, self.conn = ws.sock, ws.conn
        self.parts = []         # the message being received, in fragments
        self.sock.setblocking(False)

    def read(self):
        """(time of the read, whole text messages) for what the socket
        has; None once the server closed it."""
        try:
            data = self.sock.recv(65536)
        except BlockingIOError:
            return time.monotonic(), []
        now = time.monotonic()
        if not data:
            return None
        self.conn.receive_data(data)
        msgs = []
        for frame in self.conn.events_received():
            if frame.opcode in (Opcode.TEXT, Opcode.CONT):
                self.parts.append(frame.data)
                if frame.fin:
                    msgs.append(b"".join(self.parts))
                    self.parts = []
        for out in self.conn.data_to_send():        # pongs, a close echo
            try:
                self.sock.sendall(out)
            except BlockingIOError:
                raise Unmeasured("python: a client could not answer")
        if self.conn.parser_exc is not None:
            raise Unmeasured("python: %s" % self.conn.parser_exc)
        return now, msgs


# ---- the servers ----

def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_sets():
    """(servers' CPUs, clients' CPUs) for BENCH_CPUS."""
    cpus = sorted(os.sched_getaffinity(0))
    if CPUS == "split" and len(cpus) >= 2:
        return {cpus[0]}, {cpus[1]}
    if CPUS == "same":
        return {cpus[0]}, {cpus[0]}
    return set(cpus), set(cpus)


def start_floor(workdir, srv_cpus):
    exe = os.path.join(BUILD, "ws-floor")
    port = peers.free_port("tcp")
    trig = os.path.join(workdir, "floor.sock")
    proc = subprocess.Popen([exe, str(port), trig],
                            stdin=subprocess.DEVNULL)
    peers._live.append(proc)
    os.sched_setaffinity(proc.pid, srv_cpus)
    deadline = time.monotonic() + 10
    while True:
        if proc.poll() is not None:
            raise Unmeasured("ws-floor exited (status %s)" % proc.returncode)
        try:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.connect(trig)
            s.close()
            return proc, port, trig
        except OSError:
            s.close()
            if time.monotonic() > deadline:
                raise Unmeasured("ws-floor did not listen within 10 s")
            time.sleep(0.05)


# ---- the figures ----

def pct(sorted_v, p):
    i = min(len(sorted_v) - 1,
            max(0, int(p / 100.0 * len(sorted_v) + 0.5) - 1))
    return sorted_v[i]


def parse_result(line):
    out = {}
    for kv in line.split()[1:]:
        k, _, v = kv.partition("=")
        out[k] = v
    return out


def run_fast(targets, cli_cpus):
    """The C client over every target; {name: result dict}."""
    exe = os.path.join(BUILD, "ws-fanout-client")
    args = [exe, "-n", str(CLIENTS), "-r", str(ROUNDS), "-w", str(WARMUP),
            "-g", str(GAP_MS), "-t", str(LIMIT)]
    if not SPIN:
        args += ["-b"]
    args += ["%s:%s:%d:%s:%d" % t[:5] + (":" + t[5] if t[5] else "")
             for t in targets]
    proc = subprocess.run(args, stdout=subprocess.PIPE, timeout=LIMIT + 30,
                          preexec_fn=lambda: os.sched_setaffinity(
                              0, cli_cpus))
    res = {}
    for line in proc.stdout.decode().splitlines():
        if line.startswith("RESULT "):
            r = parse_result(line)
            res[r["target"]] = r
    if proc.returncode != 0 or len(res) != len(targets) or \
            any(r.get("status") != "ok" for r in res.values()):
        raise Unmeasured("ws-fanout-client failed (status %d)"
                         % proc.returncode)
    return res


class PyTarget:
    def __init__(self, name, kind, port, trig, pid, token):
        self.name, self.kind, self.port = name, kind, port
        self.pid, self.token = pid, token
        self.ctl = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.ctl.settimeout(10)
        self.ctl.connect(trig)
        self.clients = []
        self.lat = []
        self.last = []
        # every round must change ccpd's state: start from the other one
        self.states = ["Available", "Lunch"]
        if kind == "ccpd":
            self.ctl.sendall(b'{"jsonrpc":"2.0","id":0,'
                             b'"method":"agent.getState"}\n')
            if b'"state":"Available"' in self.answer():
                self.states.reverse()

    def answer(self):
        """The one-line answer to what was written on the trigger socket."""
        ans = b""
        while not ans.endswith(b"\n"):
            try:
                chunk = self.ctl.recv(65536)
            except socket.timeout:
                chunk = b""
            if not chunk:
                raise Unmeasured("python: no answer from %s's trigger"
                                 % self.name)
            ans += chunk
        if b'"error"' in ans:
            raise Unmeasured("python: trigger failed: %r" % ans)
        return ans


def run_python(targets, deadline):
    """This process reads every client of every target; the same rounds
    as the fast client. {name: result dict}."""
    sel = selectors.DefaultSelector()
    pts = [PyTarget(*t) for t in targets]
    floor_msg = None
    try:
        for t in pts:
            for _ in range(CLIENTS):
                if time.monotonic() > deadline:
                    raise Unmeasured("python: time limit while attaching")
                ws = ws_open(t.port)
                try:
                    subscribe(ws, t.token if t.kind == "ccpd" else None,
                              deadline)
                except Unmeasured:
                    ws.sock.close()
                    raise
                c = PyClient(ws)
                sel.register(c.sock, selectors.EVENT_READ, c)
                t.clients.append(c)
        for r in range(WARMUP + ROUNDS):
            for k in range(len(pts)):
                t = pts[(k + r) % len(pts)]
                if t.kind == "ccpd":
                    line = json.dumps({
                        "jsonrpc": "2.0", "id": 1000 + r,
                        "method": "agent.setState",
                        "params": {"state": t.states[r % 2]}}).encode()
                else:
                    line = floor_msg or (
                        b'{"jsonrpc":"2.0","method":"event","params":'
                        b'{"type":"agent.stateChange"}}')
                got = set()
                lat = []
                t0 = time.monotonic()
                t.ctl.sendall(line + b"\n")
                while len(got) < len(t.clients):
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise Unmeasured("python: round %d on %s: %d of %d"
                                         " events in time"
                                         % (r, t.name, len(got),
                                            len(t.clients)))
                    for key, _ in sel.select(timeout=min(1.0, left)):
                        c = key.data
                        read = c.read()
                        if read is None:
                            raise Unmeasured("python: a client was "
                                             "dropped")
                        now, msgs = read
                        for msg in msgs:
                            if EVENT_MARK in msg and c not in got:
                                got.add(c)
                                lat.append((now - t0) * 1000.0)
                                if t.kind == "ccpd" and floor_msg is None:
                                    floor_msg = msg
                t.answer()
                if r >= WARMUP:
                    t.lat += lat
                    t.last.append(max(lat))
                time.sleep(GAP_MS / 1000.0)
    finally:
        for c in [c for t in pts for c in t.clients]:
            sel.unregister(c.sock)
            c.sock.close()
        for t in pts:
            t.ctl.close()
    res = {}
    for t in pts:
        t.lat.sort()
        t.last.sort()
        res[t.name] = {"deliveries": str(len(t.lat)),
                       "p50_us": "%.0f" % (pct(t.lat, 50) * 1000),
                       "p99_us": "%.0f" % (pct(t.lat, 99) * 1000),
                       "max_us": "%.0f" % (t.lat[-1] * 1000),
                       "last_p50_us": "%.0f" % (pct(t.last, 50) * 1000)}
    return res


def ms(r, k):
    return float(r[k]) / 1000.0


def ratio(r, fl, k):
    return ms(r, k) / ms(fl, k)


def report(views):
    print("%-7s %-9s %10s %8s %8s %8s %10s %10s %10s" % (
        "client", "target", "deliveries", "p50_ms", "p99_ms", "max_ms",
        "last_p50", "p50/floor", "p99/floor"))
    for view, res in views:
        fl = res["floor"]
        for name in TARGETS:
            r = res[name]
            print("%-7s %-9s %10s %8.2f %8.2f %8.2f %10.2f %9.2fx %9.2fx"
                  % (view, name, r["deliveries"], ms(r, "p50_us"),
                     ms(r, "p99_us"), ms(r, "max_us"), ms(r, "last_p50_us"),
                     ratio(r, fl, "p50_us"), ratio(r, fl, "p99_us")))
    print()
    for view, res in views:
        fl = res["floor"]
        for name in ("ccpd", "ccpd-disk"):
            r = res[name]
            print("%-9s / floor (%s client): p50 %.2fx, p99 %.2fx, max "
                  "%.2fx" % (name, view, ratio(r, fl, "p50_us"),
                             ratio(r, fl, "p99_us"), ratio(r, fl, "max_us")))
    print()
    print("what syncing the journal to this machine's disk adds "
          "(ccpd-disk minus ccpd):")
    for view, res in views:
        c, dk = res["ccpd"], res["ccpd-disk"]
        print("  %s client: p50 %+.2f ms, p99 %+.2f ms, last_p50 %+.2f ms"
              % (view, ms(dk, "p50_us") - ms(c, "p50_us"),
                 ms(dk, "p99_us") - ms(c, "p99_us"),
                 ms(dk, "last_p50_us") - ms(c, "last_p50_us")))


def goals(fast):
    """Judged on ccpd (its journal on tmpfs); ccpd-disk's figures beside,
    not judged."""
    c, dk, fl = fast["ccpd"], fast["ccpd-disk"], fast["floor"]

    def vs_floor(k):
        return "%.2f ms vs %.2f ms; ccpd-disk %.2f ms = %.2fx" % (
            ms(c, k), ms(fl, k), ms(dk, k), ratio(dk, fl, k))

    checks = [
        ("ccpd p50 <= %.1f x floor p50 (fast client)" % GOAL_RATIO,
         ms(c, "p50_us") <= GOAL_RATIO * ms(fl, "p50_us"),
         vs_floor("p50_us")),
        ("ccpd p99 <= %.1f x floor p99 (fast client)" % GOAL_RATIO,
         ms(c, "p99_us") <= GOAL_RATIO * ms(fl, "p99_us"),
         vs_floor("p99_us")),
        ("ccpd p99 <= %.0f ms (fast client)" % GOAL_P99_MS,
         ms(c, "p99_us") <= GOAL_P99_MS, "%.2f ms; ccpd-disk %.2f ms"
         % (ms(c, "p99_us"), ms(dk, "p99_us"))),
        ("ccpd memory <= %.0f KiB per client" % GOAL_KIB,
         float(c["per_client_kib"]) <= GOAL_KIB,
         "%s KiB; ccpd-disk %s KiB" % (c["per_client_kib"],
                                       dk["per_client_kib"])),
    ]
    print("goals (judged on ccpd, its journal on tmpfs; ccpd-disk beside "
          "them, not judged):")
    for text, ok, fig in checks:
        print("  %-4s %s   (%s)" % ("PASS" if ok else "MISS", text, fig))


def fs_type(path):
    """The type of the file system path is on, as stat -f names it."""
    out = subprocess.run(["stat", "-f", "-c", "%T", path],
                         stdout=subprocess.PIPE, timeout=10)
    return out.stdout.decode().strip() if out.returncode == 0 else "?"


def journal_dirs(made):
    """(a state_dir on tmpfs, one on disk), made here and listed in made
    for removal."""
    def mkdir(base):
        d = tempfile.mkdtemp(prefix="ccpd-bench-", dir=base)
        made.append(d)
        return d, fs_type(d)

    shm, kind = mkdir(TMPFS_DIR)
    if kind not in RAM_FS:
        raise Unmeasured("%s is on %s, not a tmpfs (BENCH_WS_TMPFS_DIR)"
                         % (TMPFS_DIR, kind))
    for base in [DISK_DIR] if DISK_DIR else ["/var/tmp", BUILD]:
        disk, kind = mkdir(base)
        if kind not in RAM_FS:
            return shm, disk, kind
    raise Unmeasured("%s is on %s, not a disk (BENCH_WS_DISK_DIR)"
                     % (disk, kind))


def main():
    global BUILD
    if len(sys.argv) > 3:
        print(__doc__[__doc__.index("usage:"):].split("\n\n")[0],
              file=sys.stderr)
        return 2
    if len(sys.argv) > 1:
        ccpd_mod.CCPD = os.path.abspath(sys.argv[1])
    if len(sys.argv) > 2:
        BUILD = sys.argv[2]
    if not os.path.exists(os.path.join(BUILD, "ws-floor")):
        BUILD = os.path.join(BUILD, "tests", "bench")
    srv_cpus, cli_cpus = cpu_sets()
    opts = {"ws_max_clients": str(2 * CLIENTS + 10), "log_level": "info"}
    opts.update(kv.split("=", 1)
                for kv in os.environ.get("BENCH_CCPD_OPTS", "").split())
    made = []
    daemons = {}
    floor = None
    try:
        shm, disk, disk_fs = journal_dirs(made)
        # the same binary and settings; only where the journal is differs
        for name, state_dir in (("ccpd", shm), ("ccpd-disk", disk)):
            daemons[name] = d = ccpd_mod.Ccpd(
                options=dict(opts, state_dir=state_dir))
            os.sched_setaffinity(d.proc.pid, srv_cpus)
        targets = []
        for name, d in daemons.items():
            # clients of the HTTP port log in: one login (a slow hash),
            # then every client resumes that session by its token
            ctl = d.client()
            token = ""
            if "session.login" in ctl.call("daemon.listMethods"):
                ctl.call("admin.users.create", {
                    "username": "bench", "password": "bench-secret-1",
                    "profile": "Agent", "mustChangePassword": False})
                token = login(d.http_port, "bench", "bench-secret-1")
            targets.append((name, "ccpd", d.http_port, d.socket,
                            d.proc.pid, token))
        floor, fport, ftrig = start_floor(daemons["ccpd"].dir, srv_cpus)
        targets.append(("floor", "floor", fport, ftrig, floor.pid, ""))
        print("ws-fanout: %d clients per target, %d rounds (after %d "
              "warm-up), targets taking turns; CPUs: %s"
              % (CLIENTS, ROUNDS, WARMUP,
                 {"split": "servers on %s, clients on %s"
                  % (sorted(srv_cpus), sorted(cli_cpus)),
                  "same": "all on %s" % sorted(srv_cpus)}.get(
                      CPUS, "not pinned")))
        print("ws-fanout: two ccpd's, the same binary and settings: ccpd "
              "keeps its journal on tmpfs (%s), so its figure is the "
              "fan-out's; ccpd-disk keeps it on %s (%s), and shows what "
              "syncing each change to this machine's disk adds"
              % (shm, disk_fs, disk))
        views = [("fast", run_fast(targets, cli_cpus))]
        fast = views[0][1]
        for name in TARGETS:
            r = fast[name]
            print("ws-fanout: %-9s VmRSS %s KiB before the clients, %s KiB "
                  "with %d attached: %s KiB per client"
                  % (name, r["rss_before_kib"], r["rss_with_kib"], CLIENTS,
                     r["per_client_kib"]))
        print("ws-fanout: event %s bytes" % fast["ccpd"]["msg_bytes"])
        if PYTHON_VIEW:
            os.sched_setaffinity(0, cli_cpus)
            views.append(("python", run_python(
                targets, time.monotonic() + LIMIT)))
        print()
        report(views)
        print()
        goals(fast)
        c, dk, fl = fast["ccpd"], fast["ccpd-disk"], fast["floor"]
        print()
        print("SUMMARY ws-fanout: ccpd p50 %.2f ms = %.2fx ws-floor, p99 "
              "%.2f ms = %.2fx ws-floor (fast client, %d clients, journal "
              "on tmpfs, same run); %s KiB per client; with the journal "
              "synced to disk: p50 %.2fx, p99 %.2fx ws-floor"
              % (ms(c, "p50_us"), ratio(c, fl, "p50_us"),
                 ms(c, "p99_us"), ratio(c, fl, "p99_us"),
                 CLIENTS, c["per_client_kib"],
                 ratio(dk, fl, "p50_us"), ratio(dk, fl, "p99_us")))
        print()
        print("raw:")
        for view, res in views:
            for name, r in res.items():
                print("  RESULT view=%s target=%s %s" % (
                    view, name, " ".join("%s=%s" % kv for kv in r.items()
                                         if kv[0] != "target")))
    except Unmeasured as e:
        print("ws-fanout: NOT MEASURED: %s" % e)
        print("SUMMARY ws-fanout: not measured (%s)" % e)
        for name, d in daemons.items():
            print("%s's log ends:\n%s" % (name, d.log_tail(15)))
        return 1
    finally:
        if floor is not None:
            floor.terminate()
            floor.wait(5)
        for d in daemons.values():
            d.stop()
        for path in made:
            shutil.rmtree(path, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
