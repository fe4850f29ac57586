#!/usr/bin/python3
"""The contact center on loopback, at full size: kamailio's ACD
(contrib/kamailio/acd.cfg), BENCH_ACD_AGENTS (10) ccpd agents with their
baresips, scripted to accept after a short random ring, talk a few
seconds, clear after-contact work and now and then take a Break or go
Offline; SIPp calling the queue, BENCH_ACD_CALLS (200) calls at
BENCH_ACD_RATE (2) per second.

Prints, from what the parts recorded (kamailio's log, each ccpd's
journal, SIPp's counts; see tests/integration/callcenter.py):
  calls answered, calls answered 480 (nobody open), offers refused at a
  desk (the ACD's view was stale), calls that rang an agent who was not
  Available (must be 0), calls lost (must be 0), and the time from the
  INVITE at kamailio to the agent's ringing, p50 and p99;
and, as the reference measured in the same run, the same time for an
INVITE sent straight to one agent's baresip (no ACD): the ratio is what
the queue adds.

usage: acd-load.py [CCPD_BINARY]   (default: $CCPD_BIN, else build/ccpd)
Bounded: SIPp's run has a deadline; 127.0.0.1 only. Exit status 0 when
everything was measured, whatever the goals say; 1 when something could
not be measured.
"""

import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))
if len(sys.argv) > 1:
    os.environ["CCPD_BIN"] = os.path.abspath(sys.argv[1])
os.environ.setdefault("CCPD_BIN", os.path.join(TOP, "build", "ccpd"))
os.environ.setdefault("CCPCTL_BIN", os.path.join(TOP, "build", "ctl",
                                                 "ccpctl"))

import ccpd as ccpd_mod  # noqa: E402
from acd import RawInvite  # noqa: E402
from callcenter import CallCenter, QueueCallers  # noqa: E402

AGENTS = int(os.environ.get("BENCH_ACD_AGENTS", "10"))
CALLS = int(os.environ.get("BENCH_ACD_CALLS", "200"))
RATE = float(os.environ.get("BENCH_ACD_RATE", "2"))
FLOOR_N = int(os.environ.get("BENCH_ACD_FLOOR", "30"))


def pct(xs, p):
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def direct_floor(d, n):
    """INVITE sent straight to d's baresip to ccpd's ringing, in ms."""
    c = d.client()
    c.call("events.subscribe")
    out = []
    for _ in range(n):
        for k in c.call("contact.list"):
            try:
                c.call("contact.clear", {"contactId": k["contactId"]})
            except Exception:
                pass
        c.call("agent.setState", {"state": "Available"})
        deadline = time.monotonic() + 10
        while c.call("agent.getState")["state"] != "Available":
            assert time.monotonic() < deadline, c.call("agent.getState")
            time.sleep(0.05)
        t0 = time.time()
        inv = RawInvite(d.sip_port, "sip:%s@127.0.0.1:%d" % (
            d.options["sip_user"], d.sip_port))
        ev = c.wait_event("contact.incoming", 10)
        out.append(ev["time"] - t0 * 1000.0 if "time" in ev else None)
        inv.cancel()
        inv.final()
        inv.close()
        time.sleep(0.05)
    c.close()
    return [x for x in out if x is not None]


def main():
    started = []

    def make(**kw):
        d = ccpd_mod.Ccpd(**kw)
        started.append(d)
        return d

    t_start = time.monotonic()
    with CallCenter(make, AGENTS, ring_ms=3000,
                    agent_kw={"talk": (2.0, 4.0)}) as cc:
        cc.start()
        callers = QueueCallers(cc.acd, CALLS, RATE, timeout=120)
        callers.start()
        rc = callers.wait(CALLS / RATE + 180)
        totals = callers.totals()
        deadline = time.monotonic() + 20
        while any(a.live for a in cc.agents) and time.monotonic() < deadline:
            time.sleep(0.2)
        for a in cc.agents:
            a.stop()
        f = cc.figures()
        errors = [e for a in cc.agents for e in a.errors]
        floor = direct_floor(cc.desks[0], FLOOR_N)
    took = time.monotonic() - t_start

    queued = {c for c, k in f["calls"].items() if "queued" in k}
    lost = [c for c in queued if c not in f["answered_ids"] and
            not f["calls"][c]["nobody"]]
    print("acd-load: %d agents, %d calls at %g/s (%.0f s in all)"
          % (AGENTS, CALLS, RATE, took))
    print("  sipp: rc %s, %s" % (rc, totals))
    print("  answered %d, answered 480 %d, lost %d (must be 0)"
          % (f["answered"], f["answered_480"], len(lost)))
    print("  rang %d; rang while not Available %d (must be 0); offers "
          "refused at a desk %d; rings without the screen pop's attribute "
          "%d" % (f["rang"], len(f["rang_not_available"]),
                  len(f["refused_at_desk"]), f["attributes_missing"]))
    print("  breaks taken %d; script errors %d"
          % (sum(a.breaks for a in cc.agents), len(errors)))
    if f["ring_latency_n"] and floor:
        p50, p99 = f["ring_latency_p50_ms"], f["ring_latency_p99_ms"]
        f50, f99 = pct(floor, 50), pct(floor, 99)
        print("  INVITE at kamailio -> ringing at ccpd: p50 %.1f ms, p99 "
              "%.1f ms (n=%d)" % (p50, p99, f["ring_latency_n"]))
        print("  reference, INVITE straight to baresip -> ringing: p50 "
              "%.1f ms, p99 %.1f ms (n=%d); ratio p50 %.2fx, p99 %.2fx"
              % (f50, f99, len(floor), p50 / f50 if f50 else 0,
                 p99 / f99 if f99 else 0))
    ok = rc == 0 and not lost and not f["rang_not_available"] and \
        f["ring_latency_n"] > 0 and floor
    if ok:
        print("SUMMARY acd-load: %d agents, %d calls: answered %d, 480 %d, "
              "lost %d, rang while not Available %d; INVITE at kamailio "
              "to ringing p50 %.1f ms = %.2fx, p99 %.1f ms = %.2fx straight "
              "to baresip" % (AGENTS, CALLS, f["answered"],
                              f["answered_480"], len(lost),
                              len(f["rang_not_available"]), p50, p50 / f50,
                              p99, p99 / f99))
    print("acd-load: %s" % ("measured" if ok else "NOT all measured"))
    for e in errors[:5]:
        print("  script error:", e)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
