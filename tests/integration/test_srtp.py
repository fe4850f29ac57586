"""SRTP with SDES and with DTLS-SRTP between ccpd's baresip and a
customer's baresip on 127.0.0.1: required SRTP against a peer without it
fails with a reason; against a peer with it, the tones are heard both
ways."""

import time

import pytest

import peers
from test_calls import wait_wav

AGENT_TONE = 880
CUSTOMER_TONE = 440


def srtp_ccpd(make_ccpd, policy="required", srtp="sdes"):
    snd = peers._mkdtemp("ccpd-snd-")
    d = make_ccpd(options={"audio_source": "ausine,%d" % AGENT_TONE,
                           "snd_path": snd, "srtp": srtp,
                           "srtp_policy": policy,
                           "initial_status": "Available"})
    d.snd_dir = snd
    d.c = d.client()
    d.c.call("events.subscribe")
    return d


def _fails_with_a_reason(d, words):
    """The agent dials a peer without SRTP: the contact fails with a 488
    whose sipCause says why."""
    callee = peers.BaresipPeer(name="callee", tone=CUSTOMER_TONE,
                               answermode="auto").start()
    try:
        res = d.c.call("agent.connect", {"endpoint": callee.uri})
        ev = d.c.wait_event("contact.error", 15)["data"]["contact"]
        assert ev["contactId"] == res["contactId"]
        assert ev["endReason"] == "failed"
        assert ev["sipCause"].startswith("488"), ev
        assert words in ev["sipCause"], ev
        d.c.wait_state("FailedConnectCustomer")
        d.c.call("contact.clear", {"contactId": res["contactId"]})
    finally:
        callee.stop()


def test_required_srtp_to_a_peer_without_it_fails_with_a_reason(make_ccpd):
    _fails_with_a_reason(srtp_ccpd(make_ccpd), "SRTP required")


def _talk_outbound(d, callee, talk):
    """The agent dials callee, both talk for `talk` seconds, the agent
    hangs up: each heard the other's tone and not its own."""
    res = d.c.call("agent.connect", {"endpoint": callee.uri})
    d.c.wait_event("contact.connected", 15)
    callee.wait_event("CALL_ESTABLISHED", 10)
    time.sleep(talk)
    d.c.call("connection.destroy", {"contactId": res["contactId"]})
    callee.wait_event("CALL_CLOSED", 10)
    d.c.wait_event("contact.ended")
    heard = callee.wait_heard_wav(5)
    assert peers.heard_tone(heard, AGENT_TONE, [CUSTOMER_TONE]), \
        peers.tone_report(heard, [AGENT_TONE, CUSTOMER_TONE])
    agent_heard = wait_wav(d.snd_dir)
    assert peers.heard_tone(agent_heard, CUSTOMER_TONE, [AGENT_TONE]), \
        peers.tone_report(agent_heard, [CUSTOMER_TONE, AGENT_TONE])


def test_required_srtp_to_a_peer_with_sdes_carries_audio(make_ccpd):
    d = srtp_ccpd(make_ccpd)
    callee = peers.BaresipPeer(name="callee", tone=CUSTOMER_TONE,
                               answermode="auto", extra_modules=["srtp"],
                               account_params="mediaenc=srtp-mand").start()
    try:
        _talk_outbound(d, callee, 2.0)
        assert srtp_enabled(d, callee), d.log_tail()
    finally:
        callee.stop()


def test_required_srtp_refuses_a_caller_without_it(make_ccpd):
    """baresip answers 488 before the offer is a call; ccpd still shows it
    as a refused contact with the caller and the reason, and goes on."""
    d = srtp_ccpd(make_ccpd)
    caller = peers.BaresipPeer(name="caller", tone=CUSTOMER_TONE,
                               user="+442071838750").start()
    try:
        caller.dial(d.sip_uri)
        closed = caller.wait_event("CALL_CLOSED", 10)
        assert "488" in str(closed.get("param")), closed
        ev = d.c.wait_event("contact.refused", 10)
        assert ev["time"] > 0
        contact = ev["data"]["contact"]
        cid = contact["contactId"]
        assert contact["direction"] == "inbound"
        assert contact["state"] == "refused"
        assert contact["endReason"] == "refused"
        assert contact["disconnectedBy"] == "system"
        assert contact["customer"]["uri"] == caller.uri, contact
        assert contact["customer"]["e164"] == "+442071838750", contact
        assert contact["sipCause"].startswith("488 Not Acceptable Here"), \
            contact
        assert "SRTP required" in contact["sipCause"], contact
        assert "SDES SRTP" in contact["sipCause"], contact
        assert contact["timestamps"]["offered"] is not None
        assert contact["timestamps"]["ended"] is not None
        destroyed = d.c.wait_event("contact.destroyed", 10)
        assert destroyed["data"]["contact"]["contactId"] == cid
        assert destroyed["data"]["contact"]["state"] == "refused"
        # it never rang, and the agent did not change state
        assert not [e for e in d.c.seen if e["type"] == "contact.incoming"]
        assert not [e for e in d.c.seen
                    if e["type"] == "agent.stateChange"]
        assert d.c.call("contact.list") == []
        assert d.c.call("agent.getState")["state"] == "Available"
        # the log says it too, with the contact and the reason
        line = [ln for ln in d.log_text().splitlines()
                if "baresip refused offer " + cid in ln]
        assert line and "SRTP required" in line[0], d.log_tail()
        # recorded: in the history, and counted among refused contacts
        hist = d.c.call("contact.get", {"contactId": cid})
        assert hist["sipCause"] == contact["sipCause"], hist
        me = d.c.call("metrics.get")["agents"]
        assert sum(a["contacts"]["refused"] for a in me) == 1, me
        from test_schema import assert_events_match_schema
        assert_events_match_schema(d.c)
        # the daemon goes on: a caller with SRTP still gets through
        assert d.proc.poll() is None
        good = peers.BaresipPeer(name="caller2", tone=CUSTOMER_TONE,
                                 extra_modules=["srtp"],
                                 account_params="mediaenc=srtp-mand").start()
        try:
            good.dial(d.sip_uri)
            d.c.wait_event("contact.incoming", 15)
            good.hangup()
            d.c.wait_event("contact.ended", 15)
        finally:
            good.stop()
    finally:
        caller.stop()


def _talk_inbound(d, caller):
    caller.dial(d.sip_uri)
    cid = d.c.wait_event("contact.incoming", 15)["data"]["contact"][
        "contactId"]
    d.c.call("contact.accept", {"contactId": cid})
    d.c.wait_event("contact.connected")
    caller.wait_event("CALL_ESTABLISHED", 10)
    time.sleep(2.0)
    caller.hangup()
    d.c.wait_event("contact.ended")
    heard = caller.wait_heard_wav(5)
    assert peers.heard_tone(heard, AGENT_TONE, [CUSTOMER_TONE]), \
        peers.tone_report(heard, [AGENT_TONE, CUSTOMER_TONE])
    agent_heard = wait_wav(d.snd_dir)
    assert peers.heard_tone(agent_heard, CUSTOMER_TONE, [AGENT_TONE]), \
        peers.tone_report(agent_heard, [CUSTOMER_TONE, AGENT_TONE])


def srtp_enabled(d, peer):
    """Both baresips said the audio stream is SRTP."""
    with open(peer.log_path, errors="replace") as f:
        plog = f.read()
    return ("SRTP is Enabled" in d.log_text() and "SRTP is Enabled" in plog)


def test_required_srtp_from_a_caller_with_sdes_carries_audio(make_ccpd):
    d = srtp_ccpd(make_ccpd)
    caller = peers.BaresipPeer(name="caller", tone=CUSTOMER_TONE,
                               extra_modules=["srtp"],
                               account_params="mediaenc=srtp-mand").start()
    try:
        _talk_inbound(d, caller)
        assert srtp_enabled(d, caller), d.log_tail()
    finally:
        caller.stop()


def test_offered_srtp_still_talks_to_a_caller_without_it(make_ccpd):
    d = srtp_ccpd(make_ccpd, policy="offered")
    caller = peers.BaresipPeer(name="caller", tone=CUSTOMER_TONE).start()
    try:
        _talk_inbound(d, caller)
        assert "SRTP is Enabled" not in d.log_text()
    finally:
        caller.stop()


# DTLS-SRTP: baresip 1.0.0's dtls_srtp module makes its own self-signed
# RSA certificate when it loads (tls_set_selfsigned_rsa in module_init) and
# checks the peer's SHA-256 fingerprint from the SDP, so ccpd has nothing
# to provide beyond the module and mediaenc=dtls_srtp.

def dtls_peer(name, **kw):
    return peers.BaresipPeer(name=name, tone=CUSTOMER_TONE,
                             extra_modules=["dtls_srtp"],
                             account_params="mediaenc=dtls_srtp", **kw)


def dtls_done(d, peer):
    """Both baresips finished the DTLS handshake of the RTP component,
    checked the other's fingerprint and keyed SRTP from it."""
    plog = peer.log_text()
    for text in (d.log_text(), plog):
        assert "dtls_srtp: verified SHA-256 fingerprint OK" in text, \
            text[-3000:]
        assert "DTLS-SRTP complete (audio/RTP)" in text, text[-3000:]
    return True


@pytest.mark.parametrize("policy", ["required", "offered"])
def test_dtls_srtp_to_a_peer_with_it_carries_audio(make_ccpd, policy):
    d = srtp_ccpd(make_ccpd, policy, srtp="dtls")
    callee = dtls_peer("callee", answermode="auto").start()
    try:
        # media starts once the handshake is done (wait_secure)
        _talk_outbound(d, callee, 2.5)
        assert dtls_done(d, callee)
    finally:
        callee.stop()


@pytest.mark.parametrize("policy", ["required", "offered"])
def test_dtls_srtp_from_a_caller_with_it_carries_audio(make_ccpd, policy):
    d = srtp_ccpd(make_ccpd, policy, srtp="dtls")
    caller = dtls_peer("caller").start()
    try:
        _talk_inbound(d, caller)
        assert dtls_done(d, caller)
    finally:
        caller.stop()


@pytest.mark.parametrize("policy", ["required", "offered"])
def test_dtls_srtp_to_a_peer_without_it_fails_with_a_reason(make_ccpd,
                                                             policy):
    """baresip 1.0.0 has no plain-RTP fallback for dtls_srtp: its offer is
    UDP/TLS/RTP/SAVPF only, so even 'offered' cannot reach a peer without
    DTLS-SRTP, and the contact says why."""
    _fails_with_a_reason(srtp_ccpd(make_ccpd, policy, srtp="dtls"),
                         "does not accept DTLS-SRTP")
