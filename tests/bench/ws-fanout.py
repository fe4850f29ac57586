#!/usr/bin/python3
"""WebSocket fan-out benchmark: one agent state change delivered to many
WebSocket clients, against a floor measured in the same run.

Starts ccpd (CCPD_BIN, else build/ccpd) and ws-floor, a bare
libwebsockets server that broadcasts every line written to its Unix
trigger socket (see README.md). Then, for each of two clients:

  fast    ws-fanout-client (C, libwebsockets on epoll): BENCH_WS_CLIENTS
          (500) clients on ccpd and as many on the floor
  python  this script, one process reading all the sockets (a second view,
          slow enough to be part of its own figure)

it runs BENCH_WS_ROUNDS (30) rounds; in each, ccpd's agent status is
changed over its Unix socket and the floor is sent a copy of ccpd's event,
taking turns, and every client's arrival of the event is timed from the
moment the trigger was written. Prints p50, p99 and max of those delivery
latencies for ccpd and the floor, ccpd's as a ratio to the floor's, ccpd's
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

import base64
import json
import os
import selectors
import socket
import struct
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))

import ccpd as ccpd_mod  # noqa: E402
import peers  # noqa: E402

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

GOAL_RATIO = 1.2        # ccpd at most this many times the floor
GOAL_P99_MS = 5.0       # ccpd's p99 with the fast client
GOAL_KIB = 10.0         # ccpd's memory per client
EVENT_MARK = b'"agent.stateChange"'


class Unmeasured(Exception):
    pass


# ---- a minimal WebSocket client on plain sockets ----

def ws_connect(port, timeout=10):
    """A connected, upgraded socket and the bytes read past the answer."""
    s = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    key = base64.b64encode(os.urandom(16)).decode()
    s.sendall(("GET / HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
               "Upgrade: websocket\r\nConnection: Upgrade\r\n"
               "Sec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n"
               "Origin: http://127.0.0.1:%d\r\n\r\n"
               % (port, key, port)).encode())
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(4096)
        if not chunk:
            raise Unmeasured("handshake: connection closed")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    if b" 101 " not in head.split(b"\r\n", 1)[0] + b" ":
        raise Unmeasured("handshake answered %r" % head.split(b"\r\n")[0])
    return s, rest


def ws_frame(op, data):
    """One masked frame (data shorter than 64 KiB)."""
    mask = os.urandom(4)
    n = len(data)
    if n < 126:
        head = struct.pack("!BB", 0x80 | op, 0x80 | n)
    else:
        head = struct.pack("!BBH", 0x80 | op, 0x80 | 126, n)
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(data))


def ws_text(obj):
    return ws_frame(1, json.dumps(obj).encode())


def pong(s, op, payload):
    """Answers a ping, as ccpd drops a client that does not."""
    if op == 9:
        s.sendall(ws_frame(10, payload))


def frames(buf):
    """Whole unmasked frames in buf: (list of (opcode, payload), rest)."""
    out = []
    while len(buf) >= 2:
        n = buf[1] & 0x7F
        off = 2
        if n == 126:
            if len(buf) < 4:
                break
            n = struct.unpack("!H", buf[2:4])[0]
            off = 4
        elif n == 127:
            if len(buf) < 10:
                break
            n = struct.unpack("!Q", buf[2:10])[0]
            off = 10
        if len(buf) < off + n:
            break
        out.append((buf[0] & 0x0F, buf[off:off + n]))
        buf = buf[off + n:]
    return out, buf


def ws_wait(s, rx, pred, deadline):
    """Reads frames until one whose payload satisfies pred: (it, rest)."""
    while True:
        fs, rx = frames(rx)
        for op, payload in fs:
            pong(s, op, payload)
            if op == 1 and pred(payload):
                return payload, rx
        s.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            chunk = s.recv(65536)
        except socket.timeout:
            raise Unmeasured("no answer in time")
        if not chunk:
            raise Unmeasured("a client was dropped while subscribing")
        rx += chunk


def login(port, user, password):
    s, rx = ws_connect(port)
    try:
        s.sendall(ws_text({"jsonrpc": "2.0", "id": 1,
                           "method": "session.login",
                           "params": {"username": user,
                                      "password": password}}))
        payload, _ = ws_wait(s, rx, lambda p: b'"id":1' in p,
                             time.monotonic() + 30)
    finally:
        s.close()
    ans = json.loads(payload)
    if "result" not in ans:
        raise Unmeasured("session.login failed: %s" % ans)
    return ans["result"]["token"]


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


def run_fast(targets, token, cli_cpus):
    """The C client over every target; {name: result dict}."""
    exe = os.path.join(BUILD, "ws-fanout-client")
    args = [exe, "-n", str(CLIENTS), "-r", str(ROUNDS), "-w", str(WARMUP),
            "-g", str(GAP_MS), "-t", str(LIMIT)]
    if token:
        args += ["-k", token]
    if not SPIN:
        args += ["-b"]
    args += ["%s:%s:%d:%s:%d" % t for t in targets]
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
    def __init__(self, name, kind, port, trig, pid):
        self.name, self.kind, self.port = name, kind, port
        self.pid = pid
        self.ctl = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.ctl.settimeout(10)
        self.ctl.connect(trig)
        self.socks = []
        self.lat = []
        self.last = []


def run_python(targets, token, ctl, deadline):
    """This process reads every client of every target; the same rounds
    as the fast client. {name: result dict}."""
    sel = selectors.DefaultSelector()
    pts = [PyTarget(*t) for t in targets]
    floor_msg = None
    # every round must change ccpd's state: start from the other one
    states = ["Available", "Lunch"]
    if ctl.call("agent.getState")["state"] == "Available":
        states.reverse()
    try:
        for t in pts:
            for _ in range(CLIENTS):
                if time.monotonic() > deadline:
                    raise Unmeasured("python: time limit while attaching")
                s, rx = ws_connect(t.port)
                if token and t.kind == "ccpd":
                    s.sendall(ws_text({"jsonrpc": "2.0", "id": 0,
                                       "method": "session.resume",
                                       "params": {"token": token}}))
                s.sendall(ws_text({"jsonrpc": "2.0", "id": 1,
                                   "method": "events.subscribe"}))
                _, rx = ws_wait(s, rx, lambda p: b'"snapshot"' in p,
                                deadline)
                s.setblocking(False)
                sel.register(s, selectors.EVENT_READ, [s, rx])
                t.socks.append(s)
        for r in range(WARMUP + ROUNDS):
            for k in range(len(pts)):
                t = pts[(k + r) % len(pts)]
                if t.kind == "ccpd":
                    line = json.dumps({
                        "jsonrpc": "2.0", "id": 1000 + r,
                        "method": "agent.setState",
                        "params": {"state": states[r % 2]}}).encode()
                else:
                    line = floor_msg or (
                        b'{"jsonrpc":"2.0","method":"event","params":'
                        b'{"type":"agent.stateChange"}}')
                got = set()
                lat = []
                t0 = time.monotonic()
                t.ctl.sendall(line + b"\n")
                while len(got) < len(t.socks):
                    left = deadline - time.monotonic()
                    if left <= 0:
                        raise Unmeasured("python: round %d on %s: %d of %d"
                                         " events in time"
                                         % (r, t.name, len(got),
                                            len(t.socks)))
                    for key, _ in sel.select(timeout=min(1.0, left)):
                        st = key.data
                        try:
                            data = st[0].recv(65536)
                        except BlockingIOError:
                            continue
                        if not data:
                            raise Unmeasured("python: a client of %s was "
                                             "dropped" % t.name)
                        now = time.monotonic()
                        fs, st[1] = frames(st[1] + data)
                        for op, payload in fs:
                            pong(st[0], op, payload)
                            if op == 1 and EVENT_MARK in payload and \
                                    st[0] not in got:
                                got.add(st[0])
                                lat.append((now - t0) * 1000.0)
                                if t.kind == "ccpd" and floor_msg is None:
                                    floor_msg = bytes(payload)
                ans = t.ctl.recv(65536)
                if b'"error"' in ans:
                    raise Unmeasured("python: trigger failed: %r" % ans)
                if r >= WARMUP:
                    t.lat += lat
                    t.last.append(max(lat))
                time.sleep(GAP_MS / 1000.0)
    finally:
        for s in [s for t in pts for s in t.socks]:
            sel.unregister(s)
            s.close()
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


def report(views):
    print("%-7s %-6s %10s %8s %8s %8s %10s %10s %10s" % (
        "client", "target", "deliveries", "p50_ms", "p99_ms", "max_ms",
        "last_p50", "p50/floor", "p99/floor"))
    for view, res in views:
        fl = res["floor"]
        for name in ("ccpd", "floor"):
            r = res[name]
            print("%-7s %-6s %10s %8.2f %8.2f %8.2f %10.2f %9.2fx %9.2fx" % (
                view, name, r["deliveries"], ms(r, "p50_us"),
                ms(r, "p99_us"), ms(r, "max_us"), ms(r, "last_p50_us"),
                ms(r, "p50_us") / ms(fl, "p50_us"),
                ms(r, "p99_us") / ms(fl, "p99_us")))
    print()
    for view, res in views:
        c, fl = res["ccpd"], res["floor"]
        print("ccpd / floor (%s client): p50 %.2fx, p99 %.2fx, max %.2fx" % (
            view, ms(c, "p50_us") / ms(fl, "p50_us"),
            ms(c, "p99_us") / ms(fl, "p99_us"),
            ms(c, "max_us") / ms(fl, "max_us")))


def goals(fast):
    c, fl = fast["ccpd"], fast["floor"]
    checks = [
        ("ccpd p50 <= %.1f x floor p50 (fast client)" % GOAL_RATIO,
         ms(c, "p50_us") <= GOAL_RATIO * ms(fl, "p50_us"),
         "%.2f ms vs %.2f ms" % (ms(c, "p50_us"), ms(fl, "p50_us"))),
        ("ccpd p99 <= %.1f x floor p99 (fast client)" % GOAL_RATIO,
         ms(c, "p99_us") <= GOAL_RATIO * ms(fl, "p99_us"),
         "%.2f ms vs %.2f ms" % (ms(c, "p99_us"), ms(fl, "p99_us"))),
        ("ccpd p99 <= %.0f ms (fast client)" % GOAL_P99_MS,
         ms(c, "p99_us") <= GOAL_P99_MS, "%.2f ms" % ms(c, "p99_us")),
        ("ccpd memory <= %.0f KiB per client" % GOAL_KIB,
         float(c["per_client_kib"]) <= GOAL_KIB,
         "%s KiB" % c["per_client_kib"]),
    ]
    print("goals:")
    for text, ok, fig in checks:
        print("  %-4s %s   (%s)" % ("PASS" if ok else "MISS", text, fig))


def main():
    global BUILD
    if len(sys.argv) > 3:
        print(__doc__.split("\n\n")[2], file=sys.stderr)
        return 2
    if len(sys.argv) > 1:
        ccpd_mod.CCPD = os.path.abspath(sys.argv[1])
    if len(sys.argv) > 2:
        BUILD = sys.argv[2]
    if not os.path.exists(os.path.join(BUILD, "ws-floor")):
        BUILD = os.path.join(BUILD, "tests", "bench")
    srv_cpus, cli_cpus = cpu_sets()
    d = ccpd_mod.Ccpd(options={"ws_max_clients": str(2 * CLIENTS + 10),
                               "log_level": "info", **dict(kv.split("=", 1) for kv in os.environ.get("BENCH_CCPD_OPTS", "").split())})
    floor = None
    try:
        os.sched_setaffinity(d.proc.pid, srv_cpus)
        ctl = d.client()
        # clients of the HTTP port log in: one login (a slow hash), then
        # every client resumes that session by its token
        token = None
        if "session.login" in ctl.call("daemon.listMethods"):
            ctl.call("admin.users.create", {
                "username": "bench", "password": "bench-secret-1",
                "profile": "Agent", "mustChangePassword": False})
            token = login(d.http_port, "bench", "bench-secret-1")
        floor, fport, ftrig = start_floor(d.dir, srv_cpus)
        targets = [("ccpd", "ccpd", d.http_port, d.socket, d.proc.pid),
                   ("floor", "floor", fport, ftrig, floor.pid)]
        print("ws-fanout: %d clients per target, %d rounds (after %d "
              "warm-up), targets taking turns; CPUs: %s"
              % (CLIENTS, ROUNDS, WARMUP,
                 {"split": "servers on %s, clients on %s"
                  % (sorted(srv_cpus), sorted(cli_cpus)),
                  "same": "all on %s" % sorted(srv_cpus)}.get(
                      CPUS, "not pinned")))
        views = [("fast", run_fast(targets, token, cli_cpus))]
        fast = views[0][1]
        print("ws-fanout: ccpd VmRSS %s KiB before the clients, %s KiB "
              "with %d attached: %s KiB per client (floor: %s KiB per "
              "client)" % (fast["ccpd"]["rss_before_kib"],
                           fast["ccpd"]["rss_with_kib"], CLIENTS,
                           fast["ccpd"]["per_client_kib"],
                           fast["floor"]["per_client_kib"]))
        print("ws-fanout: event %s bytes" % fast["ccpd"]["msg_bytes"])
        if PYTHON_VIEW:
            os.sched_setaffinity(0, cli_cpus)
            views.append(("python", run_python(
                targets, token, ctl, time.monotonic() + LIMIT)))
        print()
        report(views)
        print()
        goals(fast)
        c, fl = fast["ccpd"], fast["floor"]
        print()
        print("SUMMARY ws-fanout: ccpd p50 %.2f ms = %.2fx ws-floor, p99 "
              "%.2f ms = %.2fx ws-floor (fast client, %d clients, same "
              "run); %s KiB per client"
              % (ms(c, "p50_us"), ms(c, "p50_us") / ms(fl, "p50_us"),
                 ms(c, "p99_us"), ms(c, "p99_us") / ms(fl, "p99_us"),
                 CLIENTS, c["per_client_kib"]))
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
        print("ccpd's log ends:\n%s" % d.log_tail(15))
        return 1
    finally:
        if floor is not None:
            floor.terminate()
            floor.wait(5)
        d.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
