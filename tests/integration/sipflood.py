"""SIP floods at one ccpd, for the flood test and its benchmark: SIPp's
INVITEs (a UAC that retransmits over UDP) at an Offline agent, OPTIONS,
and malformed SIP from a plain UDP socket; the control round trip
sampled on the Unix socket meanwhile; the CPU time of ccpd and baresip
read from /proc."""

import os
import socket
import threading
import time
import uuid

import peers


class RttSampler(threading.Thread):
    """agent.getState on its own connection every `every` s; .rtts in
    ms. Start before the flood, stop after it."""

    def __init__(self, d, every=0.005):
        super().__init__(daemon=True, name="rtt")
        self.c = d.client()
        self.every = every
        self.rtts = []
        self.errors = []
        self.stopping = threading.Event()

    def run(self):
        while not self.stopping.is_set():
            t0 = time.perf_counter()
            try:
                self.c.call("agent.getState", timeout=5)
            except Exception as e:
                self.errors.append(str(e))
                continue
            self.rtts.append((time.perf_counter() - t0) * 1000.0)
            self.stopping.wait(self.every)

    def stop(self):
        self.stopping.set()
        self.join(10)
        self.c.close()
        return self


def pct(xs, p):
    xs = sorted(xs)
    if not xs:
        return None
    return xs[min(len(xs) - 1, int(round(p / 100.0 * (len(xs) - 1))))]


def cpu_seconds(pid):
    """utime + stime of a process, in seconds."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(") ", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


class InviteFlood(peers.Sipp):
    """SIPp's uac_expect_refusal: `calls` INVITEs at `rate` per second;
    each must end in 480, 486 or 603 (an answer fails it)."""

    def __init__(self, port, user, calls, rate, timeout=20):
        super().__init__("uac_expect_refusal", target=port, service=user,
                         timeout=timeout, trace_msg=False,
                         from_user="+442079460000", from_name="Flood")
        self.calls, self.rate = calls, rate
        self.stat_file = os.path.join(self.dir, "stat.csv")

    def args(self):
        a = super().args()
        i = a.index("-m")
        a[i + 1] = str(self.calls)
        # -trace_err would write a line per unexpected message: keep it,
        # but no per-call logs
        return a + ["-r", "%g" % self.rate, "-rp", "1000",
                    "-l", str(self.calls), "-trace_stat", "-stf",
                    self.stat_file, "-fd", "1"]

    def totals(self):
        """Final counts, and the rate at which the calls were created
        (calls / the elapsed time of the first statistics row that has
        them all: a lower bound)."""
        with open(self.stat_file) as f:
            rows = [ln.rstrip("\n").split(";") for ln in f if ln.strip()]
        head = rows[0]
        col = {h: i for i, h in enumerate(head)}

        def secs(v):
            h, m, s = v.split(":")
            return int(h) * 3600 + int(m) * 60 + float(s)
        last = rows[-1]
        out = {"total": int(last[col["TotalCallCreated"]]),
               "successful": int(last[col["SuccessfulCall(C)"]]),
               "failed": int(last[col["FailedCall(C)"]])}
        for r in rows[1:]:
            if int(r[col["TotalCallCreated"]]) >= self.calls:
                t = secs(r[col["ElapsedTime(C)"]])
                out["rate"] = self.calls / t if t else None
                break
        return out


def _msg(method, ruri, lport, extra="", body="", clen=None):
    branch = "z9hG4bK" + uuid.uuid4().hex
    cl = len(body) if clen is None else clen
    return ("%s %s SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:%d;branch=%s;rport"
            "\r\nMax-Forwards: 70\r\nFrom: <sip:flood@127.0.0.1>;tag=%s\r\n"
            "To: <%s>\r\nCall-ID: %s@127.0.0.1\r\nCSeq: 1 %s\r\n%s"
            "Content-Length: %d\r\n\r\n%s"
            % (method, ruri, lport, branch, uuid.uuid4().hex[:8], ruri,
               uuid.uuid4().hex, method, extra, cl, body)).encode()


def malformed(ruri, lport, rng):
    """One malformed SIP datagram, of the kinds in KINDS, in turn."""
    kind = KINDS[rng.randrange(len(KINDS))]
    good = _msg("INVITE", ruri, lport, "Content-Type: application/sdp\r\n",
                "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\n"
                "c=IN IP4 127.0.0.1\r\nt=0 0\r\nm=audio 9 RTP/AVP 0\r\n")
    if kind == "truncated":
        return kind, good[:rng.randrange(10, len(good) // 2)]
    if kind == "content-length":
        return kind, _msg("INVITE", ruri, lport,
                          "Content-Type: application/sdp\r\n", "v=0\r\n",
                          clen=rng.choice([0, 3, 4000, 99999999, -1]))
    if kind == "huge-header":
        return kind, _msg("OPTIONS", ruri, lport,
                          "X-Huge: %s\r\n" % ("A" * rng.randrange(8000,
                                                                  60000)))
    if kind == "binary":
        return kind, os.urandom(rng.randrange(1, 1400))
    if kind == "bad-start-line":
        return kind, b"INVITE\r\n\r\n" + os.urandom(20)
    return kind, _msg("OPTIONS", ruri, lport)


KINDS = ("truncated", "content-length", "huge-header", "binary",
         "bad-start-line", "options")


def raw_flood(port, ruri, seconds, rate, seed=7):
    """Malformed SIP and OPTIONS at rate datagrams/s for seconds; returns
    {kind: count} and how many answers came back to the OPTIONS."""
    import random
    rng = random.Random(seed)
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((peers.LOOPBACK, 0))
    s.setblocking(False)
    lport = s.getsockname()[1]
    counts = {}
    answers = 0
    t_end = time.monotonic() + seconds
    n = 0
    t0 = time.monotonic()
    while time.monotonic() < t_end:
        kind, data = malformed(ruri, lport, rng)
        try:
            s.sendto(data, (peers.LOOPBACK, port))
        except OSError:
            pass
        counts[kind] = counts.get(kind, 0) + 1
        n += 1
        # pace to rate
        ahead = t0 + n / rate - time.monotonic()
        if ahead > 0:
            time.sleep(ahead)
        while True:
            try:
                data = s.recv(65536)
            except (BlockingIOError, OSError):
                break
            if data.startswith(b"SIP/2.0 200"):
                answers += 1
    s.close()
    return counts, answers
