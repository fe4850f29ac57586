"""The loopback contact center under a modest load (the full figure is
tests/bench/acd-load.py): kamailio's ACD, 3 ccpd agents scripted to
accept, talk, clear and take breaks, SIPp calling the queue at a steady
rate. No call rings an agent who is not Available (judged from each
ccpd's journal against each INVITE), none is lost, the screen pop's
attribute reaches every ring, and audio flows both ways on the wire."""

import time

import pytest

import peers
import rtpwire
from callcenter import CallCenter, QueueCallers

AGENTS = 3
CALLS = 40
RATE = 2.0


def test_contact_center_under_load(make_ccpd):
    with CallCenter(make_ccpd, AGENTS, ring_ms=3000) as cc:
        cc.start()
        # captures of what reaches each agent, for the audio calls below
        caps = {}
        for d in cc.desks:
            lo, hi = (int(x) for x in d.options["rtp_ports"].split("-"))
            caps[d.options["sip_user"]] = rtpwire.Capture(
                (lo, hi), d.options["sip_user"]).start()
        try:
            callers = QueueCallers(cc.acd, CALLS, RATE, timeout=90)
            callers.start()
            rc = callers.wait(CALLS / RATE + 100)
            totals = callers.totals()
            assert rc == 0, callers.describe()

            # audio both ways, on some calls: a real caller with a tone
            heard = audio_calls(cc, caps, 3)
        finally:
            for cap in caps.values():
                cap.stop()
        # let the last contacts be cleared before reading the journals
        deadline = time.monotonic() + 15
        while any(a.live for a in cc.agents) and time.monotonic() < deadline:
            time.sleep(0.1)
        f = cc.figures()
        errors = [e for a in cc.agents for e in a.errors]

    print("calls %d (sipp %s): answered %d, 480 %d, rang %d, refused at "
          "the desk %d, ring latency p50 %.1f ms p99 %.1f ms (n=%d), "
          "breaks %d" % (CALLS, totals, f["answered"], f["answered_480"],
                         f["rang"], len(f["refused_at_desk"]),
                         f["ring_latency_p50_ms"] or -1,
                         f["ring_latency_p99_ms"] or -1,
                         f["ring_latency_n"],
                         sum(a.breaks for a in cc.agents)))
    assert not errors, errors
    assert totals["total"] == CALLS and totals["failed"] == 0, totals
    assert f["rang_not_available"] == [], f["rang_not_available"]
    # every call the callers made ended answered or 480: none lost
    sipp_ids = {c for c, k in f["calls"].items() if "queued" in k}
    assert len(sipp_ids) == CALLS + len(heard), (len(sipp_ids), CALLS)
    lost = [c for c in sipp_ids if c not in f["answered_ids"] and
            not f["calls"][c]["nobody"]]
    assert lost == [], lost
    assert f["answered"] + f["answered_480"] == CALLS + len(heard)
    assert f["answered"] >= AGENTS, f
    # SIPp's calls carry X-CCP-CallNumber; the audio caller's none
    assert f["attributes_missing"] == len(
        [v for v in heard.values() if v]), f
    assert len([v for v in heard.values() if v]) == 3, heard
    for user, v in heard.items():
        if v is None:
            continue        # a 480: every agent was away
        got_at_agent, got_at_caller, agent_tone = v
        assert got_at_agent == 440, heard
        assert got_at_caller == agent_tone, heard


def audio_calls(cc, caps, n):
    """n calls from a baresip caller with a 440 Hz tone: what each side
    received on the wire, by the agent who answered. The scripted agent
    accepts and hangs up by itself."""
    heard = {}
    tones = [440] + [600 + 100 * i for i in range(len(cc.desks))]
    by_user = {d.options["sip_user"]: 600 + 100 * i
               for i, d in enumerate(cc.desks)}
    caller = peers.BaresipPeer(name="caller", tone=440).start()
    ccap = rtpwire.capture(caller)
    try:
        tries = 0
        while len([v for v in heard.values() if v]) < n:
            # every agent may be on a break: a 480 is tried again
            tries += 1
            assert tries <= 3 * n, "the queue kept answering 480"
            caller.dial(cc.acd.queue_uri)
            est = caller.wait_event({"CALL_ESTABLISHED", "CALL_CLOSED"}, 20)
            if est["type"] == "CALL_CLOSED":
                heard["480#%d" % tries] = None
                time.sleep(0.5)
                continue
            t0 = est["_time"] + 0.3
            end = ccap.wait_rtp(t0, count=20)
            rep_c = ccap.heard(t0, end, tones)
            user = None
            for u, cap in caps.items():
                rep = cap.heard(t0, end, tones)
                if rep["packets"] >= 10:
                    user = u
                    rep_a = rep
            assert user, "no agent received the caller's RTP"
            heard[user + "#%d" % tries] = (
                rtpwire.dominant(rep_a), rtpwire.dominant(rep_c),
                by_user[user])
            caller.wait_event("CALL_CLOSED", 20)
    finally:
        ccap.stop()
        caller.stop()
    return heard
