"""Desk phone mode with real parties on 127.0.0.1.

The agent's desk phone is its own baresip (tone 550 Hz), reached through
the dial plan (dial_template) at an E.164 extension; the customer is a
baresip with 440 Hz, the third party one with 880 Hz, and ccpd's own
audio source plays 660 Hz, which nobody should hear while the desk phone
is in use.  As in test_callcontrol, a party's own recording stops at its
first re-INVITE (baresip 1.0.0), so what a party receives after a hold or
in a conference is judged on the wire (rtpwire).
"""

import time

import pytest

import peers
import rtpwire
from test_callcontrol import (AGENT, CUSTOMER, SETTLE, THIRD, TALK,
                              conn_event, dumps, expect, expect_quiet, note,
                              show)

DESK = 550
EXTENSION = "+442071838750"
TONES4 = [AGENT, CUSTOMER, THIRD, DESK]


def report4(path, start, end):
    """As test_callcontrol.report, with the four tones; negative times
    count from the end (a recording has gaps where no audio came)."""
    total = peers.read_wav(path, 0)
    total = len(total[0]) / float(total[1])
    if start < 0:
        start += total
    if end <= 0:
        end += total
    return peers.tone_report(path, TONES4, skip_ms=int(start * 1000),
                             max_ms=int((end - start) * 1000))


best = rtpwire.dominant


def make_desk(answermode="auto"):
    # the dial plan sends the number without its + ({number})
    return peers.BaresipPeer(name="desk", user=EXTENSION[1:], tone=DESK,
                             answermode=answermode).start()


@pytest.fixture
def desk():
    p = make_desk()
    yield p
    p.stop()


@pytest.fixture
def silent_desk():
    p = make_desk("manual")
    yield p
    p.stop()


def make_agent(make_ccpd, desk, **extra):
    snd = peers._mkdtemp("ccpd-snd-")
    opts = {"audio_source": "ausine,%d" % AGENT, "snd_path": snd,
            "dial_template": "sip:{number}@127.0.0.1:%d" % desk.sip_port}
    opts.update(extra)
    d = make_ccpd(options=opts)
    d.snd_dir = snd
    d.c = d.client()
    d.c.call("events.subscribe")
    return d


def check_schema(d):
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


def ring(d, customer):
    d.c.call("agent.setState", {"state": "Available"})
    d.c.wait_state("Available")
    customer.dial(d.sip_uri)
    return d.c.wait_event("contact.incoming")["data"]["contact"]["contactId"]


def test_set_configuration_checks_the_extension(make_ccpd, desk):
    d = make_agent(make_ccpd, desk)
    conf = d.c.call("agent.getConfiguration")
    assert conf["softphoneEnabled"] is True and conf["extension"] is None
    bad = [({"softphoneEnabled": False}, -32602),
           ({"softphoneEnabled": "no", "extension": EXTENSION}, -32602),
           ({"softphoneEnabled": False, "extension": "12345"}, -32005),
           ({"softphoneEnabled": False, "extension": "+44 20"}, -32005),
           ({"softphoneEnabled": False, "extension": "sip:desk@x"}, -32005),
           ({"softphoneEnabled": False, "extension": 42}, -32602)]
    for params, code in bad:
        ans = d.c.request("agent.setConfiguration", params)
        assert ans.get("error", {}).get("code") == code, (params, ans)
    conf = d.c.call("agent.setConfiguration",
                    {"softphoneEnabled": False,
                     "extension": "+44 20 7183 8750"})
    assert conf["softphoneEnabled"] is False
    assert conf["extension"] == EXTENSION
    assert d.c.call("agent.getConfiguration")["extension"] == EXTENSION
    # ccpctl: the same through config set
    r = d.ctl("config", "set", "softphone")
    assert r.returncode == 0, r
    assert d.c.call("agent.getConfiguration")["softphoneEnabled"] is True
    r = d.ctl("config", "set", "deskphone", "12345")
    assert r.returncode == 1 and "E.164" in r.stderr, r
    r = d.ctl("config", "set", "deskphone")
    assert r.returncode == 2, r
    r = d.ctl("--json", "config", "set", "deskphone", EXTENSION)
    assert r.returncode == 0 and '"softphoneEnabled":false' in r.stdout, r
    check_schema(d)


def test_desk_phone_connects_the_customer(make_ccpd, desk, customer, wire):
    cw, dw = wire(customer), wire(desk)
    d = make_agent(make_ccpd, desk)
    d.c.call("agent.setConfiguration",
             {"softphoneEnabled": False, "extension": EXTENSION})
    cid = ring(d, customer)
    d.c.call("contact.accept", {"contactId": cid})
    # answering at once, baresip reports no CALL_INCOMING
    desk.wait_event("CALL_ESTABLISHED", 10)
    d.c.wait_event("contact.connected")
    customer.wait_event("CALL_ESTABLISHED", 10)
    t0 = time.monotonic()
    assert d.c.call("agent.getState")["state"] == "Busy"
    # 3 s each way: the dumps below are read before the hold
    expect(cw, t0 + SETTLE, DESK, "desk phone: the customer received",
           absent=[AGENT], count=150, tones=TONES4)
    expect(dw, t0 + SETTLE, CUSTOMER, "desk phone: the desk phone received",
           absent=[AGENT], count=150, tones=TONES4)
    # hold and resume from a client: the desk phone stays on the line
    d.c.call("connection.hold", {"contactId": cid})
    conn_event(d, cid + "-1", "hold")
    t_hold = time.monotonic()
    expect_quiet(cw, t_hold + SETTLE, t_hold + 1.0, "desk phone: the "
                 "customer received while held", tones=TONES4)
    d.c.call("connection.resume", {"contactId": cid})
    conn_event(d, cid + "-1", "connected")
    t_resume = time.monotonic()
    expect(cw, t_resume + SETTLE, DESK, "desk phone: the customer received "
           "after hold and resume", absent=[AGENT], tones=TONES4)
    d.c.call("connection.destroy", {"contactId": cid})
    d.c.wait_event("contact.acw")
    desk.wait_event("CALL_CLOSED", 10)
    customer.wait_event("CALL_CLOSED", 10)
    desk_heard = report4(desk.wait_heard_wav(5), 0.5, 2 * TALK - 0.2)
    cust_heard = report4(customer.wait_heard_wav(5), 0.5, 2 * TALK - 0.2)
    # ccpd's recordings: the desk phone's call first, then the
    # customer's, a second apart
    assert len(dumps(d.snd_dir, "enc")) == 2
    note("desk phone: the desk phone's dump", desk_heard)
    note("desk phone: the customer's dump", cust_heard)
    assert best(desk_heard) == CUSTOMER, show(desk_heard)
    assert best(cust_heard) == DESK, show(cust_heard)
    assert cust_heard["share"][AGENT] < 0.05, show(cust_heard)
    d.c.call("contact.clear", {"contactId": cid})
    d.c.wait_state("Available")
    check_schema(d)


def test_desk_phone_consult_and_conference(make_ccpd, desk, customer,
                                           third, wire):
    cw, tw = wire(customer), wire(third)
    d = make_agent(make_ccpd, desk)
    d.c.call("agent.setConfiguration",
             {"softphoneEnabled": False, "extension": EXTENSION})
    cid = ring(d, customer)
    d.c.call("contact.accept", {"contactId": cid})
    d.c.wait_event("contact.connected")
    t_up = customer.wait_event("CALL_ESTABLISHED", 10)["_time"]
    expect(cw, t_up + SETTLE, DESK, "desk phone: the customer received",
           absent=[AGENT], tones=TONES4)
    tid = d.c.call("contact.addConnection",
                   {"contactId": cid, "endpoint": third.uri})["connectionId"]
    conn_event(d, tid, "connected")
    t_third = third.wait_event("CALL_ESTABLISHED", 10)["_time"]
    expect(tw, t_third + SETTLE, DESK, "desk phone: the third party "
           "received in the consult", absent=[AGENT], count=75,
           tones=TONES4)
    d.c.call("contact.conferenceConnections", {"contactId": cid})
    # the legs to the focus start a second apart, then its buffers fill
    t_mix = time.monotonic() + 4.0
    expect(tw, t_mix, (DESK, CUSTOMER), "desk phone: the third party "
           "received in the conference", absent=[AGENT, THIRD], count=100,
           tones=TONES4)
    expect(cw, t_mix, (DESK, THIRD), "desk phone: the customer received "
           "in the conference", absent=[AGENT, CUSTOMER], count=100,
           tones=TONES4)
    d.c.call("connection.destroy", {"contactId": cid,
                                    "connectionId": tid})
    conn_event(d, tid, "disconnected")
    third.wait_event("CALL_CLOSED", 10)
    # the third party's own dump, from the consult (no re-INVITE yet)
    consult = report4(third.wait_heard_wav(5), 0.4, TALK - 0.2)
    note("desk phone: the third party's dump in the consult", consult)
    assert best(consult) == DESK, show(consult)
    d.c.call("connection.destroy", {"contactId": cid})
    d.c.wait_event("contact.acw")
    desk.wait_event("CALL_CLOSED", 10)
    check_schema(d)


def test_desk_phone_not_answering(make_ccpd, silent_desk, customer):
    d = make_agent(make_ccpd, silent_desk, desk_phone_timeout="2")
    d.c.call("agent.setConfiguration",
             {"softphoneEnabled": False, "extension": EXTENSION})
    cid = ring(d, customer)
    d.c.call("contact.accept", {"contactId": cid})
    silent_desk.wait_event("CALL_INCOMING", 10)
    d.c.wait_state("FailedConnectAgent", 10)
    ev = d.c.wait_event("contact.incoming", 10)["data"]["contact"]
    assert ev["contactId"] == cid and ev["state"] == "incoming"
    silent_desk.wait_event("CALL_CLOSED", 10)
    st = d.c.call("agent.getState")
    assert st["state"] == "FailedConnectAgent" and st["type"] == "error"
    # the customer is not lost: still ringing, never answered, not ended
    time.sleep(1.0)
    assert not [e for e in customer.events
                if e.get("type") in ("CALL_ESTABLISHED", "CALL_CLOSED")]
    assert d.c.call("contact.get", {"contactId": cid})["state"] == \
        "incoming"
    # back to the softphone, no restart: accepting again connects
    pid = d.baresip_pid(d.c)
    conf = d.c.call("agent.setConfiguration", {"softphoneEnabled": True})
    assert conf["softphoneEnabled"] is True
    d.c.call("contact.accept", {"contactId": cid})
    d.c.wait_event("contact.connected")
    customer.wait_event("CALL_ESTABLISHED", 10)
    assert d.c.call("agent.getState")["state"] == "Busy"
    assert d.baresip_pid(d.c) == pid
    time.sleep(TALK)
    customer.hangup()
    d.c.wait_event("contact.acw")
    heard = report4(customer.wait_heard_wav(5), 0.3, -0.2)
    note("back to softphone: the customer heard", heard)
    assert best(heard) == AGENT, show(heard)
    check_schema(d)


def test_desk_phone_dials_out(make_ccpd, desk):
    callee = peers.BaresipPeer(name="callee", user="callee", tone=CUSTOMER,
                               answermode="auto").start()
    try:
        d = make_agent(make_ccpd, desk)
        d.c.call("agent.setConfiguration",
                 {"softphoneEnabled": False, "extension": EXTENSION})
        d.c.call("agent.setState", {"state": "Available"})
        cid = d.c.call("agent.connect", {"endpoint": callee.uri})[
            "contactId"]
        d.c.wait_state("CallingCustomer")
        # the desk phone first, the customer once it answered
        answered = desk.wait_event("CALL_ESTABLISHED", 10)["_time"]
        reached = callee.wait_event("CALL_ESTABLISHED", 10)["_time"]
        assert answered < reached
        d.c.wait_event("contact.connected")
        assert d.c.call("agent.getState")["state"] == "Busy"
        time.sleep(2 * TALK)
        d.c.call("connection.destroy", {"contactId": cid})
        d.c.wait_event("contact.acw")
        desk.wait_event("CALL_CLOSED", 10)
        callee.wait_event("CALL_CLOSED", 10)
        desk_heard = report4(desk.wait_heard_wav(5), -2 * TALK + 0.5, -0.3)
        callee_heard = report4(callee.wait_heard_wav(5), 0.5, -0.3)
        note("desk phone, dialing out: the desk phone heard", desk_heard)
        note("desk phone, dialing out: the customer heard", callee_heard)
        assert best(desk_heard) == CUSTOMER, show(desk_heard)
        assert best(callee_heard) == DESK, show(callee_heard)
        check_schema(d)
    finally:
        callee.stop()
