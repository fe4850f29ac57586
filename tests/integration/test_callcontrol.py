"""Call control with real parties on 127.0.0.1: hold, mute, DTMF, quick
connects, consult and swap, leave, blind and warm transfer.

Each party is its own baresip with its own tone: the customer 440 Hz, the
third party 880 Hz, ccpd's agent 660 Hz.  What a party really received is
judged on the wire (rtpwire): a tcpdump per party captures the RTP that
reaches its port block, and each stream is judged in a short window after
the event that should change it (a hold, resume, swap, leave, transfer).
A party's own sndfile dump is no use there: baresip 1.0.0 drops its
sndfile decode filter at the first re-INVITE a call sees (audio_decoder_set
flushes the decode filters and aufilt_setup then skips them), so a dump
stops at the first hold.  Dumps are still read for the stretch before any
re-INVITE, and for the agent's own legs.
"""

import os
import time

import pytest

import peers
import rtpwire
from ccpd import RpcError

AGENT = 660
CUSTOMER = 440
THIRD = 880
TONES = [AGENT, CUSTOMER, THIRD]
TALK = 1.5          # seconds of talk in a dump read before any re-INVITE


@pytest.fixture
def agent(make_ccpd):
    snd = peers._mkdtemp("ccpd-snd-")
    d = make_ccpd(options={
        "audio_source": "ausine,%d" % AGENT, "snd_path": snd,
        "quick_connects": "Billing=sip:billing@127.0.0.1:9, "
                          "Support=+442071838750"})
    d.snd_dir = snd
    d.c = d.client()
    d.c.call("events.subscribe")
    yield d
    # every event of the session matches the protocol's schema
    from test_schema import assert_events_match_schema
    assert_events_match_schema(d.c)


@pytest.fixture
def customer():
    p = peers.BaresipPeer(name="customer", tone=CUSTOMER).start()
    yield p
    p.stop()


@pytest.fixture
def third():
    p = peers.BaresipPeer(name="third", user="third", tone=THIRD,
                          answermode="auto").start()
    yield p
    p.stop()


def connect_customer(d, customer):
    d.c.call("agent.setState", {"state": "Available"})
    d.c.wait_state("Available")
    customer.dial(d.sip_uri)
    cid = d.c.wait_event("contact.incoming")["data"]["contact"]["contactId"]
    d.c.call("contact.accept", {"contactId": cid})
    d.c.wait_event("contact.connected")
    customer.wait_event("CALL_ESTABLISHED", 10)
    return cid


def conn_event(d, conn_id, state, timeout=15):
    return d.c.wait_event(
        "connection.stateChange", timeout,
        lambda e: e["data"]["connectionId"] == conn_id and
        e["data"]["newState"] == state)["data"]


def seconds(path):
    samples, rate = peers.read_wav(path, 0)
    return len(samples) / float(rate)


def report(path, start, end):
    """What the WAV holds between start and end seconds (negative: from
    the end)."""
    total = seconds(path)
    if start < 0:
        start += total
    if end <= 0:
        end += total
    return peers.tone_report(path, TONES, skip_ms=int(start * 1000),
                             max_ms=int((end - start) * 1000))


dominant = rtpwire.dominant


def show(rep):
    return "%srms %.0f over %.1fs, shares %s" % (
        "%d RTP packets, " % rep["packets"] if "packets" in rep else "",
        rep["rms"], rep["seconds"],
        {f: round(s, 3) for f, s in rep["share"].items()})


# Figures the tests measured, printed with -s (and kept in the report).
MEASURED = []


def note(what, rep):
    MEASURED.append("%s: %s" % (what, show(rep)))
    print("%s: %s" % (what, show(rep)))


def dumps(snd_dir, kind="dec"):
    return sorted(os.path.join(snd_dir, n) for n in os.listdir(snd_dir)
                  if n.endswith("-%s.wav" % kind))


SETTLE = 0.3        # seconds after an event before its window opens


def expect(cap, since, tone, what, absent=(), count=50, tones=TONES):
    """What a party receives on the wire from `since` until `count` RTP
    packets (20 ms each) have come: its main stream must clearly carry
    `tone`, or, for a tuple of tones (a mix), each of them with a fifth of
    the power or more; and no stream may carry any of the `absent` tones.
    Returns the report, with "end", the end of the window."""
    end = cap.wait_rtp(since, count, timeout=15)
    rep = cap.heard(since, end, tones)
    note(what, rep)
    why = "%s: %s\n%s" % (what, show(rep),
                          cap.timeline(since - 1.0, end + 0.5, tones))
    if isinstance(tone, tuple):
        assert rep["rms"] >= peers.SILENCE_RMS and rep["seconds"] >= 0.5 \
            and all(rep["share"][f] >= 0.2 for f in tone), why
    else:
        assert dominant(rep) == tone, why
    for r in [rep] + rep["others"]:
        assert all(r["share"][f] < 0.05 for f in absent), why
    rep["end"] = end
    return rep


def expect_quiet(cap, start, end, what, flowing=False, tones=TONES):
    """Between start and end the party receives no RTP, or silence; with
    flowing, RTP (of silence) must come all the same."""
    rep = cap.heard(start, end, tones)
    note(what, rep)
    assert all(rtpwire.silent(r) for r in [rep] + rep["others"]) and \
        (not flowing or rep["seconds"] >= 0.8 * (end - start)), \
        "%s: %s\n%s" % (what, show(rep),
                        cap.timeline(start - 1.0, end + 0.5, tones))
    return rep


def test_hold_and_resume(agent, customer, wire):
    cw = wire(customer)
    cid = connect_customer(agent, customer)
    t_up = time.monotonic()
    contact = agent.c.call("contact.get", {"contactId": cid})
    kinds = [(k["connectionId"], k["type"], k["state"])
             for k in contact["connections"]]
    assert kinds == [(cid + "-0", "agent", "connected"),
                     (cid + "-1", "inbound", "connected")], kinds
    expect(cw, t_up + SETTLE, AGENT, "hold: customer received before hold")
    agent.c.call("connection.hold", {"contactId": cid})
    ev = conn_event(agent, cid + "-1", "hold")
    assert ev["party"] == "customer" and ev["oldState"] == "connected"
    held_at = time.monotonic()
    expect_quiet(cw, held_at + SETTLE, held_at + 1.8,
                 "hold: customer received while held")
    agent.c.call("connection.resume",
                 {"contactId": cid, "connectionId": cid + "-1"})
    conn_event(agent, cid + "-1", "connected")
    resumed_at = time.monotonic()
    held = resumed_at - held_at
    expect(cw, resumed_at + SETTLE, AGENT,
           "hold: customer received after resume")
    contact = agent.c.call("contact.get", {"contactId": cid})
    assert contact["holdCount"] == 1
    assert abs(contact["holdDuration"] - held * 1000) < 500, \
        (contact["holdDuration"], held)
    customer.hangup()
    agent.c.wait_event("contact.acw")
    # the customer's own dump, before the hold's re-INVITE
    before = report(customer.wait_heard_wav(5), 0.2, 1.2)
    note("hold: customer's dump before hold", before)
    assert dominant(before) == AGENT, show(before)


def test_mute_is_silence_and_survives_hold(agent, customer, wire):
    cw = wire(customer)
    cid = connect_customer(agent, customer)
    t_up = time.monotonic()
    expect(cw, t_up + SETTLE, AGENT, "mute: customer received before mute")
    st = agent.c.call("agent.mute")
    assert st["muted"] is True
    ev = agent.c.wait_event("agent.muteToggle")
    assert ev["data"]["muted"] is True
    assert agent.c.call("agent.getState")["muted"] is True
    t_mute = time.monotonic()
    expect_quiet(cw, t_mute + SETTLE, t_mute + 1.5,
                 "mute: customer received while muted", flowing=True)
    # hold and resume: still muted afterwards
    agent.c.call("connection.hold", {"contactId": cid})
    conn_event(agent, cid + "-1", "hold")
    # a resume sent while the hold's re-INVITE is still out is lost in
    # baresip 1.0.0; a person does not click that fast
    t_hold = time.monotonic()
    expect_quiet(cw, t_hold + SETTLE, t_hold + 1.0,
                 "mute: customer received while held")
    agent.c.call("connection.resume", {"contactId": cid})
    conn_event(agent, cid + "-1", "connected")
    t_resume = time.monotonic()
    expect_quiet(cw, t_resume + SETTLE, t_resume + 1.5,
                 "mute: customer received after resume, still muted",
                 flowing=True)
    agent.c.call("agent.unmute")
    assert agent.c.wait_event("agent.muteToggle")["data"]["muted"] is False
    t_unmute = time.monotonic()
    expect(cw, t_unmute + SETTLE, AGENT,
           "mute: customer received after unmute")
    customer.hangup()
    agent.c.wait_event("contact.acw")
    # the customer's own dump holds the muted stretch (no re-INVITE yet)
    heard = customer.wait_heard_wav(5)
    muted_heard = report(heard, t_mute - t_up + 0.4, t_mute - t_up + 1.4)
    note("mute: customer's dump while muted", muted_heard)
    assert muted_heard["rms"] < peers.SILENCE_RMS, show(muted_heard)


def test_send_digits(agent, customer):
    cid = connect_customer(agent, customer)
    customer.drain_events()
    digits = "1234567890*#ABCD"
    agent.c.call("connection.sendDigits",
                 {"contactId": cid, "digits": digits})
    got = []
    for _ in digits:
        got.append(customer.wait_event("CALL_DTMF_START", 10)["param"])
    assert "".join(got) == digits
    for bad in ("12x", "", "1" * 65, "E"):
        ans = agent.c.request("connection.sendDigits",
                              {"contactId": cid, "digits": bad})
        assert ans["error"]["code"] == -32602, (bad, ans)
    agent.c.call("connection.destroy", {"contactId": cid})
    agent.c.wait_event("contact.acw")


def test_quick_connects(agent):
    eps = agent.c.call("agent.getEndpoints")
    assert eps == [
        {"name": "Billing", "endpoint": "sip:billing@127.0.0.1:9",
         "type": "sip_uri"},
        {"name": "Support", "endpoint": "+442071838750",
         "type": "phone_number"}]


def test_consult_swap_and_leave(agent, customer, third, wire):
    cw, tw = wire(customer), wire(third)
    cid = connect_customer(agent, customer)
    t_up = time.monotonic()
    expect(cw, t_up + SETTLE, AGENT, "consult: customer received before it")
    res = agent.c.call("contact.addConnection",
                       {"contactId": cid, "endpoint": third.uri})
    tid = res["connectionId"]
    assert tid == cid + "-2"
    conn_event(agent, cid + "-1", "hold")
    t_hold = time.monotonic()
    ev = conn_event(agent, tid, "connected")
    assert ev["party"] == "thirdParty" and \
        ev["connection"]["type"] == "outbound"
    third.wait_event("CALL_ESTABLISHED", 10)
    assert agent.c.call("agent.getState")["state"] == "Busy"
    t_third = time.monotonic()
    end = expect(tw, t_third + SETTLE, AGENT,
                 "consult: third party received")["end"]
    expect_quiet(cw, t_hold + SETTLE, max(end, t_hold + 1.3),
                 "consult: customer received while held")
    # swap: back to the customer, the third party held
    agent.c.call("contact.toggleActiveConnections", {"contactId": cid})
    conn_event(agent, tid, "hold")
    t_hold = time.monotonic()
    conn_event(agent, cid + "-1", "connected")
    t_back = time.monotonic()
    end = expect(cw, t_back + SETTLE, AGENT,
                 "swap: customer received")["end"]
    expect_quiet(tw, t_hold + SETTLE, max(end, t_hold + 1.3),
                 "swap: third party received while held")
    agent.c.call("contact.toggleActiveConnections", {"contactId": cid})
    conn_event(agent, cid + "-1", "hold")
    t_hold = time.monotonic()
    conn_event(agent, tid, "connected")
    t_back = time.monotonic()
    end = expect(tw, t_back + SETTLE, AGENT,
                 "swap back: third party received")["end"]
    expect_quiet(cw, t_hold + SETTLE, max(end, t_hold + 1.3),
                 "swap back: customer received while held")
    # leave: the customer and the third party talk on
    agent.c.call("connection.destroy", {"contactId": cid})
    conn_event(agent, cid + "-0", "disconnected")
    t_left = time.monotonic()
    agent.c.wait_event("contact.acw")
    assert agent.c.call("agent.getState")["state"] == "AfterContactWork"
    contact = agent.c.call("contact.get", {"contactId": cid})
    assert contact["endReason"] == "transferred"
    states = {k["connectionId"]: k["state"] for k in contact["connections"]}
    assert states == {cid + "-0": "disconnected", cid + "-1": "connected",
                      tid: "connected"}, states
    # each hears the other, and never the agent
    expect(cw, t_left + SETTLE, THIRD, "leave: customer received",
           absent=[AGENT])
    expect(tw, t_left + SETTLE, CUSTOMER, "leave: third party received",
           absent=[AGENT])
    customer.hangup()
    third.wait_event("CALL_CLOSED", 10)
    conn_event(agent, tid, "disconnected")
    # the dumps, before any re-INVITE: the customer and the third party
    # heard the agent; the agent's legs heard 440, then 880
    c_first = report(customer.wait_heard_wav(5), 0.2, 1.0)
    t_first = report(third.wait_heard_wav(5), 0.2, 1.0)
    note("consult: customer's dump before the consult", c_first)
    note("consult: third party's dump before the swap", t_first)
    assert dominant(c_first) == AGENT, show(c_first)
    assert dominant(t_first) == AGENT, show(t_first)
    heard = [dominant(report(p, 0.2, 1.0)) for p in dumps(agent.snd_dir)]
    assert heard == [CUSTOMER, THIRD], heard
    agent.c.call("contact.clear", {"contactId": cid})
    agent.c.wait_state("Available")


def test_blind_transfer_by_bridge(agent, customer, third, wire):
    cw, tw = wire(customer), wire(third)
    cid = connect_customer(agent, customer)
    t_up = time.monotonic()
    expect(cw, t_up + SETTLE, AGENT,
           "blind transfer: customer received before it")
    agent.c.call("contact.transfer",
                 {"contactId": cid, "endpoint": third.uri})
    ev = agent.c.wait_event("contact.transferred")["data"]
    assert ev["method"] == "bridge" and ev["endpoint"] == third.uri
    t_left = time.monotonic()
    agent.c.wait_event("contact.acw")
    assert agent.c.call("contact.get",
                        {"contactId": cid})["endReason"] == "transferred"
    expect(cw, t_left + SETTLE, THIRD,
           "blind transfer: customer received after it", absent=[AGENT])
    expect(tw, t_left + SETTLE, CUSTOMER,
           "blind transfer: the target received", absent=[AGENT])
    third.hangup()
    customer.wait_event("CALL_CLOSED", 10)


def test_refused_transfer_returns_the_customer_on_hold(agent, customer,
                                                       wire):
    cw = wire(customer)
    busy = peers.Sipp("uas_busy", timeout=20).start()
    busy.wait_listening()
    cid = connect_customer(agent, customer)
    t_up = time.monotonic()
    expect(cw, t_up + SETTLE, AGENT, "refused transfer: customer received")
    agent.c.call("contact.transfer",
                 {"contactId": cid, "endpoint": busy.uri})
    ev = agent.c.wait_event("contact.transferFailed")["data"]
    t_failed = time.monotonic()
    assert "486" in ev["reason"], ev
    contact = agent.c.call("contact.get", {"contactId": cid})
    assert contact["state"] == "connected"
    states = [k["state"] for k in contact["connections"]]
    assert states == ["connected", "hold", "disconnected"], states
    assert agent.c.call("agent.getState")["state"] == "Busy"
    expect_quiet(cw, t_failed + SETTLE, t_failed + 1.0,
                 "refused transfer: customer received while held")
    agent.c.call("connection.resume", {"contactId": cid})
    conn_event(agent, cid + "-1", "connected")
    t_back = time.monotonic()
    expect(cw, t_back + SETTLE, AGENT,
           "refused transfer: customer received after resume")
    agent.c.call("connection.destroy", {"contactId": cid})
    agent.c.wait_event("contact.acw")
    assert busy.wait(20) == 0, busy.errors()


def test_blind_transfer_by_refer(agent, customer, third, wire):
    cw, tw = wire(customer), wire(third)
    cid = connect_customer(agent, customer)
    t_up = time.monotonic()
    expect(cw, t_up + SETTLE, AGENT,
           "REFER transfer: customer received before it")
    agent.c.call("contact.transfer", {"contactId": cid,
                                      "endpoint": third.uri,
                                      "method": "refer"})
    ev = agent.c.wait_event("contact.transferred")["data"]
    assert ev["method"] == "refer"
    agent.c.wait_event("contact.acw")
    # the customer's baresip dialled the target itself: a new call
    t_new = third.wait_event("CALL_ESTABLISHED", 10)["_time"]
    expect(tw, t_new + SETTLE, CUSTOMER, "REFER transfer: the target "
           "received", absent=[AGENT])
    expect(cw, t_new + SETTLE, THIRD, "REFER transfer: customer received "
           "after it", absent=[AGENT])
    third.hangup()
    # the target's own dump: its call saw no re-INVITE
    t_heard = report(third.wait_heard_wav(5), 0.3, -0.2)
    note("REFER transfer: the target's dump", t_heard)
    assert dominant(t_heard) == CUSTOMER, show(t_heard)


def test_refused_refer_is_reported(agent, customer):
    """baresip 1.0.0 ends the referred call when the REFER fails: the
    failure is reported and the contact ends as transfer_failed."""
    busy = peers.Sipp("uas_busy", timeout=20).start()
    busy.wait_listening()
    cid = connect_customer(agent, customer)
    agent.c.call("contact.transfer", {"contactId": cid,
                                      "endpoint": busy.uri,
                                      "method": "refer"})
    ev = agent.c.wait_event("contact.transferFailed")["data"]
    assert "486" in ev["reason"], ev
    agent.c.wait_event("contact.acw")
    assert agent.c.call("contact.get", {"contactId": cid})["endReason"] \
        == "transfer_failed"
    busy.wait(20)


def hears_both(rep, a, b, own):
    """Both tones clearly there (a mix), the listener's own one not."""
    return (rep["rms"] >= peers.SILENCE_RMS and rep["seconds"] >= 0.5 and
            rep["share"][a] >= 0.2 and rep["share"][b] >= 0.2 and
            rep["share"][own] < 0.05)


def start_conference(agent, customer, third, wire, ctl=False):
    """Customer and third party on, then joined (with ccpctl join when
    ctl); returns the contact, the third party's connection, the time of
    the join, the time the mix is complete, and the captures of what the
    customer and the third party receive."""
    cw, tw = wire(customer), wire(third)
    cid = connect_customer(agent, customer)
    t_up = time.monotonic()
    # each party talks with the agent over a second before the next call
    # starts (sndfile names its dumps by the second)
    expect(cw, t_up + SETTLE, AGENT, "conference: customer received first")
    tid = agent.c.call("contact.addConnection",
                       {"contactId": cid, "endpoint": third.uri})[
                           "connectionId"]
    conn_event(agent, tid, "connected")
    t_third = third.wait_event("CALL_ESTABLISHED", 10)["_time"]
    expect(tw, t_third + SETTLE, AGENT, "conference: third party received "
           "in the consult")
    if ctl:
        r = agent.ctl("join")
        assert r.returncode == 0, r
    else:
        agent.c.call("contact.conferenceConnections", {"contactId": cid})
    t_join = time.monotonic()
    agent.c.wait_event(
        "connection.stateChange", 15,
        lambda e: e["data"]["connectionId"] == cid + "-1" and
        e["data"]["oldState"] == "hold" and
        e["data"]["newState"] == "connected")
    t_on = time.monotonic()
    contact = agent.c.call("contact.get", {"contactId": cid})
    states = [k["state"] for k in contact["connections"]]
    assert states == ["connected"] * 3, states
    # the legs to the focus start a second apart (snd_path is set), then
    # the mixer's buffers fill
    return cid, tid, t_join, t_on + 3.5, cw, tw


def test_conference_each_hears_the_other_two(agent, customer, third, wire):
    cid, tid, t_join, t_mix, cw, tw = start_conference(agent, customer,
                                                       third, wire)
    to_cust = expect(cw, t_mix, (AGENT, THIRD), "conference: customer "
                     "received", absent=[CUSTOMER], count=100)
    to_third = expect(tw, t_mix, (AGENT, CUSTOMER), "conference: third "
                      "party received", absent=[THIRD], count=100)
    t_end = min(to_cust["end"], to_third["end"])
    # the agent's own leg to the focus (no re-INVITE): what the agent heard
    legs = dumps(agent.snd_dir)
    assert len(legs) == 5, legs
    agent_heard = report(legs[2], t_mix - t_join, t_end - t_join - 0.2)
    note("conference: the agent heard", agent_heard)
    assert hears_both(agent_heard, CUSTOMER, THIRD, AGENT), \
        show(agent_heard)
    agent.c.call("connection.destroy", {"contactId": cid,
                                        "connectionId": tid})
    conn_event(agent, tid, "disconnected")
    third.wait_event("CALL_CLOSED", 10)
    # the third party gone, the agent talks with the customer again
    contact = agent.c.call("contact.get", {"contactId": cid})
    assert contact["state"] == "connected"
    t_two = time.monotonic()
    expect(cw, t_two + SETTLE, AGENT, "conference over: customer received",
           absent=[THIRD])
    agent.c.call("connection.destroy", {"contactId": cid})
    agent.c.wait_event("contact.acw")


def test_leave_a_conference(agent, customer, third, wire):
    cid, tid, t_join, t_mix, cw, tw = start_conference(agent, customer,
                                                       third, wire, ctl=True)
    r = agent.ctl("leave")
    assert r.returncode == 0, r
    ev = agent.c.wait_event("contact.transferred")["data"]
    assert ev["method"] == "conference", ev
    t_left = time.monotonic()
    agent.c.wait_event("contact.acw")
    contact = agent.c.call("contact.get", {"contactId": cid})
    assert contact["endReason"] == "transferred"
    states = [k["state"] for k in contact["connections"]]
    assert states == ["disconnected", "connected", "connected"], states
    expect(cw, t_left + 1.0, THIRD, "left conference: customer received",
           absent=[AGENT], count=100)
    expect(tw, t_left + 1.0, CUSTOMER, "left conference: third party "
           "received", absent=[AGENT], count=100)
    customer.hangup()
    third.wait_event("CALL_CLOSED", 10)
    conn_event(agent, tid, "disconnected")
    agent.c.call("contact.clear", {"contactId": cid})
    agent.c.wait_state("Available")


def test_ccpctl_call_control(agent, customer, third):
    cid = connect_customer(agent, customer)
    r = agent.ctl("hold")
    assert r.returncode == 0 and r.stdout == "holding %s\n" % cid, r
    conn_event(agent, cid + "-1", "hold")
    time.sleep(0.5)
    assert agent.ctl("resume").returncode == 0
    conn_event(agent, cid + "-1", "connected")
    r = agent.ctl("mute")
    assert r.returncode == 0, r
    assert agent.c.wait_event("agent.muteToggle")["data"]["muted"] is True
    assert agent.ctl("unmute").returncode == 0
    assert agent.c.wait_event("agent.muteToggle")["data"]["muted"] is False
    customer.drain_events()
    assert agent.ctl("digits", "42#").returncode == 0
    got = "".join(customer.wait_event("CALL_DTMF_START", 10)["param"]
                  for _ in range(3))
    assert got == "42#"
    assert agent.ctl("digits", "9x").returncode == 1
    r = agent.ctl("endpoints")
    assert r.stdout.split("\n")[0].split() == ["Billing",
                                               "sip:billing@127.0.0.1:9"]
    time.sleep(0.5)
    r = agent.ctl("consult", third.uri)
    assert r.returncode == 0 and r.stdout == cid + "-2\n", r
    conn_event(agent, cid + "-2", "connected")
    time.sleep(0.5)
    assert agent.ctl("swap").returncode == 0
    conn_event(agent, cid + "-1", "connected")
    time.sleep(0.5)
    r = agent.ctl("leave")
    assert r.returncode == 0, r
    agent.c.wait_event("contact.acw")
    customer.hangup()
    conn_event(agent, cid + "-2", "disconnected")
    r = agent.ctl("transfer", third.uri, cid)
    assert r.returncode == 1 and "is ended" in r.stderr, r
