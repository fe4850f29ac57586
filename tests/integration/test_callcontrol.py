"""Call control with real parties on 127.0.0.1: hold, mute, DTMF, quick
connects, consult and swap, leave, blind and warm transfer.

Each party is its own baresip with its own tone: the customer 440 Hz, the
third party 880 Hz, ccpd's agent 660 Hz.  What each party really heard is
read from its sndfile dump (what its call decoded).  baresip's sndfile
writes only the audio that arrives: while a party is on hold nothing
arrives, so a held stretch is missing from the dump rather than silent.
Worse, baresip 1.0.0 drops its sndfile decode filter at the first hold
re-INVITE a call sees (audio_decoder_set flushes the decode filters and
aufilt_setup then skips them), so a party's own dump stops at its first
hold.  What a party hears after that is measured at the sender: ccpd's
own enc dumps (what the agent's baresip put on each call, recorded
continuously, hold or not) together with the party's RTP receive counter
(packets arrive, or do not).
"""

import os
import re
import time

import pytest

import peers
from ccpd import RpcError

AGENT = 660
CUSTOMER = 440
THIRD = 880
TONES = [AGENT, CUSTOMER, THIRD]
TALK = 1.5          # seconds of audio before a stretch is judged


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


def dominant(rep):
    """The tone a stretch clearly holds, or None (silence or a mix)."""
    if rep["rms"] < peers.SILENCE_RMS or rep["seconds"] < 0.3:
        return None
    best = max(rep["power"], key=lambda f: rep["power"][f])
    return best if rep["share"][best] >= 0.3 else None


def show(rep):
    return "rms %.0f over %.1fs, shares %s" % (
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


def rx_packets(peer):
    """RTP packets the peer's current call has received so far."""
    text = peer.command("audio_debug")["data"]
    m = re.search(r"rcvd=(\d+)", text)
    assert m, text
    return int(m.group(1))


def wait_packets(peer, more=10, timeout=5):
    """Wait until the peer receives `more` packets; return the count."""
    start = rx_packets(peer)
    deadline = time.monotonic() + timeout
    while True:
        n = rx_packets(peer)
        if n >= start + more:
            return n
        assert time.monotonic() < deadline, \
            "%s received %d packets in %ss" % (peer.name, n - start, timeout)
        time.sleep(0.1)


def sent(d, index, t0, start, end):
    """What ccpd's agent sent on its index-th call (0: the first started)
    between start and end seconds of the wall clock after t0."""
    paths = dumps(d.snd_dir, "enc")
    assert len(paths) > index, paths
    return peers.tone_report(paths[index], TONES,
                             skip_ms=int((start - t0) * 1000),
                             max_ms=int((end - start) * 1000))


def test_hold_and_resume(agent, customer):
    cid = connect_customer(agent, customer)
    contact = agent.c.call("contact.get", {"contactId": cid})
    kinds = [(k["connectionId"], k["type"], k["state"])
             for k in contact["connections"]]
    assert kinds == [(cid + "-0", "agent", "connected"),
                     (cid + "-1", "inbound", "connected")], kinds
    time.sleep(TALK)
    agent.c.call("connection.hold", {"contactId": cid})
    ev = conn_event(agent, cid + "-1", "hold")
    assert ev["party"] == "customer" and ev["oldState"] == "connected"
    held_at = time.monotonic()
    time.sleep(0.5)
    during = rx_packets(customer)
    time.sleep(1.5)
    during = rx_packets(customer) - during
    agent.c.call("connection.resume",
                 {"contactId": cid, "connectionId": cid + "-1"})
    conn_event(agent, cid + "-1", "connected")
    held = time.monotonic() - held_at
    after = wait_packets(customer, 40)
    contact = agent.c.call("contact.get", {"contactId": cid})
    assert contact["holdCount"] == 1
    assert abs(contact["holdDuration"] - held * 1000) < 500, \
        (contact["holdDuration"], held)
    customer.hangup()
    agent.c.wait_event("contact.acw")
    heard = customer.wait_heard_wav(5)
    before = report(heard, 0.2, 1.2)
    note("hold: customer before hold", before)
    assert dominant(before) == AGENT
    MEASURED.append("hold: customer received %d RTP packets in 1.5 s on "
                    "hold, then 40 more within moments of resume (%d in "
                    "all)" % (during, after))
    assert during <= 2, during
    # and its own dump holds nothing from the hold on
    assert seconds(heard) < TALK + 0.5, seconds(heard)


def test_mute_is_silence_and_survives_hold(agent, customer):
    cid = connect_customer(agent, customer)
    t0 = time.monotonic()
    time.sleep(TALK)
    st = agent.c.call("agent.mute")
    assert st["muted"] is True
    ev = agent.c.wait_event("agent.muteToggle")
    assert ev["data"]["muted"] is True
    assert agent.c.call("agent.getState")["muted"] is True
    t_mute = time.monotonic()
    time.sleep(TALK)
    # hold and resume: still muted afterwards
    agent.c.call("connection.hold", {"contactId": cid})
    conn_event(agent, cid + "-1", "hold")
    # a resume sent while the hold's re-INVITE is still out is lost in
    # baresip 1.0.0; a person does not click that fast
    time.sleep(1.0)
    agent.c.call("connection.resume", {"contactId": cid})
    conn_event(agent, cid + "-1", "connected")
    t_resume = time.monotonic()
    time.sleep(TALK)
    agent.c.call("agent.unmute")
    assert agent.c.wait_event("agent.muteToggle")["data"]["muted"] is False
    t_unmute = time.monotonic()
    time.sleep(TALK)
    t_end = time.monotonic()
    customer.hangup()
    agent.c.wait_event("contact.acw")
    heard = customer.wait_heard_wav(5)
    first = report(heard, 0.2, 1.2)
    muted_heard = report(heard, TALK + 0.4, 2 * TALK - 0.2)
    note("mute: customer heard before mute", first)
    note("mute: customer heard while muted", muted_heard)
    assert dominant(first) == AGENT
    assert muted_heard["rms"] < peers.SILENCE_RMS, show(muted_heard)
    muted_sent = sent(agent, 0, t0, t_resume + 0.3, t_unmute - 0.3)
    unmuted_sent = sent(agent, 0, t0, t_unmute + 0.4, t_end - 0.2)
    note("mute: agent sent while muted, after hold/resume", muted_sent)
    note("mute: agent sent after unmute", unmuted_sent)
    assert muted_sent["rms"] < peers.SILENCE_RMS, show(muted_sent)
    assert dominant(unmuted_sent) == AGENT, show(unmuted_sent)
    del t_mute


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


def test_consult_swap_and_leave(agent, customer, third):
    cid = connect_customer(agent, customer)
    t0 = time.monotonic()
    time.sleep(TALK)
    t_consult = time.monotonic()
    res = agent.c.call("contact.addConnection",
                       {"contactId": cid, "endpoint": third.uri})
    tid = res["connectionId"]
    assert tid == cid + "-2"
    conn_event(agent, cid + "-1", "hold")
    ev = conn_event(agent, tid, "connected")
    assert ev["party"] == "thirdParty" and \
        ev["connection"]["type"] == "outbound"
    third.wait_event("CALL_ESTABLISHED", 10)
    assert agent.c.call("agent.getState")["state"] == "Busy"
    time.sleep(TALK)
    # swap: back to the customer, the third party held
    agent.c.call("contact.toggleActiveConnections", {"contactId": cid})
    conn_event(agent, tid, "hold")
    conn_event(agent, cid + "-1", "connected")
    time.sleep(TALK)
    agent.c.call("contact.toggleActiveConnections", {"contactId": cid})
    conn_event(agent, cid + "-1", "hold")
    conn_event(agent, tid, "connected")
    time.sleep(1.0)
    # leave: the customer and the third party talk on
    agent.c.call("connection.destroy", {"contactId": cid})
    conn_event(agent, cid + "-0", "disconnected")
    agent.c.wait_event("contact.acw")
    assert agent.c.call("agent.getState")["state"] == "AfterContactWork"
    contact = agent.c.call("contact.get", {"contactId": cid})
    assert contact["endReason"] == "transferred"
    states = {k["connectionId"]: k["state"] for k in contact["connections"]}
    assert states == {cid + "-0": "disconnected", cid + "-1": "connected",
                      tid: "connected"}, states
    t_left = time.monotonic()
    wait_packets(customer, 40)
    wait_packets(third, 40)
    time.sleep(1.5)
    t_end = time.monotonic()
    customer.hangup()
    third.wait_event("CALL_CLOSED", 10)
    conn_event(agent, tid, "disconnected")
    cust = customer.wait_heard_wav(5)
    thr = third.wait_heard_wav(5)
    c_first, t_first = report(cust, 0.2, 1.2), report(thr, 0.2, 1.2)
    note("consult: customer heard before consult", c_first)
    note("consult: third party heard during consult", t_first)
    assert dominant(c_first) == AGENT
    assert dominant(t_first) == AGENT
    # after the leave, what ccpd's baresip carried to each party: the
    # other party's voice, and none of the agent's
    to_cust = sent(agent, 0, t0, t_left + 0.5, t_end - 0.2)
    to_third = sent(agent, 1, t_consult, t_left + 0.5, t_end - 0.2)
    note("leave: sent to the customer after the agent left", to_cust)
    note("leave: sent to the third party after the agent left", to_third)
    assert dominant(to_cust) == THIRD, show(to_cust)
    assert dominant(to_third) == CUSTOMER, show(to_third)
    # the agent's own recordings: the customer's leg heard 440, the
    # consult leg 880, each before any hold
    heard = [dominant(report(p, 0.2, 1.0)) for p in dumps(agent.snd_dir)]
    assert heard == [CUSTOMER, THIRD], heard
    agent.c.call("contact.clear", {"contactId": cid})
    agent.c.wait_state("Available")


def test_blind_transfer_by_bridge(agent, customer, third):
    cid = connect_customer(agent, customer)
    t0 = time.monotonic()
    time.sleep(TALK)
    agent.c.call("contact.transfer",
                 {"contactId": cid, "endpoint": third.uri})
    ev = agent.c.wait_event("contact.transferred")["data"]
    assert ev["method"] == "bridge" and ev["endpoint"] == third.uri
    agent.c.wait_event("contact.acw")
    assert agent.c.call("contact.get",
                        {"contactId": cid})["endReason"] == "transferred"
    t_left = time.monotonic()
    wait_packets(customer, 40)
    time.sleep(1.5)
    t_end = time.monotonic()
    to_cust = sent(agent, 0, t0, t_left + 0.5, t_end - 0.2)
    note("blind transfer: sent to the customer after it", to_cust)
    assert dominant(to_cust) == THIRD, show(to_cust)
    third.hangup()
    customer.wait_event("CALL_CLOSED", 10)
    thr = third.wait_heard_wav(5)
    t_heard = report(thr, 0.3, -0.2)
    note("blind transfer: the target heard", t_heard)
    assert dominant(t_heard) == CUSTOMER, show(t_heard)


def test_refused_transfer_returns_the_customer_on_hold(agent, customer):
    busy = peers.Sipp("uas_busy", timeout=20).start()
    busy.wait_listening()
    cid = connect_customer(agent, customer)
    time.sleep(1.0)
    agent.c.call("contact.transfer",
                 {"contactId": cid, "endpoint": busy.uri})
    ev = agent.c.wait_event("contact.transferFailed")["data"]
    assert "486" in ev["reason"], ev
    contact = agent.c.call("contact.get", {"contactId": cid})
    assert contact["state"] == "connected"
    states = [k["state"] for k in contact["connections"]]
    assert states == ["connected", "hold", "disconnected"], states
    assert agent.c.call("agent.getState")["state"] == "Busy"
    time.sleep(1.0)
    agent.c.call("connection.resume", {"contactId": cid})
    conn_event(agent, cid + "-1", "connected")
    wait_packets(customer, 40)
    agent.c.call("connection.destroy", {"contactId": cid})
    agent.c.wait_event("contact.acw")
    assert busy.wait(20) == 0, busy.errors()


def test_blind_transfer_by_refer(agent, customer, third):
    cid = connect_customer(agent, customer)
    time.sleep(1.2)
    agent.c.call("contact.transfer", {"contactId": cid,
                                      "endpoint": third.uri,
                                      "method": "refer"})
    ev = agent.c.wait_event("contact.transferred")["data"]
    assert ev["method"] == "refer"
    agent.c.wait_event("contact.acw")
    third.wait_event("CALL_ESTABLISHED", 10)
    time.sleep(TALK)
    third.hangup()
    thr = third.wait_heard_wav(5)
    t_heard = report(thr, 0.3, -0.2)
    note("REFER transfer: the target heard", t_heard)
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


def shares(rep, *tones):
    return [rep["share"][f] for f in tones]


def hears_both(rep, a, b, own):
    """Both tones clearly there (a mix), the listener's own one not."""
    return (rep["rms"] >= peers.SILENCE_RMS and rep["seconds"] >= 0.5 and
            rep["share"][a] >= 0.2 and rep["share"][b] >= 0.2 and
            rep["share"][own] < 0.05)


def start_conference(agent, customer, third, ctl=False):
    """Customer and third party on, then joined (with ccpctl join when
    ctl); returns the times."""
    cid = connect_customer(agent, customer)
    t0 = time.monotonic()
    time.sleep(1.0)
    tid = agent.c.call("contact.addConnection",
                       {"contactId": cid, "endpoint": third.uri})[
                           "connectionId"]
    conn_event(agent, tid, "connected")
    third.wait_event("CALL_ESTABLISHED", 10)
    t_third = time.monotonic()
    time.sleep(1.0)
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
    contact = agent.c.call("contact.get", {"contactId": cid})
    states = [k["state"] for k in contact["connections"]]
    assert states == ["connected"] * 3, states
    # the legs to the focus start a second apart (snd_path is set), then
    # the mixer's buffers fill
    wait_packets(customer, 40)
    time.sleep(3.0)
    return cid, tid, t0, t_third, t_join


def test_conference_each_hears_the_other_two(agent, customer, third):
    cid, tid, t0, t_third, t_join = start_conference(agent, customer, third)
    t_mix = time.monotonic()
    time.sleep(2.0)
    t_end = time.monotonic()
    # the agent's own leg to the focus: what the agent heard
    legs = dumps(agent.snd_dir)
    assert len(legs) == 5, legs
    to_cust = sent(agent, 0, t0, t_mix, t_end - 0.2)
    agent_heard = report(legs[2], t_mix - t_join, t_end - t_join - 0.2)
    note("conference: sent to the customer", to_cust)
    note("conference: the agent heard", agent_heard)
    agent.c.call("connection.destroy", {"contactId": cid,
                                        "connectionId": tid})
    conn_event(agent, tid, "disconnected")
    third.wait_event("CALL_CLOSED", 10)
    thr = third.wait_heard_wav(5)
    # from the end: the recording has gaps where no audio came, and
    # the call ended right after t_end
    third_heard = report(thr, -(t_end - t_mix) + 0.2, -0.3)
    note("conference: the third party heard", third_heard)
    assert hears_both(to_cust, AGENT, THIRD, CUSTOMER), show(to_cust)
    assert hears_both(agent_heard, CUSTOMER, THIRD, AGENT), \
        show(agent_heard)
    assert hears_both(third_heard, AGENT, CUSTOMER, THIRD), \
        show(third_heard)
    # the third party gone, the agent talks with the customer again
    contact = agent.c.call("contact.get", {"contactId": cid})
    assert contact["state"] == "connected"
    t_two = time.monotonic()
    time.sleep(TALK)
    back = sent(agent, 0, t0, t_two + 0.4, time.monotonic() - 0.2)
    note("conference over: sent to the customer", back)
    assert dominant(back) == AGENT, show(back)
    agent.c.call("connection.destroy", {"contactId": cid})
    agent.c.wait_event("contact.acw")


def test_leave_a_conference(agent, customer, third):
    cid, tid, t0, t_third, t_join = start_conference(agent, customer, third,
                                                     ctl=True)
    r = agent.ctl("leave")
    assert r.returncode == 0, r
    ev = agent.c.wait_event("contact.transferred")["data"]
    assert ev["method"] == "conference", ev
    agent.c.wait_event("contact.acw")
    contact = agent.c.call("contact.get", {"contactId": cid})
    assert contact["endReason"] == "transferred"
    states = [k["state"] for k in contact["connections"]]
    assert states == ["disconnected", "connected", "connected"], states
    t_left = time.monotonic()
    time.sleep(3.0)
    t_end = time.monotonic()
    to_cust = sent(agent, 0, t0, t_left + 1.0, t_end - 0.2)
    note("left conference: sent to the customer", to_cust)
    customer.hangup()
    third.wait_event("CALL_CLOSED", 10)
    conn_event(agent, tid, "disconnected")
    thr = third.wait_heard_wav(5)
    third_heard = report(thr, -(t_end - t_left) + 1.0, -0.3)
    note("left conference: the third party heard", third_heard)
    assert dominant(to_cust) == THIRD, show(to_cust)
    assert to_cust["share"][AGENT] < 0.05, show(to_cust)
    assert dominant(third_heard) == CUSTOMER, show(third_heard)
    assert third_heard["share"][AGENT] < 0.05, show(third_heard)
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
