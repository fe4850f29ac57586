#!/usr/bin/python3
"""The floor at scale: N agents' ccpd (each with its baresip) on one
nats-server, a supervisor's ccpd watching the floor, and agents changing
state at random.

Measured in one run:
  latency   from agent.setState returning at an agent's ccpd to the
            change arriving at the supervisor's client as floor.changed:
            p50, p99, max (goal: p99 <= 100 ms)
  cost      what the bus adds per ccpd: resident memory and CPU time of
            the N agents' ccpd with the bus, against BENCH_BUS_OFF (10)
            agents' ccpd without it, both doing the same changes in the
            same run (their baresip is not counted)
  count     the agent.stateChange messages the stream CCP_EVENTS holds for
            the changes made, against the changes made (goal: equal)

usage: bus-floor.py [N]
  N                agents on the bus (default $BENCH_BUS_AGENTS, else 200)
  CCPD_BIN         the ccpd to run (default build/ccpd)
  BENCH_BUS_CHANGES  changes per agent (default 5)
  BENCH_BUS_RATE     changes per second, all agents together (default 20)

Bounded: every wait has a deadline; everything started is stopped by its
PID. Only 127.0.0.1. Exit status 0 when everything was measured, whatever
the goals say; 1 when something could not be measured.
"""

import os
import random
import statistics
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))

import ccpd as ccpd_mod  # noqa: E402
import peers  # noqa: E402
from nats import NatsServer, wait_for  # noqa: E402

STATES = ["Available", "Break", "Lunch"]
TICK = os.sysconf("SC_CLK_TCK")


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def cpu_s(pid):
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


class Watcher:
    """The supervisor's client: the arrival time of every floor.changed,
    taken on the reader thread as the line arrives."""

    def __init__(self, d):
        self.c = d.client()
        self.lock = threading.Lock()
        self.cond = threading.Condition(self.lock)
        self.seen = {}            # (agent, state) -> [arrival, ...]
        orig = self.c.on_message

        def on_message(msg):
            now = time.monotonic()
            if isinstance(msg, dict) and msg.get("method") == "event" and \
                    msg["params"]["type"] == "floor.changed":
                with self.cond:
                    for a in msg["params"]["data"]["agents"]:
                        self.seen.setdefault((a["agent"], a["state"]),
                                             []).append(now)
                    self.cond.notify_all()
                return
            orig(msg)
        self.c.on_message = on_message

    def arrival_after(self, agent, state, t0, timeout=10):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                for t in self.seen.get((agent, state), []):
                    if t >= t0 - 0.5:
                        return t
                left = deadline - time.monotonic()
                if left <= 0:
                    return None
                self.cond.wait(left)


def start_agents(n, prefix, bus_url, out):
    for i in range(n):
        opts = {"sip_user": "%s%03d" % (prefix, i), "http_listen": "off",
                "log_level": "info", "rtp_ports": "%d-%d" %
                peers.rtp_port_block(4)}
        if bus_url:
            opts["bus"] = bus_url
        d = ccpd_mod.Ccpd(options=opts)
        d.c = d.client()
        d.name = opts["sip_user"]
        d.state = "Offline"
        out.append(d)


def main():
    n = int(sys.argv[1]) if len(sys.argv) > 1 else int(
        os.environ.get("BENCH_BUS_AGENTS", "200"))
    n_off = int(os.environ.get("BENCH_BUS_OFF", "10"))
    per_agent = int(os.environ.get("BENCH_BUS_CHANGES", "5"))
    rate = float(os.environ.get("BENCH_BUS_RATE", "20"))
    nats = NatsServer().start()
    on, off, sup = [], [], None
    ok = True
    try:
        t = time.monotonic()
        start_agents(n, "a", nats.url, on)
        start_agents(n_off, "o", None, off)
        sup = ccpd_mod.Ccpd(options={"sip_user": "sup", "bus": nats.url,
                                     "http_listen": "off",
                                     "log_level": "info"})
        print("started %d agents on the bus, %d off it and a supervisor "
              "in %.1f s" % (n, n_off, time.monotonic() - t))
        for d in on:
            wait_for("%s on the bus" % d.name,
                     lambda: d.c.call("bus.getStatus")["connected"], 30)
        w = Watcher(sup)
        floor = wait_for("the floor of every agent", lambda: (
            lambda f: f if f["ready"] and len(f["agents"]) >= n + 1
            else None)(w.c.call("floor.get")), 60)
        print("the supervisor sees %d agents" % len(floor["agents"]))
        # a baseline after start-up: what the changes and the heartbeats
        # cost from here on
        time.sleep(1)
        base = {d: (cpu_s(d.proc.pid), rss_kib(d.proc.pid))
                for d in on + off + [sup]}
        t_start_wall = time.time() * 1000
        t_phase = time.monotonic()
        # the changes: at random, paced, the agents off the bus too
        plan = [d for d in on for _ in range(per_agent)] + \
               [d for d in off for _ in range(per_agent)]
        random.shuffle(plan)
        lat, missing, made = [], 0, 0
        for k, d in enumerate(plan):
            due = t_phase + k / rate
            if due > time.monotonic():
                time.sleep(due - time.monotonic())
            st = random.choice([s for s in STATES if s != d.state])
            d.c.call("agent.setState", {"state": st})
            t0 = time.monotonic()
            d.state = st
            if d in on:
                made += 1
                t1 = w.arrival_after(d.name, st, t0)
                if t1 is None:
                    missing += 1
                else:
                    lat.append(max(0.0, t1 - t0) * 1000)
        phase = time.monotonic() - t_phase
        cost = {}
        for group, ds in (("on", on), ("off", off)):
            cpu = [cpu_s(d.proc.pid) - base[d][0] for d in ds]
            rss = [rss_kib(d.proc.pid) for d in ds]
            cost[group] = (statistics.mean(cpu), statistics.mean(rss))
        sup_cost = (cpu_s(sup.proc.pid) - base[sup][0], rss_kib(sup.proc.pid))
        for d in on:
            wait_for("acknowledged", lambda: d.c.call("bus.getStatus")[
                "waiting"] == 0, 60)
        nc = nats.client()
        count = 0
        for subject, hdrs, payload in nc.stream_msgs():
            if subject.endswith(".agent.stateChange") and \
                    isinstance(payload, dict) and \
                    payload.get("ts", 0) >= t_start_wall and \
                    payload["data"]["newState"] in STATES and \
                    payload["agent"].startswith("a"):
                count += 1
        lat.sort()

        def pct(p):
            return lat[min(len(lat) - 1, int(round(p / 100 * (len(lat) - 1))))]
        print("\n%d changes on the bus in %.1f s (%.1f/s), %d more off it"
              % (made, phase, len(plan) / phase, len(plan) - made))
        print("setState -> floor.changed at the supervisor: p50 %.1f ms, "
              "p99 %.1f ms, max %.1f ms (%d measured, %d missing)" % (
                  pct(50), pct(99), lat[-1], len(lat), missing))
        print("goal p99 <= 100 ms: %s" % ("met" if pct(99) <= 100
                                          else "NOT met"))
        print("per ccpd over the %.1f s of changes: bus on %.3f s CPU, "
              "%d KiB RSS; bus off %.3f s CPU, %d KiB RSS" % (
                  phase, cost["on"][0], cost["on"][1], cost["off"][0],
                  cost["off"][1]))
        print("the bus adds per ccpd: %+.3f s CPU (%.2f%% of a core), "
              "%+d KiB RSS (ratio %.2f)" % (
                  cost["on"][0] - cost["off"][0],
                  100 * (cost["on"][0] - cost["off"][0]) / phase,
                  cost["on"][1] - cost["off"][1],
                  cost["on"][1] / cost["off"][1]))
        print("the supervisor's ccpd, watching %d agents: %.3f s CPU "
              "(%.2f%% of a core), %d KiB RSS" % (
                  len(floor["agents"]), sup_cost[0],
                  100 * sup_cost[0] / phase, sup_cost[1]))
        print("stream CCP_EVENTS: %d agent.stateChange messages for %d "
              "changes made: %s" % (count, made, "equal" if count == made
                                    else "NOT equal"))
        ok = missing == 0
    except AssertionError as e:
        print("could not measure: %s" % e)
        ok = False
    finally:
        for d in on + off + ([sup] if sup else []):
            try:
                d.stop(30)
            except AssertionError as e:
                print("stop: %s" % str(e)[:300])
        nats.stop()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
