#!/usr/bin/python3
"""SIP floods at one ccpd, at length: BENCH_FLOOD_CALLS (5000) INVITEs at
BENCH_FLOOD_RATE (1000) per second at an Offline agent from SIPp (a UAC
that retransmits over UDP), then BENCH_FLOOD_RAW_SECONDS (5) of OPTIONS
and malformed SIP from a UDP socket at the same rate.

Prints, for each flood: the final answers (SIPp: every call must end in
a refusal), the rate reached, the CPU ccpd and baresip used (percent of
one core, from /proc), and the control round trip (agent.getState on the
Unix socket, every 5 ms) p50 and p99, against the same round trip with
no flood measured in the same run (the ratio).

usage: sip-flood.py [CCPD_BINARY]   (default: $CCPD_BIN, else build/ccpd)
Bounded: every wait has a deadline; 127.0.0.1 only. Exit status 0 when
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

import ccpd as ccpd_mod  # noqa: E402
from sipflood import (InviteFlood, RttSampler, cpu_seconds, pct,  # noqa
                      raw_flood)

CALLS = int(os.environ.get("BENCH_FLOOD_CALLS", "5000"))
RATE = float(os.environ.get("BENCH_FLOOD_RATE", "1000"))
RAW_SECONDS = float(os.environ.get("BENCH_FLOOD_RAW_SECONDS", "5"))


def sample_idle(d, seconds):
    r = RttSampler(d)
    r.start()
    time.sleep(seconds)
    return r.stop().rtts


SUMMARY = []


def line(name, rtts, idle, cpu, took):
    p50, p99 = pct(rtts, 50), pct(rtts, 99)
    i50, i99 = pct(idle, 50), pct(idle, 99)
    SUMMARY.append("%s rtt p50 %.2f ms = %.1fx idle, p99 %.2f ms = %.1fx "
                   "idle, cpu ccpd %.0f%% baresip %.0f%%"
                   % (name, p50, p50 / i50, p99, p99 / i99,
                      100 * cpu[0] / took, 100 * cpu[1] / took))
    print("  %s: control rtt p50 %.2f ms (%.1fx idle), p99 %.2f ms (%.1fx "
          "idle), n=%d; cpu ccpd %.0f%%, baresip %.0f%% of a core over "
          "%.1f s" % (name, p50, p50 / i50, p99, p99 / i99, len(rtts),
                      100 * cpu[0] / took, 100 * cpu[1] / took, took))


def main():
    import tempfile
    ok = True
    shm = tempfile.mkdtemp(prefix="ccpd-flood-", dir="/dev/shm") \
        if os.path.isdir("/dev/shm") else None
    for where, opts in (("disk", {}),
                        ("tmpfs", {"state_dir": shm} if shm else None)):
        if opts is None:
            continue
        print("sip-flood: the journal on %s" % where)
        ok = run(dict(opts, log_level="info"), where) and ok
    if shm:
        import shutil
        shutil.rmtree(shm, ignore_errors=True)
    if ok:
        print("SUMMARY sip-flood: %s" % "; ".join(SUMMARY))
    print("sip-flood: %s" % ("measured" if ok else "NOT all measured"))
    return 0 if ok else 1


def run(options, where):
    d = ccpd_mod.Ccpd(options=options)
    ok = True
    try:
        c = d.client()
        pid = c.call("media.getStatus")["pid"]
        idle = sample_idle(d, 3)
        print("sip-flood: idle control rtt p50 %.2f ms, p99 %.2f ms (n=%d)"
              % (pct(idle, 50), pct(idle, 99), len(idle)))

        rtt = RttSampler(d)
        rtt.start()
        c0 = (cpu_seconds(d.proc.pid), cpu_seconds(pid))
        flood = InviteFlood(d.sip_port, "agent", CALLS, RATE, timeout=30)
        rc = flood.run(CALLS / RATE + 90)
        c1 = (cpu_seconds(d.proc.pid), cpu_seconds(pid))
        rtt.stop()
        t = flood.totals()
        print("  INVITE flood: %d calls at %g/s asked, %.0f/s reached; "
              "refused %d, failed (answered or unanswered) %d; sipp rc %d"
              % (t["total"], RATE, t.get("rate") or 0, t["successful"],
                 t["failed"], rc))
        line("INVITE flood (journal on %s)" % where, rtt.rtts, idle,
             (c1[0] - c0[0], c1[1] - c0[1]), flood.duration)
        ok = ok and rc == 0 and t["failed"] == 0

        rtt = RttSampler(d)
        rtt.start()
        c0 = (cpu_seconds(d.proc.pid), cpu_seconds(pid))
        t0 = time.monotonic()
        counts, answers = raw_flood(d.sip_port, d.sip_uri, RAW_SECONDS,
                                    RATE)
        took = time.monotonic() - t0
        c1 = (cpu_seconds(d.proc.pid), cpu_seconds(pid))
        rtt.stop()
        print("  malformed flood: %s; %d of %d OPTIONS answered"
              % (counts, answers, counts.get("options", 0)))
        line("malformed flood (journal on %s)" % where, rtt.rtts, idle,
             (c1[0] - c0[0], c1[1] - c0[1]), took)
        same = c.call("media.getStatus")["pid"] == pid
        print("  baresip survived both floods: %s" % same)
        ok = ok and same
    finally:
        d.stop()
    return ok


if __name__ == "__main__":
    sys.exit(main())
