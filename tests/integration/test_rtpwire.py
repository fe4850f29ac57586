"""The wire capture (rtpwire) itself: it tells a known tone, past a
re-INVITE too, and reports no RTP when nothing is sent."""

import math
import socket
import struct
import time

import pytest

import peers
import rtpwire
from rtpwire import audioop

A_TONE, B_TONE, PROBE_TONE = 440, 880, 660
TONES = [A_TONE, B_TONE, PROBE_TONE]


def rtp_packets(freq, count, ssrc=0x1234, pt=rtpwire.PCMU, seq=65530):
    """count 20 ms G.711 packets of a tone, sequence numbers wrapping."""
    out = []
    for n in range(count):
        pcm = b"".join(struct.pack("<h", int(6000 * math.sin(
            2 * math.pi * freq * (n * 160 + i) / rtpwire.RATE)))
            for i in range(160))
        enc = audioop.lin2ulaw(pcm, 2) if pt == rtpwire.PCMU \
            else audioop.lin2alaw(pcm, 2)
        out.append(struct.pack("!BBHII", 0x80, pt, (seq + n) % 65536,
                               n * 160, ssrc) + enc)
    return out


@pytest.fixture
def block_capture():
    """A capture of a port block nobody else uses, and a socket bound in
    it (so what the test sends there is received, not refused)."""
    ports = peers.rtp_port_block(4)
    sink = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sink.bind((peers.LOOPBACK, ports[0]))
    cap = rtpwire.Capture(ports, "block").start()
    yield cap, ports
    cap.stop()
    sink.close()


def test_no_rtp_is_reported_as_none(block_capture):
    cap, ports = block_capture
    t0 = time.monotonic()
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    # neither RTCP nor a foreign datagram counts as audio
    s.sendto(struct.pack("!BBHI", 0x80, 200, 1, 0) + b"\0" * 20,
             (peers.LOOPBACK, ports[0]))
    s.sendto(b"not rtp", (peers.LOOPBACK, ports[0]))
    s.close()
    rep = cap.heard(t0, t0 + 0.5, TONES)
    assert rep["packets"] == 0 and rep["others"] == [], rep
    assert rep["rms"] == 0 and rtpwire.dominant(rep) is None
    assert "no RTP" in cap.timeline(t0, t0 + 0.5, TONES)


@pytest.mark.parametrize("pt", [rtpwire.PCMU, rtpwire.PCMA])
def test_a_known_tone_per_stream(block_capture, pt):
    cap, ports = block_capture
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    t0 = time.monotonic()
    tone = rtp_packets(PROBE_TONE, 30, pt=pt)
    for p in tone + tone[:5]:       # duplicates add no audio
        s.sendto(p, (peers.LOOPBACK, ports[0]))
    for p in rtp_packets(A_TONE, 10, ssrc=0x99, pt=pt):
        s.sendto(p, (peers.LOOPBACK, ports[0] + 2))
    s.close()
    rep = cap.heard(t0, time.monotonic() + 0.2, TONES)
    assert rep["packets"] == 35 and abs(rep["seconds"] - 0.6) < 1e-6, rep
    assert rtpwire.dominant(rep) == PROBE_TONE, rep
    assert rep["share"][PROBE_TONE] > 0.9, rep
    other, = rep["others"]
    assert other["packets"] == 10 and other["seconds"] == pytest.approx(0.2)
    assert other["share"][A_TONE] > 0.9 and "ssrc 00000099" in \
        other["stream"], other


@pytest.fixture
def pair():
    a = peers.BaresipPeer(name="a", user="a", tone=A_TONE).start()
    b = peers.BaresipPeer(name="b", user="b", tone=B_TONE,
                          answermode="auto").start()
    yield a, b
    a.stop()
    b.stop()


def judge(cap, since, freqs=TONES, count=40):
    """Wait for `count` packets after since; the report of that window."""
    end = cap.wait_rtp(since, count)
    return cap.heard(since, end, freqs)


def sdp_answer(peer):
    """When the answer to the peer's last offer (a re-INVITE) came."""
    return peer.wait_event("CALL_REMOTE_SDP", 10,
                           lambda e: e.get("param") == "answer")["_time"]


def test_two_plain_peers_past_a_hold(pair):
    """What baresip's own dump cannot show: what a peer receives after a
    re-INVITE.  b holds nothing back from a, then a's hold stops b's RTP,
    and a's resume brings a's tone back to b."""
    a, b = pair
    ca, cb = rtpwire.capture(a), rtpwire.capture(b)
    try:
        a.dial(b.uri)
        t_up = a.wait_event("CALL_ESTABLISHED", 10)["_time"]
        b.wait_event("CALL_ESTABLISHED", 10)
        to_a, to_b = judge(ca, t_up + 0.3), judge(cb, t_up + 0.3)
        assert rtpwire.dominant(to_a) == B_TONE, ca.timeline(t_up, t_up + 3,
                                                             TONES)
        assert rtpwire.dominant(to_b) == A_TONE, cb.timeline(t_up, t_up + 3,
                                                             TONES)
        a.drain_events()
        a.command("hold")
        # b's answer to the hold re-INVITE; from then on a sends nothing
        t_held = sdp_answer(a)
        held = cb.heard(t_held + 0.3, t_held + 1.3, TONES)
        assert rtpwire.silent(held), \
            cb.timeline(t_held - 1, t_held + 1.3, TONES)
        a.command("resume")
        t_back = sdp_answer(a)
        back = judge(cb, t_back + 0.5)
        assert rtpwire.dominant(back) == A_TONE, \
            cb.timeline(t_held, time.monotonic(), TONES)
        a.hangup()
        b.wait_event("CALL_CLOSED", 10)
    finally:
        ca.stop()
        cb.stop()
