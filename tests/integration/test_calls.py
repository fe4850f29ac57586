"""Calls end to end: real ccpd, its real baresip, and real peers (a second
baresip as the customer, SIPp) on 127.0.0.1."""

import time

import peers
from ccpd import RpcError

AGENT_TONE = 880
CUSTOMER_TONE = 440
# audio flows for this long before a call is hung up; the tone checks need
# a second or so of it
TALK_SECONDS = 1.5


def go_available(d):
    d.c.call("agent.setState", {"state": "Available"})
    d.c.wait_state("Available")


def incoming(d, timeout=15):
    ev = d.c.wait_event("contact.incoming", timeout)
    return ev["data"]["contact"]


def test_inbound_call_with_audio_both_ways(agent, customer):
    go_available(agent)
    customer.dial(agent.sip_uri)
    contact = incoming(agent)
    assert contact["direction"] == "inbound"
    assert contact["state"] == "incoming"
    assert contact["customer"]["uri"].startswith("sip:customer@127.0.0.1")
    assert contact["timestamps"]["offered"] is not None
    assert agent.c.call("agent.getState")["state"] == "PendingBusy"
    cid = contact["contactId"]

    agent.c.call("contact.accept", {"contactId": cid})
    ev = agent.c.wait_event("contact.connected")
    assert ev["data"]["contact"]["contactId"] == cid
    customer.wait_event("CALL_ESTABLISHED", 10)
    agent.c.wait_state("Busy")
    time.sleep(TALK_SECONDS)

    customer.hangup()
    ended = agent.c.wait_event("contact.ended")["data"]["contact"]
    assert ended["endReason"] == "customer_hangup"
    assert ended["disconnectedBy"] == "customer"
    agent.c.wait_event("contact.acw")
    state = agent.c.call("agent.getState")
    assert state["state"] == "AfterContactWork"
    assert state["status"] == "Available"
    assert state["routable"] is False

    # each side heard the other's tone, not its own
    heard = customer.wait_heard_wav(5)
    assert peers.heard_tone(heard, AGENT_TONE, [CUSTOMER_TONE]), \
        peers.tone_report(heard, [AGENT_TONE, CUSTOMER_TONE])
    agent_heard = wait_wav(agent.snd_dir)
    assert peers.heard_tone(agent_heard, CUSTOMER_TONE, [AGENT_TONE]), \
        peers.tone_report(agent_heard, [AGENT_TONE, CUSTOMER_TONE])

    agent.c.call("contact.clear", {"contactId": cid})
    ev = agent.c.wait_event("contact.destroyed")
    assert ev["data"]["contact"]["timestamps"]["acwEnded"] is not None
    agent.c.wait_state("Available")
    assert agent.c.call("contact.list") == []


def wait_wav(snd_dir, timeout=5):
    import os
    deadline = time.monotonic() + timeout
    while True:
        names = sorted(n for n in os.listdir(snd_dir)
                       if n.endswith("-dec.wav"))
        if names:
            path = os.path.join(snd_dir, names[-1])
            if peers._wav_header_frames(path) > 0:
                return path
        assert time.monotonic() < deadline, "no finished wav in " + snd_dir
        time.sleep(0.05)


def test_outbound_call_agent_hangs_up(agent):
    callee = peers.BaresipPeer(name="callee", tone=CUSTOMER_TONE,
                               answermode="auto").start()
    try:
        go_available(agent)
        res = agent.c.call("agent.connect", {"endpoint": callee.uri})
        cid = res["contactId"]
        ev = agent.c.wait_event("contact.connecting")
        assert ev["data"]["contact"]["contactId"] == cid
        assert ev["data"]["contact"]["direction"] == "outbound"
        connected = agent.c.wait_event("contact.connected")
        assert connected["data"]["contact"]["contactId"] == cid
        assert connected["data"]["contact"]["timestamps"]["connected"]
        agent.c.wait_state("Busy")
        seen = [e["data"]["newState"] for e in agent.c.seen
                if e["type"] == "agent.stateChange"]
        assert "CallingCustomer" in seen
        callee.wait_event("CALL_ESTABLISHED", 10)
        time.sleep(TALK_SECONDS)

        agent.c.call("connection.destroy", {"contactId": cid})
        callee.wait_event("CALL_CLOSED", 10)
        ended = agent.c.wait_event("contact.ended")["data"]["contact"]
        assert ended["disconnectedBy"] == "agent"
        assert ended["endReason"] == "agent_hangup"
        agent.c.wait_state("AfterContactWork")
        heard = callee.wait_heard_wav(5)
        assert peers.heard_tone(heard, AGENT_TONE, [CUSTOMER_TONE])
        agent.c.call("contact.clear", {"contactId": cid})
        agent.c.wait_state("Available")
    finally:
        callee.stop()


def test_dial_phone_number_through_dial_template(make_ccpd):
    uas = peers.Sipp("uas_answer", timeout=20).start()
    uas.wait_listening()
    d = make_ccpd(options={
        "dial_template": "sip:{e164}@127.0.0.1:%d;user=phone" % uas.port,
        "initial_status": "Available"})
    c = d.client()
    c.call("events.subscribe")
    res = c.call("agent.connect", {"endpoint": "+44 20 7183-8750"})
    c.wait_event("contact.connected")
    c.call("connection.destroy", {"contactId": res["contactId"]})
    assert uas.wait(20) == 0, uas.errors()
    msgs = uas.messages()
    assert "INVITE sip:+442071838750@127.0.0.1:%d;user=phone" % uas.port \
        in msgs, msgs[:2000]


def test_bad_endpoints_are_refused_before_dialing(make_ccpd):
    d = make_ccpd(options={"initial_status": "Available",
                           "dial_template": "sip:{e164}@127.0.0.1:9"})
    c = d.client()
    for endpoint in ("12345", "+12", "+44 20 7183 8750 ext 2", "sip:",
                     "sip:a b@c", "hello", "+" + "1" * 16, "x" * 300):
        ans = c.request("agent.connect", {"endpoint": endpoint})
        assert ans["error"]["code"] in (-32005, -32602), (endpoint, ans)
        assert ans["error"]["data"]["reason"]
    assert c.call("contact.list") == []
    assert c.call("agent.getState")["state"] == "Available"


def test_outbound_busy_fails_with_sip_cause(make_ccpd):
    uas = peers.Sipp("uas_busy", timeout=20).start()
    uas.wait_listening()
    d = make_ccpd(options={"initial_status": "Lunch"})
    c = d.client()
    c.call("events.subscribe")
    res = c.call("agent.connect", {"endpoint": uas.uri})
    ev = c.wait_event("contact.error")["data"]["contact"]
    assert ev["contactId"] == res["contactId"]
    assert ev["endReason"] == "failed"
    assert "486" in (ev["sipCause"] or ""), ev
    c.wait_state("FailedConnectCustomer")
    assert c.call("agent.getState")["type"] == "error"
    c.call("contact.clear", {"contactId": res["contactId"]})
    c.wait_state("Lunch")
    assert uas.wait(20) == 0, uas.errors()
    assert c.call("contact.list") == []


def test_choosing_a_status_dismisses_a_failed_dial(make_ccpd):
    uas = peers.Sipp("uas_busy", timeout=20).start()
    uas.wait_listening()
    d = make_ccpd(options={"initial_status": "Available"})
    c = d.client()
    c.call("events.subscribe")
    cid = c.call("agent.connect", {"endpoint": uas.uri})["contactId"]
    c.wait_state("FailedConnectCustomer")
    st = c.call("agent.setState", {"state": "Break"})
    assert st["state"] == "Break"
    gone = c.event("contact.destroyed")["data"]["contact"]
    assert gone["contactId"] == cid and gone["endReason"] == "failed"
    assert c.call("contact.list") == []
    assert uas.wait(20) == 0, uas.errors()


def test_offer_to_offline_agent_is_refused_at_once(agent):
    assert agent.c.call("agent.getState")["state"] == "Offline"
    uac = peers.Sipp("uac_expect_refusal", target=agent.sip_port,
                     service="agent", from_user="+442071838750",
                     timeout=10)
    assert uac.run() == 0, uac.errors()
    assert uac.duration < 1.0, uac.duration
    ev = agent.c.wait_event("contact.refused")["data"]["contact"]
    assert ev["state"] == "refused"
    assert ev["customer"]["e164"] == "+442071838750"
    assert not [e for e in agent.c.seen if e["type"] == "contact.incoming"]
    hist = agent.c.call("contact.history", {"limit": 5})
    assert hist[0]["contactId"] == ev["contactId"]
    assert hist[0]["endReason"] == "refused"
    assert agent.c.call("agent.getState")["state"] == "Offline"


def test_offer_while_on_a_contact_is_refused(agent, customer):
    go_available(agent)
    customer.dial(agent.sip_uri)
    cid = incoming(agent)["contactId"]
    agent.c.call("contact.accept", {"contactId": cid})
    agent.c.wait_event("contact.connected")

    uac = peers.Sipp("uac_expect_refusal", target=agent.sip_port,
                     service="agent", timeout=10)
    assert uac.run() == 0, uac.errors()
    assert uac.duration < 1.0
    agent.c.wait_event("contact.refused")
    # the live call is untouched
    assert agent.c.call("agent.getState")["state"] == "Busy"
    live = agent.c.call("contact.list")
    assert [x["contactId"] for x in live] == [cid]
    assert live[0]["state"] == "connected"
    customer.hangup()
    agent.c.wait_event("contact.acw")


def test_caller_cancels_before_answer(agent):
    go_available(agent)
    uac = peers.Sipp("uac_cancel", target=agent.sip_port, service="agent",
                     timeout=15).start()
    contact = incoming(agent)
    ended = agent.c.wait_event("contact.ended")["data"]["contact"]
    assert ended["contactId"] == contact["contactId"]
    assert ended["endReason"] == "abandoned"
    agent.c.wait_state("Available")
    assert uac.wait(20) == 0, uac.errors()
    assert agent.c.call("contact.list") == []


def test_customer_hangs_up_and_acw_times_out(make_ccpd):
    d = make_ccpd(options={"initial_status": "Available",
                           "acw_timeout": "1"})
    c = d.client()
    c.call("events.subscribe")
    uac = peers.Sipp("uac_hangup", target=d.sip_port, service="agent",
                     timeout=20).start()
    cid = c.wait_event("contact.incoming")["data"]["contact"]["contactId"]
    c.call("contact.accept", {"contactId": cid})
    c.wait_event("contact.connected")
    ended = c.wait_event("contact.ended")["data"]["contact"]
    assert ended["disconnectedBy"] == "customer"
    c.wait_event("contact.acw")
    assert c.call("agent.getState")["state"] == "AfterContactWork"
    # no clear: the ACW timeout ends it
    gone = c.wait_event("contact.destroyed", 5)["data"]["contact"]
    assert gone["contactId"] == cid
    c.wait_state("Available", 5)
    assert uac.wait(20) == 0, uac.errors()


def test_unanswered_offer_is_missed(make_ccpd, customer):
    d = make_ccpd(options={"initial_status": "Available",
                           "ring_timeout": "1"})
    c = d.client()
    c.call("events.subscribe")
    customer.dial(d.sip_uri)
    c.wait_event("contact.incoming")
    missed = c.wait_event("contact.missed", 5)["data"]["contact"]
    assert missed["endReason"] == "missed"
    customer.wait_event("CALL_CLOSED", 5)
    c.wait_state("MissedCallAgent")
    st = c.call("agent.getState")
    assert st["type"] == "error" and st["routable"] is False
    # not routable until the agent chooses a status
    uac = peers.Sipp("uac_expect_refusal", target=d.sip_port,
                     service="agent", timeout=10)
    assert uac.run() == 0, uac.errors()
    c.wait_event("contact.refused")
    c.call("agent.setState", {"state": "Available"})
    assert c.call("agent.getState")["routable"] is True


def test_reject(agent, customer):
    go_available(agent)
    customer.dial(agent.sip_uri)
    cid = incoming(agent)["contactId"]
    agent.c.call("contact.reject", {"contactId": cid})
    ev = customer.wait_event("CALL_CLOSED", 5)
    assert "486" in ev.get("param", "") or ev.get("param"), ev
    assert agent.c.wait_event("contact.rejected")["data"]["contact"][
        "endReason"] == "rejected"
    agent.c.wait_state("Available")


def test_status_chosen_during_contact_is_next(agent, customer):
    go_available(agent)
    customer.dial(agent.sip_uri)
    cid = incoming(agent)["contactId"]
    agent.c.call("contact.accept", {"contactId": cid})
    agent.c.wait_event("contact.connected")
    st = agent.c.call("agent.setState", {"state": "Lunch"})
    assert st["state"] == "Busy" and st["next"] == "Lunch"
    st = agent.c.call("agent.clearNextState")
    assert st["next"] is None
    st = agent.c.call("agent.setState", {"state": "Break"})
    assert st["next"] == "Break"
    customer.hangup()
    agent.c.wait_event("contact.acw")
    assert agent.c.call("agent.getState")["next"] == "Break"
    agent.c.call("contact.clear", {"contactId": cid})
    st = agent.c.call("agent.getState")
    assert st["state"] == "Break" and st["status"] == "Break"
    assert st["next"] is None and st["type"] == "not_routable"


def test_actions_in_the_wrong_state(agent, customer):
    c = agent.c
    for method in ("contact.accept", "contact.reject", "contact.clear",
                   "connection.destroy"):
        ans = c.request(method, {"contactId": "c-999"})
        assert ans["error"]["code"] == -32006, ans
    go_available(agent)
    customer.dial(agent.sip_uri)
    cid = incoming(agent)["contactId"]
    ans = c.request("contact.clear", {"contactId": cid})
    assert ans["error"]["code"] == -32003
    assert "incoming" in ans["error"]["data"]["reason"]
    c.call("contact.accept", {"contactId": cid})
    c.wait_event("contact.connected")
    ans = c.request("contact.accept", {"contactId": cid})
    assert ans["error"]["code"] == -32003
    ans = c.request("agent.connect", {"endpoint": "sip:x@127.0.0.1:9"})
    assert ans["error"]["code"] == -32003
    ans = c.request("agent.setState", {"state": "Nap"})
    assert ans["error"]["code"] == -32006
    c.call("connection.destroy", {"contactId": cid})
    customer.wait_event("CALL_CLOSED", 5)
    ans = c.request("connection.destroy", {"contactId": cid})
    assert ans["error"]["code"] == -32003
    c.call("contact.clear", {"contactId": cid})
    # offline agents do not dial
    c.call("agent.setState", {"state": "Offline"})
    ans = c.request("agent.connect", {"endpoint": "sip:x@127.0.0.1:9"})
    assert ans["error"]["code"] == -32003
    assert "Offline" in ans["error"]["data"]["reason"]


def no_sound_card():
    try:
        with open("/proc/asound/cards") as f:
            return "no soundcards" in f.read()
    except OSError:
        return True


def test_default_audio_path_without_a_sound_card(make_ccpd, customer):
    """With no configuration, a machine without a sound card still takes
    calls: the agent hears the caller (recorded here to check) and sends
    nothing."""
    import pytest
    if not no_sound_card():
        pytest.skip("this machine has a sound card: auto picks ALSA")
    snd = peers._mkdtemp("ccpd-snd-")
    d = make_ccpd(options={"snd_path": snd, "initial_status": "Available"})
    c = d.client()
    c.call("events.subscribe")
    customer.dial(d.sip_uri)
    cid = c.wait_event("contact.incoming")["data"]["contact"]["contactId"]
    c.call("contact.accept", {"contactId": cid})
    c.wait_event("contact.connected")
    customer.wait_event("CALL_ESTABLISHED", 10)
    time.sleep(TALK_SECONDS)
    customer.hangup()
    c.wait_event("contact.acw")
    heard = wait_wav(snd)
    assert peers.heard_tone(heard, CUSTOMER_TONE, [AGENT_TONE])
    for wav in customer.heard_wavs():
        rep = peers.tone_report(wav, [CUSTOMER_TONE, AGENT_TONE])
        assert rep["rms"] < peers.SILENCE_RMS, rep


def test_late_close_of_a_cleared_call_is_not_taken_for_the_next_dial(
        make_ccpd):
    """baresip's CALL_CLOSED for a call the agent hung up can arrive after
    the contact was cleared; it must not fail the next dial."""
    callee = peers.BaresipPeer(name="callee", answermode="auto").start()
    uas = peers.Sipp("uas_busy", timeout=20).start()
    uas.wait_listening()
    try:
        d = make_ccpd(options={"initial_status": "Available"})
        c = d.client()
        c.call("events.subscribe")
        for _ in range(3):
            cid = c.call("agent.connect", {"endpoint": callee.uri})[
                "contactId"]
            c.wait_event("contact.connected")
            # hang up and clear in one go, then dial at once
            c.send_raw(("".join(
                '{"jsonrpc":"2.0","id":"%s","method":"%s","params":'
                '{"contactId":"%s"}}\n' % (m, m, cid)
                for m in ("connection.destroy", "contact.clear"))).encode())
            assert "result" in c.answer() and "result" in c.answer()
            callee.wait_event("CALL_CLOSED", 10)
        busy = c.call("agent.connect", {"endpoint": uas.uri})["contactId"]
        err = c.wait_event("contact.error")["data"]["contact"]
        assert err["contactId"] == busy
        assert "486" in err["sipCause"], err
        assert uas.wait(20) == 0, uas.errors()
    finally:
        callee.stop()
        uas.stop()
