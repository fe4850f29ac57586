"""Self-tests of the integration harness (peers.py) with real peers only:
baresip, SIPp and kamailio on 127.0.0.1, no ccpd.

Run: /usr/bin/python3 -m pytest tests/integration/test_peers.py
"""

import math
import os
import struct
import time
import wave

import pytest

import peers
from peers import (BaresipPeer, HarnessError, Kamailio, Sipp, dominant_tone,
                   free_port, free_ports, heard_tone, tone_power, tone_report)

A_TONE, B_TONE = 440, 880
TONES = [A_TONE, B_TONE]
CALLER = "+442071838750"


def _need(path):
    return pytest.mark.skipif(not os.access(path, os.X_OK),
                              reason="%s is not installed" % path)


need_baresip = _need(peers.BARESIP)
need_sipp = _need(peers.SIPP)
need_kamailio = _need(peers.KAMAILIO)


def _sub(tmp_path, name):
    d = tmp_path / name
    d.mkdir()
    return str(d)


# ---------------------------------------------------------------------------
# pure helpers
# ---------------------------------------------------------------------------

def _write_tone_wav(path, freqs, rate=48000, channels=2, seconds=1.0,
                    amp=8000):
    n = int(rate * seconds)
    frames = bytearray()
    for i in range(n):
        v = sum(amp * math.sin(2 * math.pi * f * i / rate) for f in freqs)
        frames += struct.pack("<h", int(v)) * channels
    with wave.open(str(path), "wb") as w:
        w.setnchannels(channels)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(bytes(frames))
    return str(path)


def test_free_ports_distinct():
    ports = free_ports(8, "both") + free_ports(4, "udp") + [free_port("tcp")]
    assert len(set(ports)) == len(ports)
    assert all(1024 < p < 65536 for p in ports)
    low, high = peers.rtp_port_block(20)
    assert high - low == 19 and low % 2 == 0
    assert not set(range(low, high + 1)) & set(ports)


@pytest.mark.parametrize("rate,channels", [(48000, 2), (8000, 1)])
def test_tone_detection_on_synthetic_wavs(tmp_path, rate, channels):
    a = _write_tone_wav(tmp_path / "a.wav", [A_TONE], rate, channels)
    b = _write_tone_wav(tmp_path / "b.wav", [B_TONE], rate, channels)
    both = _write_tone_wav(tmp_path / "ab.wav", TONES, rate, channels)
    silent = _write_tone_wav(tmp_path / "s.wav", [A_TONE], rate, channels,
                             amp=20)
    assert dominant_tone(a, TONES) == A_TONE
    assert dominant_tone(b, TONES) == B_TONE
    assert heard_tone(a, A_TONE, others=[B_TONE])
    assert not heard_tone(a, B_TONE, others=[A_TONE])
    assert heard_tone(b, B_TONE)
    assert dominant_tone(both, TONES) is None      # no clear winner
    assert dominant_tone(silent, TONES) is None    # silence
    # Units: a sine of amplitude A has power A*A/2.
    assert tone_power(a, A_TONE) == pytest.approx(8000 ** 2 / 2, rel=0.05)
    assert tone_power(a, B_TONE) < 8000 ** 2 / 2 / 1000


# ---------------------------------------------------------------------------
# baresip <-> baresip
# ---------------------------------------------------------------------------

@need_baresip
@pytest.mark.parametrize("answer", ["command", "auto"])
def test_two_baresip_peers_hear_each_other(tmp_path, answer):
    with BaresipPeer("alice", tone=A_TONE, user="alice",
                     workdir=_sub(tmp_path, "alice")) as a, \
         BaresipPeer("bob", tone=B_TONE, user="bob",
                     answermode="manual" if answer == "command" else "auto",
                     workdir=_sub(tmp_path, "bob")) as b:
        a.dial(b.uri)
        if answer == "command":
            inc = b.wait_event("CALL_INCOMING", 10)
            assert inc["peeruri"] == a.aor
            b.accept(inc["id"])
        est_a = a.wait_event("CALL_ESTABLISHED", 10)
        est_b = b.wait_event("CALL_ESTABLISHED", 10, call_id=est_a["id"])
        assert est_a["direction"] == "outgoing"
        assert est_b["direction"] == "incoming"
        assert est_b["peeruri"] == a.aor

        time.sleep(1.5)        # let audio flow (not waiting for an event)

        a.hangup()
        closed_a = a.wait_event("CALL_CLOSED", 10, call_id=est_a["id"])
        closed_b = b.wait_event("CALL_CLOSED", 10, call_id=est_a["id"])
        assert "reset by user" in closed_a["param"]
        assert "reset by peer" in closed_b["param"]

        heard_a = a.wait_heard_wav(5)
        heard_b = b.wait_heard_wav(5)
    rep_a = tone_report(heard_a, TONES)
    rep_b = tone_report(heard_b, TONES)
    assert rep_a["seconds"] > 0.8, rep_a
    assert heard_tone(heard_a, B_TONE, others=[A_TONE]), rep_a
    assert not heard_tone(heard_a, A_TONE, others=[B_TONE]), rep_a
    assert heard_tone(heard_b, A_TONE, others=[B_TONE]), rep_b
    assert not heard_tone(heard_b, B_TONE, others=[A_TONE]), rep_b
    assert len(a.heard_wavs()) == 1 and len(a.sent_wavs()) == 1


@need_baresip
def test_wait_event_timeout_reports_what_it_saw(tmp_path):
    with BaresipPeer("lonely", workdir=_sub(tmp_path, "p")) as p:
        t0 = time.monotonic()
        with pytest.raises(HarnessError, match="no CALL_INCOMING event"):
            p.wait_event("CALL_INCOMING", 0.3)
        assert time.monotonic() - t0 < 2
        resp = p.command("nosuchcommand", check=False)
        assert resp["ok"] is False
        with pytest.raises(HarnessError):
            p.command("nosuchcommand")
        pid = p.proc.pid
    assert p.proc.poll() is not None
    with pytest.raises(ProcessLookupError):
        os.kill(pid, 0)


# ---------------------------------------------------------------------------
# SIPp scenarios
# ---------------------------------------------------------------------------

@need_baresip
@need_sipp
def test_sipp_uac_hangup_against_auto_answer(tmp_path):
    with BaresipPeer("cust", answermode="auto",
                     workdir=_sub(tmp_path, "peer")) as p:
        uac = Sipp("uac_hangup", target=p.sip_port, service=p.user,
                   from_user=CALLER, timeout=40,
                   workdir=_sub(tmp_path, "sipp")).start()
        # Auto answer: baresip 1.0.0 sends no CALL_INCOMING, only
        # CALL_ESTABLISHED.
        est = p.wait_event("CALL_ESTABLISHED", 10)
        assert est["peeruri"] == "sip:%s@127.0.0.1" % CALLER
        closed = p.wait_event("CALL_CLOSED", 10, call_id=est["id"])
        assert "reset by peer" in closed["param"]
        rc = uac.wait(20)
    assert rc == 0, uac.describe()
    assert 1.9 < uac.duration < 10, uac.describe()


@need_baresip
@need_sipp
def test_sipp_uac_cancel(tmp_path):
    with BaresipPeer("cust", workdir=_sub(tmp_path, "peer")) as p:
        uac = Sipp("uac_cancel", target=p.sip_port, service=p.user,
                   timeout=15, workdir=_sub(tmp_path, "sipp")).start()
        inc = p.wait_event("CALL_INCOMING", 10)
        p.wait_event("CALL_CLOSED", 10, call_id=inc["id"])
        rc = uac.wait(20)
    assert rc == 0, uac.describe()
    assert 0.9 < uac.duration < 10, uac.describe()
    assert "487 Request Terminated" in uac.messages() or \
        "SIP/2.0 487" in uac.messages()


@need_baresip
@need_sipp
def test_sipp_uac_expect_refusal(tmp_path):
    with BaresipPeer("cust", workdir=_sub(tmp_path, "peer")) as p:
        # Refused (baresip answers a hangup of a ringing call with 486).
        uac = Sipp("uac_expect_refusal", target=p.sip_port, service=p.user,
                   timeout=15, workdir=_sub(tmp_path, "sipp1")).start()
        inc = p.wait_event("CALL_INCOMING", 10)
        p.hangup(inc["id"])
        p.wait_event("CALL_CLOSED", 10, call_id=inc["id"])
        rc = uac.wait(20)
        assert rc == 0, uac.describe()
        assert "SIP/2.0 486" in uac.messages()

        # Answered instead: the scenario ACKs, hangs up and fails.
        uac = Sipp("uac_expect_refusal", target=p.sip_port, service=p.user,
                   timeout=15, workdir=_sub(tmp_path, "sipp2")).start()
        inc = p.wait_event("CALL_INCOMING", 10)
        p.accept(inc["id"])
        p.wait_event("CALL_CLOSED", 10, call_id=inc["id"])
        rc = uac.wait(20)
        assert rc == 1, uac.describe()

        # No final response at all: fails on the global timeout.
        uac = Sipp("uac_expect_refusal", target=p.sip_port, service=p.user,
                   timeout=2, workdir=_sub(tmp_path, "sipp3")).start()
        inc = p.wait_event("CALL_INCOMING", 10)
        rc = uac.wait(10)
        assert rc not in (0, 1), uac.describe()
        assert "timed out" in uac.errors()
        p.hangup(inc["id"])
        p.wait_event("CALL_CLOSED", 10, call_id=inc["id"])


@need_baresip
@need_sipp
def test_sipp_uas_answer_and_busy(tmp_path):
    with BaresipPeer("cust", workdir=_sub(tmp_path, "peer")) as p:
        uas = Sipp("uas_answer", service="agent", timeout=15,
                   workdir=_sub(tmp_path, "uas")).start().wait_listening()
        p.dial(uas.uri)
        est = p.wait_event("CALL_ESTABLISHED", 10)
        p.hangup(est["id"])
        p.wait_event("CALL_CLOSED", 10, call_id=est["id"])
        rc = uas.wait(10)
        assert rc == 0, uas.describe()
        f = uas.log_fields()
        assert f["ruri"] == uas.uri
        assert "<%s>" % p.aor in f["from"]
        assert f["pai"] == ""

        busy = Sipp("uas_busy", service="agent", timeout=15,
                    workdir=_sub(tmp_path, "busy")).start().wait_listening()
        p.dial(busy.uri)
        closed = p.wait_event("CALL_CLOSED", 10)
        assert closed["param"].startswith("486"), closed
        rc = busy.wait(10)
        assert rc == 0, busy.describe()
        assert busy.log_fields()["ruri"] == busy.uri


@need_sipp
def test_sipp_uac_against_sipp_uas(tmp_path):
    """Scenario pairs: a configurable From user reaches the UAS."""
    uas = Sipp("uas_answer", service="agent", timeout=15,
               workdir=_sub(tmp_path, "uas")).start().wait_listening()
    uac = Sipp("uac_hangup", target=uas.port, service="agent",
               from_user=CALLER, from_name="Alice", timeout=15,
               workdir=_sub(tmp_path, "uac")).start()
    assert uac.wait(20) == 0, uac.describe()
    assert uas.wait(10) == 0, uas.describe()
    f = uas.log_fields()
    assert "<sip:%s@127.0.0.1>" % CALLER in f["from"]
    assert '"Alice"' in f["from"]

    busy = Sipp("uas_busy", service="agent", timeout=15,
                workdir=_sub(tmp_path, "busy")).start().wait_listening()
    refused = Sipp("uac_expect_refusal", target=busy.port, service="agent",
                   timeout=15, workdir=_sub(tmp_path, "refused")).start()
    assert refused.wait(20) == 0, refused.describe()
    assert busy.wait(10) == 0, busy.describe()


# ---------------------------------------------------------------------------
# kamailio
# ---------------------------------------------------------------------------

def _account(k, user, password, extra=""):
    return ('<sip:%s@127.0.0.1:%d>;auth_pass=%s;outbound="sip:127.0.0.1:%d";'
            'regint=60%s' % (user, k.port, password, k.port, extra))


@need_baresip
@need_kamailio
def test_kamailio_register_and_route(tmp_path):
    with Kamailio(password="secret", workdir=_sub(tmp_path, "kam")) as k, \
         BaresipPeer("agent", tone=B_TONE, user="local",
                     workdir=_sub(tmp_path, "agent")) as agent, \
         BaresipPeer("cust", tone=A_TONE,
                     workdir=_sub(tmp_path, "cust")) as cust:
        assert k.registered("sip:agent@127.0.0.1") == []
        agent.command("uanew", _account(k, "agent", "secret",
                                        ";answermode=auto"))
        ok = agent.wait_event("REGISTER_OK", 10)
        assert ok["accountaor"] == "sip:agent@127.0.0.1:%d" % k.port
        assert ok["param"].startswith("200")
        contacts = k.registered("sip:agent@127.0.0.1")
        assert len(contacts) == 1 and \
            contacts[0].endswith("@127.0.0.1:%d" % agent.sip_port), contacts

        # A call to the AoR is routed by kamailio to the registered contact.
        cust.dial("sip:agent@127.0.0.1:%d" % k.port)
        est = cust.wait_event("CALL_ESTABLISHED", 10)
        agent.wait_event("CALL_ESTABLISHED", 10, call_id=est["id"])
        time.sleep(1.0)        # let audio flow
        cust.hangup(est["id"])
        cust.wait_event("CALL_CLOSED", 10, call_id=est["id"])
        agent.wait_event("CALL_CLOSED", 10, call_id=est["id"])
        assert dominant_tone(cust.wait_heard_wav(), TONES) == B_TONE
        assert dominant_tone(agent.wait_heard_wav(), TONES) == A_TONE

        # Nobody registered as "nobody": 404.
        cust.dial("sip:nobody@127.0.0.1:%d" % k.port)
        closed = cust.wait_event("CALL_CLOSED", 10)
        assert closed["param"].startswith("404"), closed


@need_baresip
@need_kamailio
def test_kamailio_register_wrong_password(tmp_path):
    with Kamailio(password="secret", workdir=_sub(tmp_path, "kam")) as k, \
         BaresipPeer("agent", user="local",
                     workdir=_sub(tmp_path, "agent")) as agent:
        agent.command("uanew", _account(k, "agent", "wrong"))
        fail = agent.wait_event("REGISTER_FAIL", 10)
        assert fail["accountaor"] == "sip:agent@127.0.0.1:%d" % k.port
        assert fail["param"].startswith("401"), fail
        assert not [e for e in agent.events if e["type"] == "REGISTER_OK"]
        assert k.registered("sip:agent@127.0.0.1") == []
