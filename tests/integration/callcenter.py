"""A contact center on loopback, for the load test and its benchmark:
contrib/kamailio/acd.cfg (acd.AcdKamailio), N ccpd agents registered to
it with presence on, each driven by a scripted agent (a thread on the
agent's Unix socket), and SIPp callers at a steady rate.

The scripted agent accepts after a short random ring, talks a few
seconds, hangs up, clears after-contact work after a moment, and now and
then takes a Break (or goes Offline) and comes back.

The figures come from what the parts recorded, not from the script:
  * each INVITE's arrival at kamailio and the agent it was sent to, from
    kamailio's log (acd.cfg logs both with $TV(Sn));
  * each agent's ringing and its state at that moment, from that ccpd's
    journal (state_dir/ccpd.db);
  * each call's outcome at the caller, from SIPp's exit code and counts.
"""

import json
import os
import random
import re
import sqlite3
import threading
import time

import peers
from acd import AcdKamailio


class ScriptedAgent(threading.Thread):
    """Drives one ccpd as an agent would. ring=(lo, hi) s before accept,
    talk=(lo, hi) s before hanging up, acw=(lo, hi) s before clearing;
    break_every: after about that many contacts, a pause of pause s in
    Break or Offline, then Available again."""

    def __init__(self, d, ring=(0.1, 0.5), talk=(1.0, 2.0),
                 acw=(0.1, 0.3), break_every=4, pause=(1.0, 2.0), seed=0):
        super().__init__(daemon=True, name="agent-%s" % d.options["sip_user"])
        self.d = d
        self.c = d.client()
        self.c.call("events.subscribe")
        self.rng = random.Random(seed)
        self.ring, self.talk, self.acw = ring, talk, acw
        self.break_every, self.pause = break_every, pause
        self.stopping = threading.Event()
        self.due = []           # (time, what, contactId)
        self.handled = 0
        self.errors = []
        self.breaks = 0
        self.live = set()

    def at(self, delay, what, cid=None):
        self.due.append((time.monotonic() + delay, what, cid))
        self.due.sort(key=lambda x: x[0])

    def act(self, what, cid):
        try:
            if what == "accept":
                self.c.call("contact.accept", {"contactId": cid})
            elif what == "hangup":
                if cid in self.live:
                    self.c.call("connection.destroy", {"contactId": cid})
            elif what == "clear":
                self.c.call("contact.clear", {"contactId": cid})
                self.handled += 1
                if self.break_every and not self.live and \
                        self.rng.random() < 1.0 / self.break_every:
                    self.breaks += 1
                    self.c.call("agent.setState", {"state": self.rng.choice(
                        ["Break", "Break", "Offline"])})
                    self.at(self.rng.uniform(*self.pause), "back")
            elif what == "back":
                self.c.call("agent.setState", {"state": "Available"})
        except Exception as e:      # a race with the caller is fine
            msg = str(e)
            if "-32003" not in msg and "-32004" not in msg and \
                    "not found" not in msg.lower():
                self.errors.append("%s %s: %s" % (what, cid, msg))

    def on_event(self, ev):
        t = ev["type"]
        data = ev.get("data", {})
        cid = (data.get("contact") or {}).get("contactId")
        if t == "contact.incoming":
            self.at(self.rng.uniform(*self.ring), "accept", cid)
        elif t == "contact.connected":
            self.live.add(cid)
            self.at(self.rng.uniform(*self.talk), "hangup", cid)
        elif t in ("contact.acw", "contact.ended") and cid in self.live:
            self.live.discard(cid)
            if t == "contact.acw":
                self.at(self.rng.uniform(*self.acw), "clear", cid)
        elif t == "contact.acw":
            self.at(self.rng.uniform(*self.acw), "clear", cid)

    def run(self):
        import queue
        while not self.stopping.is_set():
            now = time.monotonic()
            while self.due and self.due[0][0] <= now:
                _, what, cid = self.due.pop(0)
                self.act(what, cid)
            wait = 0.1 if not self.due else max(
                0.0, min(0.1, self.due[0][0] - time.monotonic()))
            try:
                ev = self.c.events.get(timeout=wait)
            except queue.Empty:
                continue
            self.on_event(ev)

    def stop(self):
        self.stopping.set()
        self.join(5)


class QueueCallers(peers.Sipp):
    """SIPp placing `calls` calls to the queue at `rate` per second."""

    def __init__(self, acd, calls, rate, timeout=120):
        super().__init__("uac_queue", target=acd.port, service=acd.queue,
                         timeout=timeout, trace_msg=False)
        self.calls, self.rate = calls, rate
        self.stat_file = os.path.join(self.dir, "stat.csv")

    def args(self):
        a = super().args()
        i = a.index("-m")
        a[i + 1] = str(self.calls)
        return a + ["-r", "%g" % self.rate, "-rp", "1000",
                    "-l", str(max(self.calls, 10)),
                    "-trace_stat", "-stf", self.stat_file, "-fd", "1"]

    def totals(self):
        """SIPp's final cumulative counts: total, successful, failed."""
        try:
            with open(self.stat_file) as f:
                rows = [ln.rstrip("\n").split(";") for ln in f if ln.strip()]
        except OSError:
            return {}
        head, last = rows[0], rows[-1]
        col = {h: i for i, h in enumerate(head)}

        def get(name):
            return int(last[col[name]]) if name in col else None
        return {"total": get("TotalCallCreated"),
                "successful": get("SuccessfulCall(C)"),
                "failed": get("FailedCall(C)")}


class CallCenter:
    """kamailio's ACD and n agents. Use as a context manager; start()
    registers the agents and sets them Available."""

    def __init__(self, make_ccpd, n, ring_ms=3000, tones=True, seed=1,
                 agent_kw=None):
        self.users = ["agent%d" % (i + 1) for i in range(n)]
        self.acd = AcdKamailio({u: "pw-%s" % u for u in self.users},
                               ring_ms=ring_ms, retry_after=5)
        self.make_ccpd = make_ccpd
        self.n = n
        self.tones = tones
        self.seed = seed
        self.agent_kw = agent_kw or {}
        self.desks = []
        self.agents = []

    def __enter__(self):
        self.acd.start()
        return self

    def __exit__(self, *exc):
        for a in self.agents:
            a.stop()
        for d in self.desks:
            try:
                d.stop()
            except AssertionError:
                if exc[0] is None:
                    raise
        self.acd.stop()
        return False

    def start(self):
        from acd import wait_presence
        for i, u in enumerate(self.users):
            opts = self.acd.agent_options(u)
            if self.tones:
                opts["audio_source"] = "ausine,%d" % (600 + 100 * i)
            self.desks.append(self.make_ccpd(options=opts))
        for d in self.desks:
            c = d.client()
            snap = c.call("events.subscribe")["snapshot"]
            if snap["registration"]["state"] != "registered":
                c.wait_event("registration.status", 20, pred=lambda e:
                             e["data"]["state"] == "registered")
            c.call("agent.setState", {"state": "Available"})
            wait_presence(d, "open", timeout=15)
            c.close()
        for i, d in enumerate(self.desks):
            a = ScriptedAgent(d, seed=self.seed * 100 + i, **self.agent_kw)
            self.agents.append(a)
            a.start()
        return self

    # ---- the figures, from what the parts recorded ----

    def kamailio_times(self):
        """{call_id: {"queued": t, "sent": [(t, agent), ...], "nobody":
        bool}} from kamailio's log."""
        calls = {}
        q = re.compile(r"acd: (\S+) queued at ([0-9.]+)")
        s = re.compile(r"acd: (\S+) to (\S+) at ([0-9.]+)")
        n = re.compile(r"acd: (\S+): no agent open")
        for ln in self.acd.log_text().splitlines():
            m = q.search(ln)
            if m:
                calls.setdefault(m.group(1), {"sent": [], "nobody": False})[
                    "queued"] = float(m.group(2))
                continue
            m = s.search(ln)
            if m:
                calls.setdefault(m.group(1), {"sent": [], "nobody": False})[
                    "sent"].append((float(m.group(3)), m.group(2)))
                continue
            m = n.search(ln)
            if m:
                calls.setdefault(m.group(1), {"sent": [], "nobody": False})[
                    "nobody"] = True
        return calls

    def journal(self, d):
        db = sqlite3.connect(os.path.join(d.options["state_dir"], "ccpd.db"))
        try:
            rows = db.execute("SELECT id, time, type, state, contact_id, "
                              "data FROM journal ORDER BY id").fetchall()
            contacts = [json.loads(r[0]) for r in db.execute(
                "SELECT data FROM contacts")]
        finally:
            db.close()
        return rows, contacts

    def figures(self):
        """The load figures; see the module's docstring."""
        kam = self.kamailio_times()
        rang = []               # (call_id, agent, ring time s)
        rang_not_available = []
        refused = []
        answered = set()
        attrs_missing = 0
        for d in self.desks:
            user = d.options["sip_user"]
            rows, contacts = self.journal(d)
            last_change = None
            for rid, t, typ, state, cid, data in rows:
                data = json.loads(data) if data else {}
                if typ == "agent.stateChange":
                    last_change = data
                    continue
                if typ == "contact.incoming":
                    c = data.get("contact", {})
                    call_id = c["connections"][1]["callId"]
                    # the change the offer made (to PendingBusy) says what
                    # the agent was when the INVITE came
                    before = last_change["oldState"] if last_change and \
                        last_change.get("newState") == "PendingBusy" \
                        else (last_change or {}).get("newState")
                    if before != "Available":
                        rang_not_available.append((call_id, user, before))
                    rang.append((call_id, user, t / 1000.0))
                    if "CallNumber" not in c.get("attributes", {}):
                        attrs_missing += 1
                if typ == "contact.refused":
                    refused.append((user, state))
            for c in contacts:
                if c.get("timestamps", {}).get("connected"):
                    answered.add(c["connections"][1]["callId"])
        lat = []
        for call_id, user, t in rang:
            k = kam.get(call_id)
            if k and "queued" in k:
                first = [s for s in k["sent"] if s[1] == user]
                if first:
                    lat.append(t - k["queued"])
        lat.sort()

        def pct(p):
            if not lat:
                return None
            return lat[min(len(lat) - 1, int(round(p / 100.0 *
                                                   (len(lat) - 1))))]
        nobody = {c for c, k in kam.items() if k["nobody"]}
        return {
            "queued": len([k for k in kam.values() if "queued" in k]),
            "answered": len(answered),
            "answered_480": len(nobody),
            "rang": len(rang),
            "rang_not_available": rang_not_available,
            "refused_at_desk": refused,
            "attributes_missing": attrs_missing,
            "ring_latency_p50_ms": None if not lat else pct(50) * 1000,
            "ring_latency_p99_ms": None if not lat else pct(99) * 1000,
            "ring_latency_n": len(lat),
            "calls": kam,
            "answered_ids": answered,
        }
