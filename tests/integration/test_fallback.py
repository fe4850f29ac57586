"""Falling back to the desk phone when the softphone's audio fails.

The agent's headset is a device of the paced test sound card (as in
test_audio) whose microphone plays 880 Hz; the desk phone is a baresip
with 550 Hz reached through the dial plan (as in test_deskphone), and the
customer a baresip with 440 Hz.  Unplugging the headset is rewriting
~/.asoundrc without it: ccpd reads the device list every second.
"""

import os
import time

import pytest

import peers
from test_audio import PLUGIN, write_asoundrc
from test_callcontrol import CUSTOMER, SETTLE, expect
from test_deskphone import (DESK, EXTENSION, TONES4, customer,  # noqa: F401
                            desk, ring, silent_desk)

HEADSET = 880

pytestmark = pytest.mark.skipif(not os.path.exists(PLUGIN),
                                reason="test sound card not built")


def agent(make_ccpd, desk, fallback="offer", extension=EXTENSION, **extra):
    home = peers._mkdtemp("ccpd-home-")
    rec = peers._mkdtemp("ccpd-rec-")
    write_asoundrc(home, rec, [("headset", HEADSET), ("speakers", 0)])
    opts = {"audio_check_interval": "1",
            "dial_template": "sip:{number}@127.0.0.1:%d" % desk.sip_port,
            "desk_phone_fallback": fallback}
    opts.update(extra)
    d = make_ccpd(options=opts, env={"HOME": home})
    d.home, d.rec = home, rec
    d.c = d.client()
    d.c.call("events.subscribe")
    if extension:
        conf = d.c.call("agent.setConfiguration",
                        {"softphoneEnabled": True, "extension": extension})
        assert conf["softphoneEnabled"] is True
        assert conf["extension"] == extension
        assert conf["deskPhoneFallback"] == fallback
    d.c.call("audio.setDevices", {"microphone": "headset",
                                  "speaker": "speakers"})
    return d


def unplug_headset(d):
    write_asoundrc(d.home, d.rec, [("speakers", 0)])


def connected_call(d, customer):
    cid = ring(d, customer)
    d.c.call("contact.accept", {"contactId": cid})
    d.c.wait_event("contact.connected")
    customer.wait_event("CALL_ESTABLISHED", 10)
    return cid


def check_schema(d):
    from test_schema import assert_events_match_schema
    assert_events_match_schema(d.c)


def hear_the_desk_phone_and_hang_up(d, cw, dw, cid, what):
    """Once the desk phone has the call: on the wire, the customer
    receives the desk phone and the desk phone the customer, neither the
    headset; then the call ends."""
    since = time.monotonic() + SETTLE
    expect(cw, since, DESK, what + ": the customer received",
           absent=[HEADSET], count=100, tones=TONES4)
    expect(dw, since, CUSTOMER, what + ": the desk phone received",
           absent=[HEADSET], count=100, tones=TONES4)
    d.c.call("connection.destroy", {"contactId": cid})
    d.c.wait_event("contact.acw")
    dw.peer.wait_event("CALL_CLOSED", 10)
    cw.peer.wait_event("CALL_CLOSED", 10)


def test_headset_lost_in_a_call_offers_the_desk_phone(make_ccpd, desk,
                                                      customer, wire):
    cw, dw = wire(customer), wire(desk)
    d = agent(make_ccpd, desk)
    cid = connected_call(d, customer)
    unplug_headset(d)
    err = d.c.wait_event("agent.softphoneError", 10)["data"]
    assert err["errorType"] == "device_lost", err
    assert err["contactId"] == cid
    assert "headset" in err["errorMessage"], err
    assert err["deskPhone"] == {"extension": EXTENSION, "fallback": "offer"}
    # offered, not made: the call is still on the softphone
    assert d.c.call("agent.getConfiguration")["softphoneEnabled"] is True
    res = d.c.call("agent.moveToDeskPhone")
    assert res["status"] == "ringing" and res["contactId"] == cid, res
    from test_schema import Schema, load_schema
    assert not Schema(load_schema()).problems(
        "/methods/agent.moveToDeskPhone/result", res), res
    assert res["extension"] == EXTENSION
    asked = d.c.wait_event("agent.deskPhoneMove", 5)
    assert asked["data"]["status"] == "ringing", asked
    moved = d.c.wait_event("agent.deskPhoneMove", 15)
    mv = moved["data"]
    assert mv["status"] == "moved", mv
    assert mv["contactId"] == cid and mv["softphoneEnabled"] is False
    print("fallback: the desk phone took the call %d ms after the move "
          "began" % (moved["time"] - asked["time"]))
    desk.wait_event("CALL_ESTABLISHED", 10)
    assert d.c.call("agent.getState")["state"] == "Busy"
    conf = d.c.call("agent.getConfiguration")
    assert conf["softphoneEnabled"] is False and conf["extension"] == EXTENSION
    hear_the_desk_phone_and_hang_up(d, cw, dw, cid, "fallback")
    # the move is in the journal
    types = [e["type"] for e in d.c.seen]
    assert types.index("agent.softphoneError") < types.index(
        "agent.deskPhoneMove")
    check_schema(d)


def test_auto_fallback_moves_the_call_by_itself(make_ccpd, desk, customer,
                                                wire):
    cw, dw = wire(customer), wire(desk)
    d = agent(make_ccpd, desk, fallback="auto")
    cid = connected_call(d, customer)
    unplug_headset(d)
    err = d.c.wait_event("agent.softphoneError", 10)["data"]
    assert err["deskPhone"] == {"extension": EXTENSION, "fallback": "auto"}
    ring_ev = d.c.wait_event("agent.deskPhoneMove", 10)["data"]
    assert ring_ev["status"] == "ringing" and ring_ev["contactId"] == cid
    mv = d.c.wait_event("agent.deskPhoneMove", 15)["data"]
    assert mv["status"] == "moved", mv
    desk.wait_event("CALL_ESTABLISHED", 10)
    hear_the_desk_phone_and_hang_up(d, cw, dw, cid, "auto fallback")
    check_schema(d)


def test_offer_without_the_headset_goes_to_the_desk_phone(make_ccpd, desk,
                                                          customer, wire):
    cw, dw = wire(customer), wire(desk)
    d = agent(make_ccpd, desk, fallback="auto")
    unplug_headset(d)
    d.c.wait_event("audio.devices", 10, lambda e: e["data"]["fallback"])
    # no contact: nothing failed yet
    assert not [e for e in d.c.seen if e["type"] == "agent.softphoneError"]
    cid = ring(d, customer)
    err = d.c.wait_event("agent.softphoneError", 10)["data"]
    assert err["contactId"] == cid and err["errorType"] == "device_lost"
    assert "missing" in err["errorMessage"], err
    mv = d.c.wait_event("agent.deskPhoneMove", 10)["data"]
    assert mv["status"] == "moved" and mv["contactId"] is None, mv
    # the offer still rings; accepting it rings the desk phone
    d.c.call("contact.accept", {"contactId": cid})
    desk.wait_event("CALL_ESTABLISHED", 10)
    d.c.wait_event("contact.connected", 15)
    customer.wait_event("CALL_ESTABLISHED", 10)
    hear_the_desk_phone_and_hang_up(d, cw, dw, cid, "offer after the move")
    check_schema(d)


def test_a_desk_phone_that_does_not_answer_leaves_the_call(make_ccpd,
                                                           silent_desk,
                                                           customer):
    d = agent(make_ccpd, silent_desk, desk_phone_timeout="2")
    cid = connected_call(d, customer)
    unplug_headset(d)
    d.c.wait_event("agent.softphoneError", 10)
    assert d.c.call("agent.moveToDeskPhone")["status"] == "ringing"
    silent_desk.wait_event("CALL_INCOMING", 10)
    # a second move while the first rings is refused
    err = d.c.error("agent.moveToDeskPhone")
    assert err["code"] == -32003 and "being rung" in err["data"]["reason"]
    mv = d.c.wait_event("agent.deskPhoneMove", 10,
                        lambda e: e["data"]["status"] != "ringing")["data"]
    assert mv["status"] == "failed" and mv["contactId"] == cid, mv
    assert mv["reason"] == "no answer" and mv["softphoneEnabled"] is True
    # the call goes on on the softphone
    assert d.c.call("agent.getState")["state"] == "Busy"
    assert d.c.call("agent.getConfiguration")["softphoneEnabled"] is True
    contact = d.c.call("contact.get", {"contactId": cid})
    assert contact["state"] == "connected", contact
    d.c.call("connection.destroy", {"contactId": cid})
    customer.wait_event("CALL_CLOSED", 10)
    check_schema(d)


def test_without_an_extension_the_error_offers_nothing(make_ccpd, desk,
                                                       customer):
    d = agent(make_ccpd, desk, extension=None)
    err = d.c.error("agent.moveToDeskPhone")
    assert err["code"] == -32003 and "extension" in err["data"]["reason"]
    r = d.ctl("config", "move-to-desk")
    assert r.returncode == 1 and "extension" in r.stderr, r
    cid = connected_call(d, customer)
    unplug_headset(d)
    ev = d.c.wait_event("agent.softphoneError", 10)["data"]
    assert ev["contactId"] == cid and ev["deskPhone"] is None, ev
    # with the call connected, setConfiguration points at the move
    err = d.c.error("agent.setConfiguration",
                    {"softphoneEnabled": False, "extension": EXTENSION})
    assert "agent.moveToDeskPhone" in err["data"]["reason"], err
    d.c.call("connection.destroy", {"contactId": cid})
    check_schema(d)


def test_fallback_off_only_tells(make_ccpd, desk, customer):
    d = agent(make_ccpd, desk, fallback="off")
    cid = connected_call(d, customer)
    unplug_headset(d)
    ev = d.c.wait_event("agent.softphoneError", 10)["data"]
    assert ev["deskPhone"] is None, ev
    # the agent may still move by hand, here from a shell
    r = d.ctl("config", "move-to-desk")
    assert r.returncode == 0, r
    assert r.stdout == "ringing the desk phone %s to take over %s\n" % (
        EXTENSION, cid), r.stdout
    d.c.wait_event("agent.deskPhoneMove", 15,
                   lambda e: e["data"]["status"] == "moved")


def test_audio_device_error_ends_the_call_and_moves_the_agent(make_ccpd, desk,
                                                              customer):
    # baresip's aufile source reports an audio error when its file ends,
    # which baresip 1.0.0 handles as any audio device failure: it ends
    # the call
    wav = peers.tone_wav()
    d = agent(make_ccpd, desk, fallback="auto", audio_source="aufile," + wav)
    d.c.call("audio.setDevices", {"microphone": "default",
                                  "speaker": "default"})
    cid = connected_call(d, customer)
    ae = d.c.wait_event("audio.error", 15)["data"]
    assert ae["contactId"] == cid and ae["reason"] == "end of file", ae
    err = d.c.wait_event("agent.softphoneError", 5)["data"]
    assert err["errorType"] == "audio_device_error", err
    assert err["contactId"] == cid
    mv = d.c.wait_event("agent.deskPhoneMove", 5)["data"]
    assert mv["status"] == "moved" and mv["contactId"] is None, mv
    ended = d.c.wait_event("contact.ended", 10)["data"]["contact"]
    assert ended["contactId"] == cid
    assert ended["endReason"] == "media_failure", ended
    customer.wait_event("CALL_CLOSED", 10)
    assert d.c.call("agent.getConfiguration")["softphoneEnabled"] is False
    d.c.wait_state("AfterContactWork")
    # ccpd lives on
    assert d.c.call("agent.getState")["state"] == "AfterContactWork"
    check_schema(d)
