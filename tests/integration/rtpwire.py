"""RTP on the wire: what a peer really received, judged by its tones.

Why: baresip 1.0.0's sndfile dump of what a call decoded stops at the
first re-INVITE the call sees, even between two plain baresip peers, so a
dump proves nothing after a hold, resume, consult or leave; and ccpd's own
encoder dump proves only what ccpd sent, not what reached the customer.

How: one tcpdump per peer on `lo`, with a kernel (BPF) filter on the
peer's RTP port block as the destination, writes a pcap file packet by
packet (-U, --immediate-mode); this module reads it back while the test
runs.  tcpdump rather than an AF_PACKET socket read by a Python thread:
the kernel filters and timestamps every packet and tcpdump keeps up
whatever the GIL and a loaded two-core machine do; libpcap shows each
loopback packet once (a raw socket sees it twice, leaving and arriving);
and the pcap stays on disk (CCPD_TEST_KEEP=1) for tcpdump or wireshark
when a test fails.  The pcap format is a 24-byte file header and 16-byte
record headers, a few lines of struct.  G.711 is decoded with the
standard library's audioop (present, though deprecated, in Python 3.11),
and tones are judged with the Goertzel test of peers.tone_report.
tcpdump needs root or CAP_NET_RAW, as tests/run-all.sh has.

    cap = rtpwire.capture(peer)       # before the call; or Capture(ports)
    t1 = time.monotonic()             # an event: held, resumed, left...
    t2 = cap.wait_rtp(since=t1 + 0.3, count=50)   # 50 packets (1 s) came
    rep = cap.heard(t1 + 0.3, t2, [440, 660, 880])
    rtpwire.dominant(rep), rep["share"][660], rep["packets"], rep["others"]
    quiet = cap.heard(t1 + 0.3, t1 + 1.3, tones)  # waits until t1 + 1.3
    rtpwire.silent(quiet)             # no RTP, or RTP of silence
    cap.timeline(t1 - 1, t2, tones)   # per stream, per 0.5 s: for messages
    cap.stop()

Times are time.monotonic() values, the clock of the tests and of the
events BaresipPeer records.  A window's report is per RTP stream (source
port, destination port, SSRC): heard() gives the stream with the most
audio packets in the window, reports() all of them.  Before judging a
window, the reader catches up with tcpdump through a barrier (sync()): a
probe datagram the capture sends to itself, inside the same filter; once
the probe is in the file, so is every packet that arrived before it.  So
"no RTP in this window" is a measurement of a live capture, not a file
that tcpdump had not written yet.
"""

import array
import math
import os
import socket
import struct
import subprocess
import sys
import time
import warnings

import peers

with warnings.catch_warnings():
    warnings.simplefilter("ignore", DeprecationWarning)
    import audioop

TCPDUMP = os.environ.get("TCPDUMP", "/usr/sbin/tcpdump")
if not os.path.exists(TCPDUMP):
    TCPDUMP = "/usr/bin/tcpdump"

RATE = 8000                     # G.711
PCMU, PCMA = 0, 8
_DECODE = {PCMU: audioop.ulaw2lin, PCMA: audioop.alaw2lin}
_PROBE = b"rtpwire-sync "
_LINK_HEADER = {1: 14, 113: 16, 276: 20, 0: 4, 101: 0, 12: 0, 228: 0}


class Packet:
    __slots__ = ("time", "src", "dst", "ssrc", "seq", "pt", "payload")

    def __init__(self, t, src, dst, ssrc, seq, pt, payload):
        self.time, self.src, self.dst = t, src, dst
        self.ssrc, self.seq, self.pt, self.payload = ssrc, seq, pt, payload

    @property
    def stream(self):
        return (self.src, self.dst, self.ssrc)


def parse_rtp(data):
    """(ssrc, seq, payload type, payload) of an RTP packet, or None for
    anything else (RTCP, STUN, a short or foreign datagram)."""
    if len(data) < 12 or data[0] >> 6 != 2:
        return None
    pt = data[1] & 0x7F
    if 64 <= pt <= 95:          # RTCP (RFC 5761 section 4)
        return None
    cc = data[0] & 0x0F
    seq, _ts, ssrc = struct.unpack("!HII", data[2:12])
    off = 12 + 4 * cc
    if data[0] & 0x10:          # header extension
        if len(data) < off + 4:
            return None
        off += 4 + 4 * struct.unpack("!H", data[off + 2:off + 4])[0]
    end = len(data)
    if data[0] & 0x20 and end > off:    # padding
        end -= data[-1]
    if off > end:
        return None
    return ssrc, seq, pt, bytes(data[off:end])


class PcapReader:
    """Reads a pcap file that is still being written: each poll() parses
    the whole records added since the last one and returns them as
    (seconds since the epoch, IPv4 packet bytes)."""

    def __init__(self, path):
        self.path = path
        self._f = None
        self._buf = b""
        self._link = None
        self._scale = 1e-6
        self._endian = "<"

    def poll(self):
        if self._f is None:
            try:
                self._f = open(self.path, "rb")
            except FileNotFoundError:
                return []
        self._buf += self._f.read()
        out = []
        if self._link is None:
            if len(self._buf) < 24:
                return out
            magic = self._buf[:4]
            for endian in "<>":
                m = struct.unpack(endian + "I", magic)[0]
                if m in (0xA1B2C3D4, 0xA1B23C4D):
                    self._endian = endian
                    self._scale = 1e-6 if m == 0xA1B2C3D4 else 1e-9
                    break
            else:
                raise ValueError("%s is not a pcap file" % self.path)
            self._link = struct.unpack(self._endian + "I",
                                       self._buf[20:24])[0]
            if self._link not in _LINK_HEADER:
                raise ValueError("%s: link type %d not handled"
                                 % (self.path, self._link))
            self._buf = self._buf[24:]
        pos, buf, skip = 0, self._buf, _LINK_HEADER[self._link]
        while len(buf) - pos >= 16:
            sec, frac, incl, _orig = struct.unpack(self._endian + "IIII",
                                                   buf[pos:pos + 16])
            if len(buf) - pos - 16 < incl:
                break
            frame = buf[pos + 16 + skip:pos + 16 + incl]
            out.append((sec + frac * self._scale, frame))
            pos += 16 + incl
        self._buf = buf[pos:]
        return out

    def close(self):
        if self._f is not None:
            self._f.close()
            self._f = None


def _udp(ip):
    """(source port, destination port, payload) of an IPv4 UDP packet."""
    if len(ip) < 28 or ip[0] >> 4 != 4 or ip[9] != 17:
        return None
    ihl = (ip[0] & 0x0F) * 4
    src, dst, length = struct.unpack("!HHH", ip[ihl:ihl + 6])
    return src, dst, ip[ihl + 8:ihl + length]


def _samples(packets):
    """The decoded audio of one stream's packets, in sequence order, each
    sequence number once (so a duplicate cannot add audio)."""
    ext, last, prev = {}, None, None
    for p in packets:
        if prev is None:
            last = p.seq
        else:
            last += (p.seq - prev + 32768) % 65536 - 32768
        prev = p.seq
        ext.setdefault(last, p)
    pcm = b"".join(_DECODE[ext[k].pt](ext[k].payload, 2)
                   for k in sorted(ext))
    a = array.array("h")
    a.frombytes(pcm)
    if sys.byteorder == "big":
        a.byteswap()
    return a


def tone_report(packets, freqs, block_ms=50):
    """What one stream's packets carry, in the keys of peers.tone_report
    ("rms", "seconds", "power", "share"), plus "packets" and "stream".

    50 ms Goertzel blocks: 20 Hz apart, fine for tones 110 Hz apart or
    more, and short windows still hold many blocks."""
    samples = _samples(packets)
    ms = peers._mean_square(samples)
    block = int(RATE * block_ms / 1000)
    power = {f: peers._goertzel_blocks(samples, RATE, f, block)
             for f in freqs}
    first = packets[0] if packets else None
    return {"stream": "%d->%d ssrc %08x pt %d" % (first.src, first.dst,
                                                   first.ssrc, first.pt)
            if first else "no RTP",
            "packets": len(packets), "rate": RATE,
            "seconds": len(samples) / float(RATE),
            "rms": math.sqrt(ms), "power": power,
            "share": {f: (p / ms if ms else 0.0) for f, p in power.items()}}


def dominant(rep, min_share=0.3):
    """The tone a report clearly holds, or None (no RTP, silence, a mix):
    not silent over 0.3 s or more, and the strongest tone holds at least
    min_share of the power."""
    if rep["rms"] < peers.SILENCE_RMS or rep["seconds"] < 0.3 or \
            not rep["power"]:
        return None
    best = max(rep["power"], key=lambda f: rep["power"][f])
    return best if rep["share"][best] >= min_share else None


def silent(rep):
    """No RTP, or RTP that carries silence."""
    return rep["packets"] == 0 or rep["rms"] < peers.SILENCE_RMS


class Capture:
    """tcpdump on lo for the RTP arriving at one port block (low, high)."""

    def __init__(self, ports, name="peer", workdir=None):
        self.low, self.high = ports
        self.name = name
        self.dir = workdir or peers._mkdtemp("rtpwire-%s-" % name)
        self.pcap = os.path.join(self.dir, "%s.pcap" % name)
        self.log_path = os.path.join(self.dir, "tcpdump.log")
        self.proc = None
        self.packets = []       # audio RTP packets, in order of arrival
        self.other = 0          # RTP packets of other payload types
        self._reader = PcapReader(self.pcap)
        self._probe = None
        self._probes_sent = 0
        self._probes_seen = 0
        self._offset = 0.0

    def start(self, timeout=10.0):
        self._probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._probe.bind((peers.LOOPBACK, 0))
        port = self._probe.getsockname()[1]
        filt = "udp and dst host %s and (dst portrange %d-%d or dst port " \
            "%d)" % (peers.LOOPBACK, self.low, self.high, port)
        self._log = open(self.log_path, "ab")
        self.proc = peers._spawn(
            [TCPDUMP, "-i", "lo", "-n", "-U", "--immediate-mode", "-Z",
             "root", "-B", "4096", "-s", "512", "-w", self.pcap, filt],
            stdin=subprocess.DEVNULL, stdout=self._log,
            stderr=subprocess.STDOUT)
        # pcap times are wall-clock; the tests count in monotonic time
        self._offset = time.time() - time.monotonic()
        try:
            self.sync(timeout, every=0.1)
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self):
        if self.proc is not None:
            peers._stop_pid(self.proc, 3)
            self.poll()
        if self._probe is not None:
            self._probe.close()
            self._probe = None
        self._reader.close()
        if getattr(self, "_log", None):
            self._log.close()
            self._log = None

    def __enter__(self):
        return self.start() if self.proc is None else self

    def __exit__(self, *exc):
        self.stop()
        return False

    def poll(self):
        """Read what tcpdump has written since the last poll."""
        for t, ip in self._reader.poll():
            u = _udp(ip)
            if u is None:
                continue
            src, dst, data = u
            if data.startswith(_PROBE):
                self._probes_seen = max(self._probes_seen,
                                        int(data[len(_PROBE):]))
                continue
            rtp = parse_rtp(data)
            if rtp is None:
                continue
            ssrc, seq, pt, payload = rtp
            if pt not in _DECODE:
                self.other += 1
                continue
            self.packets.append(Packet(t - self._offset, src, dst, ssrc,
                                       seq, pt, payload))

    def sync(self, timeout=5.0, every=0.5):
        """A barrier: send a probe through the capture and read the pcap
        until the probe is in it; every packet that arrived before is then
        read too."""
        deadline = time.monotonic() + timeout
        target = None
        while True:
            if self.proc.poll() is not None:
                raise peers.HarnessError(
                    "tcpdump for %s exited with %s:\n%s"
                    % (self.name, self.proc.returncode,
                       peers._tail(self.log_path)))
            now = time.monotonic()
            if target is None or now >= target[1]:
                self._probes_sent += 1
                self._probe.sendto(_PROBE + b"%d" % self._probes_sent,
                                   self._probe.getsockname())
                target = (self._probes_sent, now + every)
            self.poll()
            if self._probes_seen >= target[0]:
                return
            if now > deadline:
                raise peers.HarnessError(
                    "tcpdump for %s did not capture its probe within "
                    "%.1fs\n%s" % (self.name, timeout,
                                   peers._tail(self.log_path)))
            time.sleep(0.02)

    def until(self, t, timeout=10.0):
        """Wait until the monotonic time t has passed and every packet that
        arrived before it is read (for judging a window that ends at t)."""
        left = t - time.monotonic()
        if left > 0:
            time.sleep(left)
        self.sync(timeout)

    def window(self, start, end):
        """{stream: [packets]} of the audio packets arrived in [start,
        end), most packets first."""
        streams = {}
        for p in self.packets:
            if start <= p.time < end:
                streams.setdefault(p.stream, []).append(p)
        return dict(sorted(streams.items(), key=lambda kv: -len(kv[1])))

    def wait_rtp(self, since, count=40, timeout=10.0):
        """Wait until one stream has brought `count` audio packets after
        the monotonic time `since`; return the arrival time of the last
        of them (a window [since, that] holds them all)."""
        deadline = time.monotonic() + timeout
        while True:
            self.poll()
            for pkts in self.window(since, float("inf")).values():
                if len(pkts) >= count:
                    return pkts[count - 1].time + 1e-6
            if time.monotonic() > deadline or self.proc.poll() is not None:
                raise peers.HarnessError(
                    "%s: fewer than %d RTP packets within %.1fs after "
                    "t=%.2f; received:\n%s"
                    % (self.name, count, timeout, since,
                       self.timeline(since - 2, time.monotonic(), ())))
            time.sleep(0.05)

    def reports(self, start, end, freqs):
        """One report (see tone_report) per stream in [start, end), the
        stream with the most packets first; [] when no RTP arrived."""
        self.until(end)
        return [tone_report(p, freqs)
                for p in self.window(start, end).values()]

    def heard(self, start, end, freqs):
        """The report of the main stream in [start, end) (the most audio
        packets), with "others": the reports of the other streams.  With
        no RTP at all: a report of no packets, no audio (rms 0)."""
        reps = self.reports(start, end, freqs)
        main = reps[0] if reps else tone_report([], freqs)
        main["others"] = reps[1:]
        return main

    def timeline(self, start, end, freqs, step=0.5):
        """Text for assertion messages: per stream, per step seconds, the
        packet count, rms and dominant tone; times relative to start."""
        self.poll()
        lines = ["%s: RTP to ports %d-%d between t=%.2f and t=%.2f (%s)"
                 % (self.name, self.low, self.high, start, end, self.pcap)]
        streams = self.window(start, end)
        if not streams:
            lines.append("  no RTP")
        for pkts in streams.values():
            lines.append("  stream %s, %d packets"
                         % (tone_report(pkts[:1], ())["stream"], len(pkts)))
            t = start
            while t < end:
                part = [p for p in pkts if t <= p.time < t + step]
                if part:
                    r = tone_report(part, freqs)
                    lines.append("    +%.1fs %3d pkts rms %5.0f tone %s %s"
                                 % (t - start, len(part), r["rms"],
                                    dominant(r), show_shares(r)))
                t += step
        return "\n".join(lines)


def show_shares(rep):
    return "{%s}" % ", ".join("%s: %.2f" % (f, s)
                             for f, s in sorted(rep["share"].items()))


def capture(peer, **kw):
    """A started Capture of what the BaresipPeer `peer` receives (the
    peer is kept as its .peer)."""
    cap = Capture(peer.rtp_ports, peer.name, **kw)
    cap.peer = peer
    return cap.start()
