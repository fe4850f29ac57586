#!/usr/bin/python3
"""WebSocket fan-out benchmark: one agent state change delivered to many
WebSocket clients.

Starts ccpd (CCPD_BIN, else build/ccpd), attaches BENCH_WS_CLIENTS (500)
subscribed WebSocket clients, then BENCH_WS_ROUNDS (30) times changes the
agent's status over the Unix socket and times, for every client, the
arrival of the agent.stateChange event after the request was written.
Prints p50, p99 and max of those delivery latencies and ccpd's resident
memory (VmRSS) before the clients, with them attached, and per client.

Bounded: every wait has a deadline (BENCH_WS_TIME_LIMIT, 120 s, for the
whole run), and it stops by itself. Only 127.0.0.1.
"""

import json
import os
import selectors
import socket
import struct
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))

import ccpd as ccpd_mod  # noqa: E402
import peers  # noqa: E402
from wsclient import WebSocket  # noqa: E402

CLIENTS = int(os.environ.get("BENCH_WS_CLIENTS", "500"))
ROUNDS = int(os.environ.get("BENCH_WS_ROUNDS", "30"))
LIMIT = float(os.environ.get("BENCH_WS_TIME_LIMIT", "120"))


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


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


def pct(sorted_ms, p):
    i = min(len(sorted_ms) - 1, max(0, int(round(p / 100.0 * len(sorted_ms))) - 1))
    return sorted_ms[i]


def main():
    start = time.monotonic()

    def left():
        t = LIMIT - (time.monotonic() - start)
        if t <= 0:
            raise SystemExit("ws-fanout: time limit of %.0fs reached" % LIMIT)
        return t

    d = ccpd_mod.Ccpd(options={"ws_max_clients": str(CLIENTS + 10),
                               "log_level": "info"})
    try:
        ctl = d.client()
        pid = d.proc.pid
        # clients of the HTTP port log in: one login (a slow hash), then
        # every client resumes that session by its token
        token = None
        if "session.login" in ctl.call("daemon.listMethods"):
            ctl.call("admin.users.create", {
                "username": "bench", "password": "bench-secret-1",
                "profile": "Agent", "mustChangePassword": False})
            w = WebSocket(d.http_port).start_reader()
            token = w.login("bench", "bench-secret-1")["token"]
            w.close()
        rss0 = rss_kib(pid)
        sel = selectors.DefaultSelector()
        clients = []
        for i in range(CLIENTS):
            left()
            w = WebSocket(d.http_port)
            if token:
                w.send_text(json.dumps({"jsonrpc": "2.0", "id": 0,
                                        "method": "session.resume",
                                        "params": {"token": token}}))
            w.send_text(json.dumps({"jsonrpc": "2.0", "id": 1,
                                    "method": "events.subscribe"}))
            clients.append(w)
        # every subscription answered before timing starts
        for w in clients:
            while True:
                left()
                fin, op, payload = w.recv_frame()
                if op == 1 and b'"snapshot"' in payload:
                    break
            w.sock.setblocking(False)
            sel.register(w.sock, selectors.EVENT_READ, w)
            w.rx = w.buf
        time.sleep(0.5)
        rss1 = rss_kib(pid)
        lat = []
        states = ["Available", "Lunch"]
        for r in range(ROUNDS):
            got = set()
            t0 = time.monotonic()
            ctl.sock.sendall((json.dumps({
                "jsonrpc": "2.0", "id": 1000 + r, "method": "agent.setState",
                "params": {"state": states[r % 2]}}) + "\n").encode())
            while len(got) < len(clients):
                for key, _ in sel.select(timeout=min(1.0, left())):
                    w = key.data
                    try:
                        data = w.sock.recv(65536)
                    except BlockingIOError:
                        continue
                    if not data:
                        raise SystemExit("ws-fanout: a client was dropped")
                    now = time.monotonic()
                    fs, w.rx = frames(w.rx + data)
                    for op, payload in fs:
                        if op == 1 and b'"agent.stateChange"' in payload \
                                and id(w) not in got:
                            got.add(id(w))
                            lat.append((now - t0) * 1000.0)
            ctl.answer(5)
            time.sleep(0.05)
        rss2 = rss_kib(pid)
        lat.sort()
        print("ws-fanout: %d clients, %d state changes, %d deliveries"
              % (len(clients), ROUNDS, len(lat)))
        print("ws-fanout: delivery latency p50 %.2f ms, p99 %.2f ms, "
              "max %.2f ms" % (pct(lat, 50), pct(lat, 99), lat[-1]))
        print("ws-fanout: ccpd VmRSS %d KiB before, %d KiB with %d clients "
              "attached (%.1f KiB per client), %d KiB after the run"
              % (rss0, rss1, len(clients), (rss1 - rss0) / len(clients),
                 rss2))
        for w in clients:
            sel.unregister(w.sock)
            w.sock.close()
    finally:
        d.stop()


if __name__ == "__main__":
    main()
