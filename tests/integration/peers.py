"""Real SIP peers for the ccpd integration tests.

Everything here is standard library only (Debian's python3, no PyPI) and
talks to 127.0.0.1 only.

* free_port() / free_ports() / rtp_port_block(): local ports.
* BaresipPeer: a real baresip 1.0.0 (the "customer") driven over ctrl_tcp.
* tone_power() / dominant_tone() / heard_tone(): what a WAV file holds.
* Sipp: a SIPp run with one of the scenarios in sipp/.
* Kamailio: a kamailio 5.6 registrar/proxy with digest auth, no database.

Nothing here sleeps and hopes: every wait has a deadline and, on timeout,
raises with what it saw.  Processes are stopped by the PID this module
started, never by name.
"""

import array
import atexit
import json
import math
import os
import random
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import threading
import time
import uuid
import wave

LOOPBACK = "127.0.0.1"
HERE = os.path.dirname(os.path.abspath(__file__))
SIPP_DIR = os.path.join(HERE, "sipp")

BARESIP = os.environ.get("BARESIP", "/usr/bin/baresip")
BARESIP_MODULE_PATH = os.environ.get("BARESIP_MODULE_PATH",
                                     "/usr/lib/baresip/modules")
SIPP = os.environ.get("SIPP", "/usr/bin/sipp")
KAMAILIO = os.environ.get("KAMAILIO", "/usr/sbin/kamailio")
KAMCMD = os.environ.get("KAMCMD", "/usr/sbin/kamcmd")
KAMAILIO_MODULE_PATH = os.environ.get(
    "KAMAILIO_MODULE_PATH", "/usr/lib/x86_64-linux-gnu/kamailio/modules")

# Set CCPD_TEST_KEEP=1 to keep the temporary directories this module makes.
_KEEP = bool(os.environ.get("CCPD_TEST_KEEP"))
_tmpdirs = []


def _mkdtemp(prefix):
    d = tempfile.mkdtemp(prefix=prefix)
    _tmpdirs.append(d)
    return d



_live = []     # Popen objects of processes this module started



@atexit.register
def _cleanup():
    for proc in list(_live):
        _stop_pid(proc, 3)
    if _KEEP:
        return
    for d in _tmpdirs:
        shutil.rmtree(d, ignore_errors=True)


_STATUS_LINE = re.compile(r"^\[\d+:\d\d:\d\d\] audio=")


class HarnessError(AssertionError):
    """A peer did not do what a test waited for (timeout, bad answer)."""


def _tail(path, lines=40):
    """The last lines of a log, without blank lines and without baresip's
    call status lines ("[0:00:01] audio=...", redrawn with \\r)."""
    try:
        with open(path, "r", errors="replace") as f:
            text = f.read()
    except OSError as e:
        return "(no log: %s)" % e
    keep = [ln for ln in text.replace("\r", "\n").split("\n")
            if ln.strip() and not _STATUS_LINE.match(ln.strip())]
    return "\n".join(keep[-lines:])


def _spawn(args, **kw):
    proc = subprocess.Popen(args, **kw)
    _live.append(proc)
    return proc


def _stop_pid(proc, timeout=5.0, sig=signal.SIGTERM):
    """Stop a Popen we started: signal its PID, wait, then SIGKILL it."""
    if proc is None:
        return None
    if proc in _live and proc.poll() is not None:
        _live.remove(proc)
    if proc.poll() is not None:
        return proc.returncode
    try:
        os.kill(proc.pid, sig)
    except ProcessLookupError:
        pass
    try:
        rc = proc.wait(timeout)
    except subprocess.TimeoutExpired:
        try:
            os.kill(proc.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        rc = proc.wait(5)
    if proc in _live:
        _live.remove(proc)
    return rc


# ---------------------------------------------------------------------------
# Ports
# ---------------------------------------------------------------------------

_handed_out = set()
_port_lock = threading.Lock()


def _bind_probe(kind, port):
    """Bind (and close) a socket on 127.0.0.1:port; return the bound port."""
    kinds = {"udp": [socket.SOCK_DGRAM], "tcp": [socket.SOCK_STREAM],
             "both": [socket.SOCK_DGRAM, socket.SOCK_STREAM]}[kind]
    socks = []
    try:
        for t in kinds:
            s = socket.socket(socket.AF_INET, t)
            socks.append(s)
            if t == socket.SOCK_STREAM:
                s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            s.bind((LOOPBACK, port))
            port = s.getsockname()[1]
        return port
    finally:
        for s in socks:
            s.close()


# Listening ports come from a block below both the RTP blocks and the
# kernel's ephemeral range (32768-60999): a port the kernel handed out for
# bind(0) can be handed out again for any outgoing connection on the
# machine once the probe closes it, which made parallel runs collide.
_LISTEN_LOW, _LISTEN_HIGH = 10000, 19990
_listen_next = [_LISTEN_LOW + random.randrange(_LISTEN_HIGH - _LISTEN_LOW)]


def free_port(kind="udp"):
    """A free 127.0.0.1 port.

    kind is "udp", "tcp", "both" (free for UDP and TCP at once) or "sip":
    both, and the next port free for TCP too, since baresip's sip_listen
    also opens SIP over TLS on port + 1.  A port is never handed out twice
    by this process.
    """
    if kind not in ("udp", "tcp", "both", "sip"):
        raise ValueError("kind must be udp, tcp, both or sip")
    with _port_lock:
        for _ in range(2000):
            port = _listen_next[0]
            _listen_next[0] = port + 2 if port + 2 < _LISTEN_HIGH \
                else _LISTEN_LOW
            if port in _handed_out or port + 1 in _handed_out:
                continue
            try:
                if kind in ("udp", "both", "sip"):
                    _bind_probe("udp", port)
                if kind in ("tcp", "both", "sip"):
                    _bind_probe("tcp", port)
                if kind == "sip":
                    _bind_probe("tcp", port + 1)
            except OSError:
                continue
            _handed_out.add(port)
            if kind == "sip":
                _handed_out.add(port + 1)
            return port
    raise HarnessError("no free %s port found" % kind)


def free_ports(n, kind="udp"):
    """n distinct free ports (see free_port)."""
    return [free_port(kind) for _ in range(n)]


# RTP port blocks: between the listening block and the kernel's ephemeral
# range (32768-60999), apart from both.
_RTP_LOW, _RTP_HIGH = 20000, 32000
_rtp_next = [_RTP_LOW + 2 * random.randrange((_RTP_HIGH - _RTP_LOW) // 4)]


def rtp_port_block(size=20):
    """(low, high): an even-aligned range of `size` UDP ports, all free now.

    Give one block to each RTP user (a baresip's rtp_ports, a SIPp -mp).
    """
    size += size % 2
    with _port_lock:
        for _ in range(500):
            low = _rtp_next[0]
            if low + size > _RTP_HIGH:
                low = _RTP_LOW
            _rtp_next[0] = low + size
            ports = range(low, low + size)
            if any(p in _handed_out for p in ports):
                continue
            try:
                for p in ports:
                    _bind_probe("udp", p)
            except OSError:
                continue
            _handed_out.update(ports)
            return low, low + size - 1
    raise HarnessError("no free RTP port block of %d" % size)


def udp_bound(port, host=LOOPBACK):
    """True when some socket is bound to UDP host:port (read from
    /proc/net/udp, so the check cannot race the owner's bind)."""
    want = "%08X:%04X" % (struct.unpack("<I", socket.inet_aton(host))[0],
                          port)
    anyaddr = "00000000:%04X" % port
    try:
        with open("/proc/net/udp") as f:
            for line in f.readlines()[1:]:
                local = line.split()[1]
                if local in (want, anyaddr):
                    return True
    except OSError:
        pass
    return False


def _wait_tcp(port, deadline, proc=None, what="service", log=None):
    """Connect to 127.0.0.1:port until it works or the deadline passes."""
    last = None
    while True:
        if proc is not None and proc.poll() is not None:
            raise HarnessError("%s exited with %s before listening on %d\n%s"
                               % (what, proc.returncode, port,
                                  _tail(log) if log else ""))
        try:
            return socket.create_connection((LOOPBACK, port), timeout=2)
        except OSError as e:
            last = e
        if time.monotonic() > deadline:
            raise HarnessError("%s did not listen on 127.0.0.1:%d (%s)\n%s"
                               % (what, port, last, _tail(log) if log else ""))
        time.sleep(0.05)


# ---------------------------------------------------------------------------
# baresip
# ---------------------------------------------------------------------------

def _netstring(data):
    return b"%d:%s," % (len(data), data)


class BaresipPeer:
    """A real baresip 1.0.0 as a SIP peer on 127.0.0.1, driven by ctrl_tcp.

    peer = BaresipPeer(tone=440, answermode="auto").start()
    peer.uri         -> "sip:customer@127.0.0.1:PORT" (dial this)
    peer.dial(uri); peer.wait_event("CALL_ESTABLISHED", 10)
    peer.hangup(); peer.wait_event("CALL_CLOSED", 10)
    peer.stop(); peer.heard_wavs()

    Audio: the source is ausine at `tone` Hz, the player is a paced silent
    aubridge sink, and sndfile records each call in snd_dir as
    dump-<timestamp>-dec.wav (what this peer heard) and -enc.wav (what it
    sent).  sndfile names the files by the second the call's audio started,
    so two calls of one peer must not start in the same second.
    """

    def __init__(self, name="customer", tone=440, answermode="manual",
                 user="customer", sip_port=None, ctrl_port=None,
                 rtp_ports=None, workdir=None, extra_config="",
                 extra_modules=(), account_params="", verbose=False,
                 sip_trace=False):
        if answermode not in ("manual", "auto", "early"):
            raise ValueError("answermode must be manual, auto or early")
        self.name = name
        self.tone = int(tone)
        self.answermode = answermode
        self.user = user
        self.sip_port = sip_port or free_port("sip")
        self.ctrl_port = ctrl_port or free_port("tcp")
        self.rtp_ports = rtp_ports or rtp_port_block(20)
        self.dir = workdir or _mkdtemp("baresip-%s-" % name)
        os.makedirs(self.dir, exist_ok=True)
        self.conf_dir = os.path.join(self.dir, "conf")
        self.snd_dir = os.path.join(self.dir, "snd")
        self.log_path = os.path.join(self.dir, "baresip.log")
        self.extra_config = extra_config
        self.extra_modules = tuple(extra_modules)
        self.account_params = account_params
        self.verbose = verbose
        self.sip_trace = sip_trace
        self.aor = "sip:%s@%s:%d" % (user, LOOPBACK, self.sip_port)
        self.uri = self.aor
        self.bridge = "sink-%s-%s" % (name, uuid.uuid4().hex[:8])
        self.proc = None
        self._sock = None
        self._reader = None
        self._cond = threading.Condition()
        self._send_lock = threading.Lock()
        self._pending = []       # events not yet returned by wait_event
        self.events = []         # every event, in order of arrival
        self.other = []          # messages neither events nor responses
        self._responses = {}     # token -> response
        self._closed = False
        self._token = 0

    # -- configuration -----------------------------------------------------

    def _write_config(self):
        os.makedirs(self.conf_dir, exist_ok=True)
        os.makedirs(self.snd_dir, exist_ok=True)
        mods = ["g711", "ausine", "aubridge", "sndfile"] + \
            list(self.extra_modules)
        lines = [
            "poll_method\t\tepoll",
            "sip_listen\t\t%s:%d" % (LOOPBACK, self.sip_port),
            "net_interface\t\t%s" % LOOPBACK,
            "call_local_timeout\t120",
            "call_max_calls\t\t4",
            "audio_player\t\taubridge,%s" % self.bridge,
            "audio_source\t\tausine,%d" % self.tone,
            "audio_alert\t\taubridge,%s-alert" % self.bridge,
            "ausrc_srate\t\t48000",
            "auplay_srate\t\t48000",
            "ausrc_channels\t\t2",
            "auplay_channels\t\t2",
            "audio_level\t\tno",
            "ausrc_format\t\ts16",
            "auplay_format\t\ts16",
            "auenc_format\t\ts16",
            "audec_format\t\ts16",
            "audio_buffer\t\t20-160",
            "rtp_tos\t\t\t184",
            "rtp_ports\t\t%d-%d" % tuple(self.rtp_ports),
            "rtcp_mux\t\tno",
            "jitter_buffer_delay\t5-10",
            "rtp_stats\t\tno",
            "module_path\t\t%s" % BARESIP_MODULE_PATH,
        ]
        lines += ["module\t\t\t%s.so" % m for m in mods]
        lines += [
            "module_tmp\t\taccount.so",
            "module_app\t\tmenu.so",
            "module_app\t\tctrl_tcp.so",
            "ctrl_tcp_listen\t\t%s:%d" % (LOOPBACK, self.ctrl_port),
            "snd_path\t\t%s" % self.snd_dir,
        ]
        if self.extra_config:
            lines.append(self.extra_config)
        with open(os.path.join(self.conf_dir, "config"), "w") as f:
            f.write("\n".join(lines) + "\n")
        acct = "<%s>;regint=0;answermode=%s%s" % (
            self.aor, self.answermode,
            (";" + self.account_params.lstrip(";"))
            if self.account_params else "")
        with open(os.path.join(self.conf_dir, "accounts"), "w") as f:
            f.write(acct + "\n")
        # Empty contacts file: otherwise baresip writes a template.
        with open(os.path.join(self.conf_dir, "contacts"), "w") as f:
            f.write("")

    # -- life cycle --------------------------------------------------------

    def start(self, timeout=10.0):
        self._write_config()
        args = [BARESIP, "-f", self.conf_dir]
        if self.verbose:
            args.append("-v")
        if self.sip_trace:
            args.append("-s")
        self._log = open(self.log_path, "ab")
        self.proc = _spawn(args, stdin=subprocess.DEVNULL,
                           stdout=self._log, stderr=subprocess.STDOUT,
                           cwd=self.dir)
        try:
            deadline = time.monotonic() + timeout
            self._sock = _wait_tcp(self.ctrl_port, deadline, self.proc,
                                   "baresip %s" % self.name, self.log_path)
            self._sock.settimeout(None)
            self._reader = threading.Thread(target=self._read_loop,
                                            name="baresip-%s" % self.name,
                                            daemon=True)
            self._reader.start()
            # ctrl_tcp listens before the UA is fully set up; a command
            # answer means the main loop runs and commands work.
            self.command("help",
                         timeout=max(1.0, deadline - time.monotonic()))
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self, timeout=5.0):
        """SIGTERM our baresip by its PID, wait for it (SIGKILL if needed)."""
        rc = None
        if self.proc is not None:
            rc = _stop_pid(self.proc, timeout)
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        if self._sock is not None:
            try:
                self._sock.close()
            except OSError:
                pass
        if self._reader is not None:
            self._reader.join(2)
        if getattr(self, "_log", None):
            self._log.close()
            self._log = None
        return rc

    def __enter__(self):
        if self.proc is None:
            self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    @property
    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def log_text(self):
        try:
            with open(self.log_path, "r", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    # -- ctrl_tcp ----------------------------------------------------------

    def _read_loop(self):
        buf = b""
        sock = self._sock
        try:
            while True:
                data = sock.recv(65536)
                if not data:
                    break
                buf += data
                while True:
                    colon = buf.find(b":")
                    if colon < 0:
                        break
                    try:
                        n = int(buf[:colon])
                    except ValueError:
                        buf = b""   # lost framing; cannot happen with baresip
                        break
                    if len(buf) < colon + 1 + n + 1:
                        break
                    payload = buf[colon + 1:colon + 1 + n]
                    buf = buf[colon + 1 + n + 1:]
                    self._dispatch(payload)
        except OSError:
            pass
        finally:
            with self._cond:
                self._closed = True
                self._cond.notify_all()

    def _dispatch(self, payload):
        try:
            msg = json.loads(payload.decode("utf-8", "replace"))
        except ValueError:
            msg = {"raw": payload.decode("utf-8", "replace")}
        with self._cond:
            if isinstance(msg, dict) and msg.get("response"):
                self._responses[str(msg.get("token"))] = msg
            elif isinstance(msg, dict) and msg.get("event"):
                msg["_time"] = time.monotonic()
                self.events.append(msg)
                self._pending.append(msg)
            else:
                self.other.append(msg)
            self._cond.notify_all()

    def command(self, cmd, params=None, timeout=5.0, check=True):
        """Send one ctrl_tcp command; return the response dict.

        With check (the default) a response with "ok": false raises.
        """
        with self._cond:
            self._token += 1
            token = "%s-%d" % (self.name, self._token)
        msg = {"command": cmd, "token": token}
        if params is not None:
            msg["params"] = str(params)
        data = _netstring(json.dumps(msg).encode())
        with self._send_lock:
            if self._sock is None:
                raise HarnessError("baresip %s is not started" % self.name)
            self._sock.sendall(data)
        deadline = time.monotonic() + timeout
        with self._cond:
            while token not in self._responses:
                left = deadline - time.monotonic()
                if self._closed or left <= 0:
                    raise HarnessError(
                        "baresip %s: no answer to %r %r within %.1fs%s\n%s"
                        % (self.name, cmd, params, timeout,
                           " (control connection closed)"
                           if self._closed else "",
                           _tail(self.log_path)))
                self._cond.wait(left)
            resp = self._responses.pop(token)
        if check and not resp.get("ok"):
            raise HarnessError("baresip %s: %s %r failed: %r"
                               % (self.name, cmd, params, resp))
        return resp

    def dial(self, uri):
        return self.command("dial", uri)

    def accept(self, call_id=None):
        """Answer the current incoming call (or the one with this Call-ID)."""
        if call_id:
            self.command("callfind", call_id)
        return self.command("accept")

    def hangup(self, call_id=None):
        """Hang up the current call (or the one with this Call-ID)."""
        if call_id:
            self.command("callfind", call_id)
        return self.command("hangup")

    def set_answermode(self, mode):
        return self.command("answermode", mode)

    def wait_event(self, type, timeout=10.0, predicate=None, call_id=None):
        """Wait for the next event of `type` (a string or a set of strings)
        that satisfies predicate(event) (and has this SIP Call-ID, if
        given), not returned before; return it.

        Events that do not match stay available for later waits.  On
        timeout raises HarnessError listing every event seen so far.
        """
        types = {type} if isinstance(type, str) else set(type)
        deadline = time.monotonic() + timeout
        with self._cond:
            while True:
                for i, ev in enumerate(self._pending):
                    if ev.get("type") in types and \
                            (call_id is None or ev.get("id") == call_id) and \
                            (predicate is None or predicate(ev)):
                        del self._pending[i]
                        return ev
                left = deadline - time.monotonic()
                if left <= 0 or (self._closed and not self.running):
                    seen = ["%s %s %s" % (e.get("type"), e.get("peeruri", ""),
                                          e.get("param", ""))
                            for e in self.events]
                    raise HarnessError(
                        "baresip %s: no %s event within %.1fs%s; saw:\n  %s"
                        "\nlog tail:\n%s"
                        % (self.name, "/".join(sorted(types)), timeout,
                           " (baresip exited)" if not self.running else "",
                           "\n  ".join(seen) or "(nothing)",
                           _tail(self.log_path)))
                self._cond.wait(min(left, 0.5))

    def drain_events(self):
        """Forget the events not yet returned by wait_event; return them."""
        with self._cond:
            out, self._pending = self._pending, []
        return out

    # -- audio -------------------------------------------------------------

    def heard_wavs(self):
        """The dec WAV files (what this peer heard), oldest first."""
        try:
            names = os.listdir(self.snd_dir)
        except OSError:
            return []
        return sorted(os.path.join(self.snd_dir, n) for n in names
                      if n.startswith("dump-") and n.endswith("-dec.wav"))

    def sent_wavs(self):
        """The enc WAV files (what this peer sent), oldest first."""
        try:
            names = os.listdir(self.snd_dir)
        except OSError:
            return []
        return sorted(os.path.join(self.snd_dir, n) for n in names
                      if n.startswith("dump-") and n.endswith("-enc.wav"))

    def wait_heard_wav(self, timeout=5.0, count=1):
        """Wait until `count` dec WAVs exist and are closed (their header
        counts their frames; sndfile finalises it when the call's audio
        stops, just after CALL_CLOSED).  Return the newest path."""
        deadline = time.monotonic() + timeout
        while True:
            wavs = self.heard_wavs()
            if len(wavs) >= count and _wav_header_frames(wavs[-1]) > 0:
                return wavs[-1]
            if time.monotonic() > deadline:
                raise HarnessError(
                    "baresip %s: no finished dec wav in %s within %.1fs: %r"
                    % (self.name, self.snd_dir, timeout,
                       os.listdir(self.snd_dir)
                       if os.path.isdir(self.snd_dir) else None))
            time.sleep(0.05)


# ---------------------------------------------------------------------------
# WAV analysis
# ---------------------------------------------------------------------------

def _wav_header_frames(path):
    try:
        with wave.open(path, "rb") as w:
            return w.getnframes()
    except (OSError, EOFError, wave.Error):
        return 0


def _read_wav_raw(path):
    """(channels, rate, sampwidth, data) of a PCM WAV.

    Uses the wave module; falls back to walking the RIFF chunks when the
    header was not finalised yet (data size 0) so an open file still reads.
    """
    try:
        with wave.open(path, "rb") as w:
            ch, width, rate, n = (w.getnchannels(), w.getsampwidth(),
                                  w.getframerate(), w.getnframes())
            data = w.readframes(n)
        if n > 0:
            return ch, rate, width, data
    except (EOFError, wave.Error):
        pass
    with open(path, "rb") as f:
        blob = f.read()
    if blob[:4] != b"RIFF" or blob[8:12] != b"WAVE":
        raise ValueError("%s is not a WAV file" % path)
    pos, fmt = 12, None
    while pos + 8 <= len(blob):
        cid, size = struct.unpack("<4sI", blob[pos:pos + 8])
        body = pos + 8
        if cid == b"fmt ":
            tag, ch, rate, _, _, bits = struct.unpack(
                "<HHIIHH", blob[body:body + 16])
            fmt = (ch, rate, bits // 8)
        elif cid == b"data":
            if fmt is None:
                raise ValueError("%s: data before fmt" % path)
            end = len(blob) if size in (0, 0xFFFFFFFF) else body + size
            return fmt[0], fmt[1], fmt[2], blob[body:end]
        pos = body + size + (size & 1)
    raise ValueError("%s: no data chunk" % path)


def read_wav(path, skip_ms=200, max_ms=None):
    """(samples, rate): a 16-bit PCM WAV as mono samples (channels
    averaged), without the first skip_ms, at most max_ms long."""
    ch, rate, width, data = _read_wav_raw(path)
    if width != 2:
        raise ValueError("%s: %d-byte samples, want 16-bit PCM"
                         % (path, width))
    a = array.array("h")
    a.frombytes(data[:len(data) - len(data) % (2 * ch)])
    if sys.byteorder == "big":
        a.byteswap()
    if ch == 1:
        mono = a
    elif ch == 2:
        mono = [(l + r) / 2.0 for l, r in zip(a[0::2], a[1::2])]
    else:
        mono = [sum(a[i:i + ch]) / float(ch) for i in range(0, len(a), ch)]
    start = int(rate * skip_ms / 1000.0)
    end = None if max_ms is None else start + int(rate * max_ms / 1000.0)
    return mono[start:end], rate


def _goertzel_blocks(samples, rate, freq, block):
    """Mean, over blocks, of the Goertzel power of freq, scaled so that a
    sine of amplitude A gives A*A/2 (comparable with the mean square)."""
    w = 2.0 * math.pi * freq / rate
    coeff = 2.0 * math.cos(w)
    total, nblocks = 0.0, 0
    for start in range(0, len(samples) - block + 1, block):
        s1 = s2 = 0.0
        for x in samples[start:start + block]:
            s1, s2 = x + coeff * s1 - s2, s1
        p = s1 * s1 + s2 * s2 - coeff * s1 * s2
        total += 2.0 * p / (block * block)
        nblocks += 1
    return total / nblocks if nblocks else 0.0


def _mean_square(samples):
    n = len(samples)
    return sum(x * x for x in samples) / n if n else 0.0


def tone_power(wav_path, freq, skip_ms=200, block_ms=100, max_ms=5000):
    """Goertzel power of `freq` Hz in a 16-bit PCM WAV (mono or stereo,
    channels averaged), ignoring the first skip_ms.

    Computed on block_ms blocks (10 Hz resolution at 100 ms) and averaged,
    so packet loss or a jitter-buffer jump costs one block, not the whole
    estimate.  Units: a sine of amplitude A (in 16-bit sample units) gives
    about A*A/2, the same units as the signal's mean square.
    """
    samples, rate = read_wav(wav_path, skip_ms, max_ms)
    return _goertzel_blocks(samples, rate, freq, int(rate * block_ms / 1000))


def tone_report(wav_path, freqs, skip_ms=200, block_ms=100, max_ms=5000):
    """{"rms": ..., "seconds": ..., "power": {f: p}, "share": {f: p/ms}}:
    what a WAV holds, for assertions and their messages."""
    samples, rate = read_wav(wav_path, skip_ms, max_ms)
    block = int(rate * block_ms / 1000)
    ms = _mean_square(samples)
    power = {f: _goertzel_blocks(samples, rate, f, block) for f in freqs}
    return {"path": wav_path, "rate": rate,
            "seconds": len(samples) / float(rate) if rate else 0.0,
            "rms": math.sqrt(ms),
            "power": power,
            "share": {f: (p / ms if ms else 0.0) for f, p in power.items()}}


SILENCE_RMS = 100.0     # 16-bit units: about -50 dBFS


def dominant_tone(wav_path, candidates, margin_db=10.0, min_share=0.3,
                  min_rms=SILENCE_RMS, min_seconds=0.3, skip_ms=200):
    """The candidate frequency clearly present in the WAV, or None.

    Clearly present: the signal is not silence (rms >= min_rms over at
    least min_seconds), the tone holds at least min_share of the signal's
    power, and its power beats every other candidate by margin_db.
    """
    candidates = list(candidates)
    rep = tone_report(wav_path, candidates, skip_ms)
    if rep["seconds"] < min_seconds or rep["rms"] < min_rms:
        return None
    best = max(candidates, key=lambda f: rep["power"][f])
    pb = rep["power"][best]
    if rep["share"][best] < min_share:
        return None
    for f in candidates:
        if f != best and rep["power"][f] > 0 and \
                10.0 * math.log10(pb / rep["power"][f]) < margin_db:
            return None
    return best


def tone_wav(seconds=1.0, freq=660, rate=48000):
    """A WAV of a tone for baresip's aufile source, which takes 48 kHz
    stereo S16LE only; when it ends, aufile reports an audio error."""
    import struct
    import wave
    path = os.path.join(_mkdtemp("ccpd-wav-"), "tone.wav")
    frames = bytearray()
    for i in range(int(seconds * rate)):
        v = int(8000 * math.sin(2 * math.pi * freq * i / rate))
        frames += struct.pack("<hh", v, v)
    with wave.open(path, "wb") as w:
        w.setnchannels(2)
        w.setsampwidth(2)
        w.setframerate(rate)
        w.writeframes(bytes(frames))
    return path


def heard_tone(wav_path, freq, others=(), **kw):
    """True when `freq` is clearly present in the WAV (see dominant_tone);
    `others` are frequencies it must dominate (e.g. the peer's own tone)."""
    cands = [freq] + [f for f in others if f != freq]
    if len(cands) == 1:
        # A lone candidate: compare with an unrelated probe frequency too.
        cands.append(freq * 1.5 + 37)
    return dominant_tone(wav_path, cands, **kw) == freq


# ---------------------------------------------------------------------------
# SIPp
# ---------------------------------------------------------------------------

def sipp_scenario(name):
    """Path of a scenario in tests/integration/sipp/ (".xml" optional)."""
    if not name.endswith(".xml"):
        name += ".xml"
    path = name if os.path.isabs(name) else os.path.join(SIPP_DIR, name)
    if not os.path.exists(path):
        raise FileNotFoundError(path)
    return path


class Sipp:
    """One SIPp run of a scenario from tests/integration/sipp/.

    uac = Sipp("uac_hangup", target=peer.sip_port, service="customer")
    uac.start(); rc = uac.wait(30)      # rc 0: the call succeeded
    uac.stderr, uac.duration, uac.errors(), uac.log()

    A UAS: Sipp("uas_answer", port=free_port("udp")) with no target; dial
    sip:anything@127.0.0.1:<port>.  keys become -key NAME VALUE; the
    scenarios use [from_user] and [from_name] (defaults "sipp", "SIPp"),
    which every run must define (SIPp rejects a scenario that uses an
    undefined keyword).  Exit codes: 0 all calls
    succeeded, 1 a call failed, 97/99 no call run, 255/254 fatal.
    """

    def __init__(self, scenario, target=None, service="customer",
                 port=None, from_user="sipp", from_name="SIPp", timeout=20,
                 keys=None,
                 extra_args=(), workdir=None, trace_msg=True, media_port=None):
        self.scenario = sipp_scenario(scenario)
        self.name = os.path.basename(self.scenario)[:-4]
        if isinstance(target, int):
            target = "%s:%d" % (LOOPBACK, target)
        if target is not None and not target.startswith(LOOPBACK + ":"):
            raise ValueError("tests send traffic to 127.0.0.1 only")
        self.target = target
        self.service = service
        self.port = port or free_port("udp")
        self.media_port = media_port or rtp_port_block(4)[0]
        self.timeout = timeout
        self.keys = {"from_user": from_user, "from_name": from_name}
        self.keys.update(keys or {})
        self.extra_args = list(extra_args)
        self.dir = workdir or _mkdtemp("sipp-%s-" % self.name)
        os.makedirs(self.dir, exist_ok=True)
        self.trace_msg = trace_msg
        self.error_file = os.path.join(self.dir, "errors.log")
        self.message_file = os.path.join(self.dir, "messages.log")
        self.log_file = os.path.join(self.dir, "logs.log")
        self.stdout_path = os.path.join(self.dir, "stdout.txt")
        self.stderr_path = os.path.join(self.dir, "stderr.txt")
        self.proc = None
        self.returncode = None
        self.stderr = ""
        self.started = None
        self.duration = None

    @property
    def uri(self):
        """Where to send requests to a SIPp UAS."""
        return "sip:%s@%s:%d" % (self.service, LOOPBACK, self.port)

    def args(self):
        a = [SIPP]
        if self.target:
            a.append(self.target)
        a += ["-sf", self.scenario, "-i", LOOPBACK, "-p", str(self.port),
              "-mp", str(self.media_port),
              "-m", "1", "-timeout", "%ds" % self.timeout, "-timeout_error",
              "-nostdin", "-s", self.service,
              "-trace_err", "-error_file", self.error_file,
              "-trace_logs", "-log_file", self.log_file]
        if self.trace_msg:
            a += ["-trace_msg", "-message_file", self.message_file]
        for k, v in self.keys.items():
            a += ["-key", str(k), str(v)]
        return a + self.extra_args

    def start(self):
        self._out = open(self.stdout_path, "wb")
        self._err = open(self.stderr_path, "wb")
        self.started = time.monotonic()
        self.proc = _spawn(self.args(), stdin=subprocess.DEVNULL,
                           stdout=self._out, stderr=self._err,
                           cwd=self.dir)
        return self

    def wait_listening(self, timeout=5.0):
        """For a UAS: wait until SIPp's UDP port is bound; return self."""
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                self._finish()
                raise HarnessError("sipp %s exited with %s: %s"
                                   % (self.name, self.returncode, self.stderr))
            if udp_bound(self.port):
                return self
            if time.monotonic() > deadline:
                raise HarnessError("sipp %s did not bind %d"
                                   % (self.name, self.port))
            time.sleep(0.02)

    def _finish(self):
        if self.proc in _live:
            _live.remove(self.proc)
        if self.duration is None:
            self.duration = time.monotonic() - self.started
        self.returncode = self.proc.returncode
        for f in (self._out, self._err):
            f.close()
        with open(self.stderr_path, "r", errors="replace") as f:
            self.stderr = f.read()

    def wait(self, timeout=None):
        """Wait for SIPp to end; return its exit code.  Past the timeout
        (default: the scenario timeout + 10 s) SIPp is killed and
        HarnessError raised."""
        if timeout is None:
            timeout = self.timeout + 10
        try:
            self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            _stop_pid(self.proc, 2)
            self._finish()
            raise HarnessError("sipp %s still running after %.1fs\n%s\n%s"
                               % (self.name, timeout, self.stderr,
                                  self.errors()))
        self._finish()
        return self.returncode

    def run(self, timeout=None):
        """start() and wait(); return the exit code."""
        return self.start().wait(timeout)

    def result(self):
        """(exit code, stderr) once SIPp has ended."""
        return self.returncode, self.stderr

    def stop(self):
        """Stop SIPp by its PID if it still runs; return its exit code."""
        if self.proc is not None and self.duration is None:
            _stop_pid(self.proc, 3)
            self._finish()
        return self.returncode

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()
        return False

    def _read(self, path):
        try:
            with open(path, "r", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def errors(self):
        return self._read(self.error_file)

    def messages(self):
        return self._read(self.message_file)

    def log(self):
        """What the scenario's <log> actions wrote."""
        return self._read(self.log_file)

    def log_fields(self):
        """The key=value pairs logged by the scenario as 'NAME: value'
        lines (e.g. the UAS scenarios log ruri, from and pai)."""
        out = {}
        for line in self.log().splitlines():
            if ": " in line:
                k, v = line.split(": ", 1)
                out[k.strip()] = v.strip()
        return out

    def describe(self):
        return ("sipp %s rc=%s in %.2fs\nargs: %s\nstderr:\n%s\nerrors:\n%s"
                % (self.name, self.returncode, self.duration or -1,
                   " ".join(self.args()), self.stderr, self.errors()))


# ---------------------------------------------------------------------------
# kamailio
# ---------------------------------------------------------------------------

_KAMAILIO_CFG = r"""#!KAMAILIO
# Generated by tests/integration/peers.py: registrar with digest auth and
# a proxy for registered users, no database.
debug=2
log_stderror=yes
log_facility=LOG_LOCAL0
fork=yes
children=2
disable_tcp=yes
auto_aliases=no
listen=udp:127.0.0.1:{port}
alias="127.0.0.1:{port}"
dns=no
rev_dns=no
use_dns_cache=no

mpath="{mpath}"
loadmodule "tm.so"
loadmodule "sl.so"
loadmodule "rr.so"
loadmodule "pv.so"
loadmodule "maxfwd.so"
loadmodule "textops.so"
loadmodule "siputils.so"
loadmodule "sanity.so"
loadmodule "usrloc.so"
loadmodule "registrar.so"
loadmodule "auth.so"
loadmodule "ctl.so"
loadmodule "kex.so"
loadmodule "xlog.so"

modparam("usrloc", "db_mode", 0)
modparam("registrar", "max_expires", 3600)
modparam("rr", "enable_full_lr", 1)
modparam("ctl", "binrpc", "unix:{ctl}")

request_route {{
    if (!mf_process_maxfwd_header("10")) {{
        sl_send_reply("483", "Too Many Hops");
        exit;
    }}
    if (!sanity_check("17895", "7")) {{
        exit;
    }}
    if (is_method("REGISTER")) {{
        xlog("L_NOTICE", "ccp-register user=$fU expires=$hdr(Expires) contact=$ct\n");
        $var(pw) = "{password}";
{user_passwords}        if (!pv_www_authenticate("$td", "$var(pw)", "0")) {{
            www_challenge("$td", "0");
            exit;
        }}
        if (!save("location")) {{
            sl_reply_error();
        }}
        exit;
    }}
    if (has_totag()) {{
        if (loose_route()) {{
            t_relay();
            exit;
        }}
        if (is_method("ACK")) {{
            if (t_check_trans()) {{
                t_relay();
            }}
            exit;
        }}
        sl_send_reply("404", "Not here");
        exit;
    }}
    if (is_method("CANCEL")) {{
        if (t_check_trans()) {{
            t_relay();
        }}
        exit;
    }}
    t_check_trans();
    if (is_method("OPTIONS") && uri == myself && $rU == $null) {{
        sl_send_reply("200", "Keepalive");
        exit;
    }}
    if (uri == myself) {{
        if (!lookup("location")) {{
            sl_send_reply("404", "Not Found");
            exit;
        }}
    }}
    if (is_method("INVITE|SUBSCRIBE")) {{
        record_route();
    }}
    if (!t_relay()) {{
        sl_reply_error();
    }}
    exit;
}}
"""


class Kamailio:
    """kamailio 5.6 on 127.0.0.1:port/udp: registrar with digest auth (any
    user, one password, no database) and proxy to registered contacts.

    with Kamailio(password="secret").start() as k:
        account = '<sip:agent@127.0.0.1:%d>;auth_pass=secret;' \
                  'outbound="sip:127.0.0.1:%d";regint=60' % (k.port, k.port)
        k.registered("sip:agent@127.0.0.1")  -> list of contacts
    """

    def __init__(self, password="secret", port=None, workdir=None,
                 debug=2, passwords=None):
        self.password = password
        # user (From's user part) -> their own password; others: password
        self.passwords = dict(passwords or {})
        self.port = port or free_port("udp")
        self.dir = workdir or _mkdtemp("kamailio-")
        os.makedirs(self.dir, exist_ok=True)
        self.run_dir = os.path.join(self.dir, "run")
        os.makedirs(self.run_dir, exist_ok=True)
        self.cfg_path = os.path.join(self.dir, "kamailio.cfg")
        self.ctl_path = os.path.join(self.run_dir, "kamailio_ctl")
        self.log_path = os.path.join(self.dir, "kamailio.log")
        self.debug = debug
        self.proc = None
        self.uri = "sip:%s:%d" % (LOOPBACK, self.port)

    def _write_config(self):
        user_pw = "".join(
            '        if ($fU == "%s") { $var(pw) = "%s"; }\n' % (u, p)
            for u, p in sorted(self.passwords.items()))
        cfg = _KAMAILIO_CFG.format(port=self.port, mpath=KAMAILIO_MODULE_PATH,
                                   ctl=self.ctl_path, password=self.password,
                                   user_passwords=user_pw)
        cfg = cfg.replace("debug=2", "debug=%d" % self.debug, 1)
        with open(self.cfg_path, "w") as f:
            f.write(cfg)

    def start(self, timeout=10.0):
        self._write_config()
        self._log = open(self.log_path, "ab")
        args = [KAMAILIO, "-f", self.cfg_path, "-DD", "-E",
                "-w", self.dir, "-Y", self.run_dir,
                "-m", "32", "-M", "4"]
        self.proc = _spawn(args, stdin=subprocess.DEVNULL,
                           stdout=self._log, stderr=subprocess.STDOUT,
                           cwd=self.dir, start_new_session=True)
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self

    def options(self, timeout=1.0, ruri=None):
        """Send one OPTIONS to kamailio; return the status line or None."""
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        try:
            s.bind((LOOPBACK, 0))
            lport = s.getsockname()[1]
            branch = "z9hG4bK" + uuid.uuid4().hex
            ruri = ruri or "sip:%s:%d" % (LOOPBACK, self.port)
            msg = ("OPTIONS %s SIP/2.0\r\n"
                   "Via: SIP/2.0/UDP %s:%d;branch=%s;rport\r\n"
                   "Max-Forwards: 70\r\n"
                   "From: <sip:probe@%s:%d>;tag=%s\r\n"
                   "To: <%s>\r\n"
                   "Call-ID: %s@%s\r\n"
                   "CSeq: 1 OPTIONS\r\n"
                   "Content-Length: 0\r\n\r\n"
                   % (ruri, LOOPBACK, lport, branch, LOOPBACK, lport,
                      uuid.uuid4().hex[:8], ruri, uuid.uuid4().hex, LOOPBACK))
            s.sendto(msg.encode(), (LOOPBACK, self.port))
            s.settimeout(timeout)
            data, _ = s.recvfrom(65536)
            return data.split(b"\r\n", 1)[0].decode("utf-8", "replace")
        except (socket.timeout, OSError):
            return None
        finally:
            s.close()

    def _wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise HarnessError("kamailio exited with %s\n%s"
                                   % (self.proc.returncode,
                                      _tail(self.log_path)))
            line = self.options(timeout=0.3)
            if line and " 200 " in line + " ":
                return
            if time.monotonic() > deadline:
                raise HarnessError("kamailio did not answer OPTIONS on %d "
                                   "within %.1fs (last: %r)\n%s"
                                   % (self.port, timeout, line,
                                      _tail(self.log_path)))

    def rpc(self, *args, timeout=5.0):
        """Run kamcmd against this kamailio's ctl socket; return stdout."""
        r = subprocess.run([KAMCMD, "-s", "unix:" + self.ctl_path]
                           + list(args), stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=timeout)
        if r.returncode != 0:
            raise HarnessError("kamcmd %s failed (%d): %s%s"
                               % (" ".join(args), r.returncode, r.stdout,
                                  r.stderr))
        return r.stdout

    def registered(self, aor):
        """Contacts registered for aor (e.g. "sip:agent@127.0.0.1" or just
        "agent"), as a list of contact URIs; [] when none."""
        if aor.startswith("sip:"):
            aor = aor[4:]
        aor = aor.split(";")[0]
        # usrloc keys by user (use_domain is off): strip host and port.
        user = aor.split("@")[0]
        r = subprocess.run([KAMCMD, "-s", "unix:" + self.ctl_path,
                            "ul.lookup", "location", user],
                           stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=5)
        if r.returncode != 0:
            if "not found" in (r.stdout + r.stderr).lower():
                return []
            raise HarnessError("kamcmd ul.lookup failed (%d): %s%s"
                               % (r.returncode, r.stdout, r.stderr))
        contacts = []
        for line in r.stdout.splitlines():
            line = line.strip()
            if line.startswith("Address:"):
                contacts.append(line.split(":", 1)[1].strip())
        return contacts

    def wait_registered(self, aor, timeout=10.0):
        deadline = time.monotonic() + timeout
        while True:
            c = self.registered(aor)
            if c:
                return c
            if time.monotonic() > deadline:
                raise HarnessError("%s not registered with kamailio within "
                                   "%.1fs\n%s" % (aor, timeout,
                                                  _tail(self.log_path)))
            time.sleep(0.1)

    def stop(self, timeout=5.0):
        """SIGTERM kamailio's main process by PID (it stops its children);
        if it had to be killed, also kill the process group it leads (it
        was started in a session of its own) so no child lingers."""
        rc = _stop_pid(self.proc, timeout)
        if rc == -signal.SIGKILL:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        if getattr(self, "_log", None):
            self._log.close()
            self._log = None
        return rc

    def log_text(self):
        try:
            with open(self.log_path, "r", errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def registers(self, user=None):
        """The REGISTER requests kamailio received (from its log), each as
        (user, expires or None): the Expires header, else the Contact's
        expires parameter; for one user or all."""
        out = []
        for m in re.finditer(r"ccp-register user=(\S*) expires=(\S*) "
                             r"contact=(.*)", self.log_text()):
            u, exp, contact = m.group(1), m.group(2), m.group(3)
            if exp == "<null>":
                p = re.search(r";\s*expires=(\d+)", contact)
                exp = p.group(1) if p else None
            if user is None or u == user:
                out.append((u, exp))
        return out

    def __enter__(self):
        if self.proc is None:
            self.start()
        return self

    def __exit__(self, *exc):
        self.stop()
        return False
