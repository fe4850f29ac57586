"""The contact center on loopback: contrib/kamailio/acd.cfg run as it
ships (registrar with digest auth, presence server, one queue), with its
db_text tables in a temporary directory.

    with AcdKamailio({"agent1": "pw1", "agent2": "pw2"}).start() as acd:
        ccpd options: acd.agent_options("agent1")
        caller dials acd.queue_uri

Standard library only; stopped by PID like every peer in peers.py.
"""

import os
import time
import shutil
import subprocess

import peers

HERE = os.path.dirname(os.path.abspath(__file__))
ACD_CFG = os.environ.get(
    "CCPD_ACD_CFG",
    os.path.join(HERE, "..", "..", "contrib", "kamailio", "acd.cfg"))
DBTEXT_SCHEMA = "/usr/share/kamailio/dbtext/kamailio"
_TABLES = ("version", "subscriber", "presentity", "active_watchers",
           "watchers", "xcap", "pua")


class AcdKamailio(peers.Kamailio):
    """contrib/kamailio/acd.cfg on 127.0.0.1:port/udp. agents maps each
    member of the queue to its password, in round-robin order."""

    def __init__(self, agents, ring_ms=4000, retry_after=30, port=None,
                 queue="queue", debug=2):
        super().__init__(port=port, debug=debug)
        self.agents = dict(agents)
        self.ring_ms = ring_ms
        self.retry_after = retry_after
        self.queue = queue
        self.db_dir = os.path.join(self.dir, "db")

    @property
    def queue_uri(self):
        return "sip:%s@%s:%d" % (self.queue, peers.LOOPBACK, self.port)

    def agent_options(self, user, **extra):
        """ccpd settings for a member of the queue, presence on."""
        o = {
            "sip_user": user,
            "sip_password": self.agents[user],
            "sip_registrar": "sip:%s:%d" % (peers.LOOPBACK, self.port),
            "reg_interval": "60",
            "presence": "on",
            "presence_expires": "120",
        }
        o.update(extra)
        return o

    def _write_config(self):
        os.makedirs(self.db_dir, exist_ok=True)
        for t in _TABLES:
            shutil.copy(os.path.join(DBTEXT_SCHEMA, t),
                        os.path.join(self.db_dir, t))
        shutil.copy(os.path.join(DBTEXT_SCHEMA, "htable"),
                    os.path.join(self.db_dir, "acd_agents"))
        with open(os.path.join(self.db_dir, "version"), "a") as f:
            f.write("0:acd_agents:2\n")
        with open(os.path.join(self.db_dir, "subscriber"), "a") as f:
            for i, (user, pw) in enumerate(self.agents.items(), 1):
                # ha1 and ha1b are computed (calculate_ha1); db_text wants a value
                f.write("%d:%s:%s:%s:-:-\n" % (i, user, peers.LOOPBACK, pw))
        with open(os.path.join(self.db_dir, "acd_agents"), "a") as f:
            for i, user in enumerate(self.agents, 0):
                # key_name: the position; key_type 0, value_type 0
                # (text); key_value: the user; expires 0
                f.write("%d:%d:0:0:%s:0\n" % (i + 1, i, user))
        shutil.copy(ACD_CFG, self.cfg_path)

    def start(self, timeout=10.0):
        self._write_config()
        self._log = open(self.log_path, "ab")
        args = [peers.KAMAILIO, "-f", self.cfg_path, "-DD", "-E",
                "-w", self.dir, "-Y", self.run_dir, "-m", "64", "-M", "8",
                "-A", "ACD_LISTEN=udp:%s:%d" % (peers.LOOPBACK, self.port),
                "-A", 'ACD_DB="text://%s"' % self.db_dir,
                "-A", 'ACD_CTL="unix:%s"' % self.ctl_path,
                "-A", 'ACD_MPATH="%s"' % peers.KAMAILIO_MODULE_PATH,
                "-A", 'ACD_QUEUE="%s"' % self.queue,
                "-A", "ACD_RING_MS=%d" % self.ring_ms,
                "-A", 'ACD_RETRY_AFTER="%d"' % self.retry_after]
        if self.debug != 2:
            args += ["--debug=%d" % self.debug]
        self.proc = peers._spawn(args, stdin=subprocess.DEVNULL,
                                 stdout=self._log, stderr=subprocess.STDOUT,
                                 cwd=self.dir, start_new_session=True)
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop()
            raise
        return self


class RawInvite:
    """One INVITE from a plain UDP socket (no SDP answer expected: the
    tests that use it end the call before any answer). Reads responses,
    ACKs a final failure, CANCELs on request."""

    def __init__(self, port, ruri, headers=(), from_user="+15550100",
                 from_params=""):
        import socket
        import uuid
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind((peers.LOOPBACK, 0))
        self.lport = self.sock.getsockname()[1]
        self.port = port
        self.ruri = ruri
        self.call_id = uuid.uuid4().hex + "@" + peers.LOOPBACK
        self.branch = "z9hG4bK" + uuid.uuid4().hex
        self.tag = uuid.uuid4().hex[:10]
        self.from_hdr = "<sip:%s@%s:%d%s>;tag=%s" % (
            from_user, peers.LOOPBACK, self.lport, from_params, self.tag)
        self.to_hdr = "<%s>" % ruri
        self.responses = []
        sdp = ("v=0\r\no=raw 1 1 IN IP4 127.0.0.1\r\ns=-\r\n"
               "c=IN IP4 127.0.0.1\r\nt=0 0\r\n"
               "m=audio %d RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n"
               % (self.lport + 1))
        extra = "".join("%s: %s\r\n" % h for h in headers)
        self.msg = (
            "INVITE %s SIP/2.0\r\n"
            "Via: SIP/2.0/UDP %s:%d;branch=%s;rport\r\n"
            "Max-Forwards: 70\r\nFrom: %s\r\nTo: %s\r\nCall-ID: %s\r\n"
            "CSeq: 1 INVITE\r\nContact: <sip:%s@%s:%d>\r\n%s"
            "Content-Type: application/sdp\r\nContent-Length: %d\r\n\r\n%s"
            % (ruri, peers.LOOPBACK, self.lport, self.branch, self.from_hdr,
               self.to_hdr, self.call_id, from_user, peers.LOOPBACK,
               self.lport, extra, len(sdp), sdp))
        self.sock.sendto(self.msg.encode(), (peers.LOOPBACK, port))

    def _send(self, method, to_hdr):
        m = ("%s %s SIP/2.0\r\nVia: SIP/2.0/UDP %s:%d;branch=%s;rport\r\n"
             "Max-Forwards: 70\r\nFrom: %s\r\nTo: %s\r\nCall-ID: %s\r\n"
             "CSeq: 1 %s\r\nContent-Length: 0\r\n\r\n"
             % (method, self.ruri, peers.LOOPBACK, self.lport, self.branch,
                self.from_hdr, to_hdr, self.call_id, method))
        self.sock.sendto(m.encode(), (peers.LOOPBACK, self.port))

    def cancel(self):
        self._send("CANCEL", self.to_hdr)

    def final(self, timeout=15.0):
        """The final response (status code, text); ACKed when a failure.
        Retransmits the INVITE until a provisional answer arrives."""
        import socket
        deadline = time.monotonic() + timeout
        provisional = False
        next_resend = time.monotonic() + 0.5
        while True:
            now = time.monotonic()
            if now > deadline:
                raise peers.HarnessError(
                    "no final answer to the INVITE within %.1fs (saw %s)"
                    % (timeout, [r.split("\r\n", 1)[0]
                                 for r in self.responses]))
            if not provisional and now > next_resend:
                self.sock.sendto(self.msg.encode(),
                                 (peers.LOOPBACK, self.port))
                next_resend = now + 0.5
            self.sock.settimeout(min(0.2, deadline - now))
            try:
                data, _ = self.sock.recvfrom(65536)
            except socket.timeout:
                continue
            text = data.decode("utf-8", "replace")
            if not text.startswith("SIP/2.0 "):
                continue
            self.responses.append(text)
            code = int(text.split(" ", 2)[1])
            if "CSeq: 1 CANCEL" in text:
                continue
            if code < 200:
                provisional = True
                continue
            if code >= 300:
                to = [ln.split(":", 1)[1].strip()
                      for ln in text.split("\r\n")
                      if ln.lower().startswith("to:")]
                self._send("ACK", to[0] if to else self.to_hdr)
            return code, text

    def close(self):
        self.sock.close()


def header(text, name):
    """A header's value in a SIP message, or None."""
    for ln in text.split("\r\n"):
        if ln.lower().startswith(name.lower() + ":"):
            return ln.split(":", 1)[1].strip()
    return None


def wait_presence(d, state, since=0, timeout=10.0):
    """Wait until the last presence that ccpd d logged as accepted by its
    server, after log offset since, is `state` ("open" or "closed");
    returns the new offset."""
    deadline = time.monotonic() + timeout
    while True:
        text = d.log_text()
        last = None
        for ln in text[since:].splitlines():
            if ln.startswith("<7>presence: ") and " is " in ln:
                last = ln.rsplit(" ", 1)[1]
        if last == state:
            return len(text)
        if time.monotonic() > deadline:
            raise AssertionError("presence of %s not %s within %.1fs:\n%s"
                                 % (d.options.get("sip_user"), state,
                                    timeout, d.log_tail()))
        time.sleep(0.05)


class SipCapture:
    """tcpdump on lo for the SIP requests reaching a UDP port (whole
    packets): what ccpd really PUBLISHed, for instance."""

    def __init__(self, port, name="sip"):
        import rtpwire
        self.port = port
        self.dir = peers._mkdtemp("sipcap-")
        self.pcap = os.path.join(self.dir, "%s.pcap" % name)
        self.reader = rtpwire.PcapReader(self.pcap)
        self.udp = rtpwire._udp
        self.messages = []      # (time, text) of every datagram
        self.proc = None

    def start(self, timeout=10.0):
        import rtpwire
        self._log = open(os.path.join(self.dir, "tcpdump.log"), "ab")
        self.proc = peers._spawn(
            [rtpwire.TCPDUMP, "-i", "lo", "-n", "-U", "--immediate-mode",
             "-Z", "root", "-s", "0", "-w", self.pcap,
             "udp and dst host %s and dst port %d" % (peers.LOOPBACK,
                                                      self.port)],
            stdin=subprocess.DEVNULL, stdout=self._log,
            stderr=subprocess.STDOUT)
        deadline = time.monotonic() + timeout
        while not os.path.exists(self.pcap) or \
                os.path.getsize(self.pcap) < 24:
            if time.monotonic() > deadline:
                raise peers.HarnessError("tcpdump did not start")
            time.sleep(0.05)
        return self

    def poll(self):
        for t, ip in self.reader.poll():
            u = self.udp(ip)
            if u:
                self.messages.append((t, u[2].decode("utf-8", "replace")))
        return self.messages

    def wait_for(self, pred, since=0, timeout=10.0):
        """The first message after index since that pred(text) accepts;
        returns (index, text)."""
        deadline = time.monotonic() + timeout
        while True:
            msgs = self.poll()
            for i in range(since, len(msgs)):
                if pred(msgs[i][1]):
                    return i, msgs[i][1]
            if time.monotonic() > deadline:
                raise peers.HarnessError(
                    "no such message to port %d within %.1fs; saw %s"
                    % (self.port, timeout,
                       [m[1].split("\r\n", 1)[0] for m in msgs[since:]]))
            time.sleep(0.05)

    def stop(self):
        if self.proc is not None:
            peers._stop_pid(self.proc, 3)
            self.proc = None
            self.poll()
            self.reader.close()
            self._log.close()
