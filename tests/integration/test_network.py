"""network.check against loopback servers: coturn from Debian for STUN and
TURN (good and wrong credentials), kamailio for the SIP OPTIONS, and a
socket that never answers for the SIP timeout."""

import os
import re
import socket
import struct
import subprocess
import threading
import time

import pytest

import peers
from conftest import NETNS_ADDRESS
from test_schema import assert_events_match_schema

TURNSERVER = os.environ.get("TURNSERVER", "/usr/bin/turnserver")

needs_coturn = pytest.mark.skipif(not os.path.exists(TURNSERVER),
                                  reason="coturn (turnserver) not installed")


def _stun_binding(port, timeout=0.3):
    """One STUN binding request to 127.0.0.1:port; True on an answer."""
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        s.settimeout(timeout)
        s.sendto(struct.pack("!HHI12s", 0x0001, 0, 0x2112A442,
                             os.urandom(12)), (peers.LOOPBACK, port))
        s.recvfrom(2048)
        return True
    except OSError:
        return False
    finally:
        s.close()


class Coturn:
    """coturn in the foreground on 127.0.0.1, long-term credentials
    agent:secret in realm test, no CLI; stopped by its PID. UDP and TCP
    on `port`; with tls=True also TLS on `tls_port`, with a self-signed
    certificate made here by openssl."""

    def __init__(self, tls=False):
        self.port = peers.free_port("both")
        self.tls_port = peers.free_port("tcp") if tls else None
        self.dir = peers._mkdtemp("coturn-")
        self.conf = os.path.join(self.dir, "turnserver.conf")
        self.log_path = os.path.join(self.dir, "turnserver.log")
        self.proc = None

    def _make_cert(self):
        cert = os.path.join(self.dir, "cert.pem")
        key = os.path.join(self.dir, "key.pem")
        r = subprocess.run(["openssl", "req", "-x509", "-newkey",
                            "rsa:2048", "-nodes", "-days", "1",
                            "-subj", "/CN=127.0.0.1", "-keyout", key,
                            "-out", cert], capture_output=True, text=True,
                           timeout=60)
        if r.returncode != 0:
            raise peers.HarnessError("openssl req failed: " + r.stderr)
        return ("tls-listening-port=%d\ncert=%s\npkey=%s\nno-dtls\n"
                % (self.tls_port, cert, key))

    def start(self, timeout=10.0):
        low, high = peers.rtp_port_block(20)
        tls = self._make_cert() if self.tls_port else "no-tls\nno-dtls\n"
        with open(self.conf, "w") as f:
            f.write("listening-ip=127.0.0.1\n"
                    "listening-port=%d\n"
                    "relay-ip=127.0.0.1\n"
                    "min-port=%d\nmax-port=%d\n"
                    "lt-cred-mech\nuser=agent:secret\nrealm=test\n"
                    "%sno-cli\nno-tcp-relay\n"
                    "allow-loopback-peers\n"
                    "pidfile=%s\n"
                    "userdb=%s\n"
                    "log-file=stdout\nsimple-log\nverbose\n"
                    % (self.port, low, high - 1, tls,
                       os.path.join(self.dir, "turnserver.pid"),
                       os.path.join(self.dir, "turndb")))
        self._log = open(self.log_path, "ab")
        self.proc = peers._spawn([TURNSERVER, "-c", self.conf],
                                 stdin=subprocess.DEVNULL, stdout=self._log,
                                 stderr=subprocess.STDOUT, cwd=self.dir)
        deadline = time.monotonic() + timeout
        while not _stun_binding(self.port):
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.stop()
                raise peers.HarnessError("coturn did not start:\n%s"
                                         % peers._tail(self.log_path))
        if self.tls_port:
            try:
                peers._wait_tcp(self.tls_port, deadline, self.proc,
                                "coturn (TLS)", self.log_path).close()
            except BaseException:
                self.stop()
                raise
        return self

    def log_text(self):
        with open(self.log_path, errors="replace") as f:
            return f.read()

    def stop(self):
        peers._stop_pid(self.proc)
        self.proc = None

    @property
    def server(self):
        return "127.0.0.1:%d" % self.port


@pytest.fixture
def coturn():
    t = Coturn().start()
    yield t
    t.stop()


@pytest.fixture
def coturn_tls():
    t = Coturn(tls=True).start()
    yield t
    t.stop()


def run_check(d, timeout=20):
    """network.check on d: its answer, then its checkDone, with every
    checkResult seen before it."""
    c = d.client()
    c.call("events.subscribe")
    res = c.call("network.check")
    cid = res["checkId"]
    assert set(res) == {"checkId"}
    done = c.wait_event("network.checkDone", timeout,
                        lambda e: e["data"]["checkId"] == cid)["data"]
    results = [e["data"] for e in c.seen
               if e["type"] == "network.checkResult"
               and e["data"]["checkId"] == cid]
    assert sorted(r["name"] for r in results) == ["sip", "stun", "turn"]
    for r in results:
        assert r["ms"] >= 0 and r["detail"]
    return done, {i["name"]: i for i in done["items"]}


@needs_coturn
def test_stun_and_turn_with_good_credentials(make_ccpd, coturn):
    d = make_ccpd(options={"stun_server": coturn.server,
                           "turn_server": coturn.server,
                           "turn_user": "agent", "turn_password": "secret"})
    done, items = run_check(d)
    assert items["stun"]["ok"], items["stun"]
    host, port = items["stun"]["address"].rsplit(":", 1)
    assert host == "127.0.0.1" and 0 < int(port) < 65536
    assert "127.0.0.1:" in items["stun"]["detail"]
    assert items["turn"]["ok"], items["turn"]
    assert items["turn"]["address"].startswith("127.0.0.1:")
    # no SIP server configured: skipped, with the reason, not failed
    assert items["sip"]["skipped"] and not items["sip"]["ok"]
    assert "sip_check_uri" in items["sip"]["detail"]
    assert done["ok"]


@needs_coturn
def test_turn_with_a_wrong_password_says_401(make_ccpd, coturn):
    d = make_ccpd(options={"turn_server": coturn.server,
                           "turn_user": "agent", "turn_password": "wrong"})
    done, items = run_check(d)
    turn = items["turn"]
    assert not turn["ok"] and not turn["skipped"]
    assert "401" in turn["detail"] or \
        "unauthorized" in turn["detail"].lower(), turn
    assert turn["ms"] < 5000
    assert not done["ok"]


@needs_coturn
def test_stun_and_turn_servers_given_by_name(make_ccpd, coturn):
    """localhost comes from /etc/hosts, which libre's DNS client does not
    read: ccpd looks names up with getaddrinfo, off its event loop."""
    server = "localhost:%d" % coturn.port
    d = make_ccpd(options={"stun_server": server,
                           "turn_server": "turn:" + server,
                           "turn_user": "agent", "turn_password": "secret"})
    done, items = run_check(d)
    for name in ("stun", "turn"):
        item = items[name]
        assert item["ok"], item
        assert item["server"] == "127.0.0.1:%d" % coturn.port, item
        assert item["address"].startswith("127.0.0.1:"), item
        assert item["ms"] < 5000
    assert done["ok"]
    assert_events_match_schema(d.clients[-1])


def test_a_server_name_that_does_not_resolve(make_ccpd):
    """A name under .invalid (RFC 6761) never resolves, and ccpd answers so
    without asking a DNS server: nothing leaves loopback."""
    d = make_ccpd(options={"stun_server": "stun.ccpd-test.invalid:3478",
                           "turn_server": "turn.ccpd-test.invalid",
                           "turn_user": "agent", "turn_password": "secret"})
    t0 = time.monotonic()
    done, items = run_check(d, timeout=10)
    assert time.monotonic() - t0 < 3
    for name, setting, host in (
            ("stun", "stun_server", "stun.ccpd-test.invalid:3478"),
            ("turn", "turn_server", "turn.ccpd-test.invalid")):
        item = items[name]
        assert not item["ok"] and not item["skipped"], item
        assert item["detail"].startswith(
            "%s %s does not resolve: " % (setting, host)), item
        assert 0 <= item["ms"] < 1000, item
        assert "server" not in item and "address" not in item, item
    assert not done["ok"]
    assert_events_match_schema(d.clients[-1])
    # the daemon goes on, and a second check gives the same answer
    again, items = run_check(d, timeout=10)
    assert not again["ok"] and "does not resolve" in items["stun"]["detail"]


def test_a_server_that_is_not_host_port(make_ccpd):
    d = make_ccpd(options={"stun_server": "localhost:99999"})
    done, items = run_check(d, timeout=10)
    assert not items["stun"]["ok"], items["stun"]
    assert "is not host[:port]" in items["stun"]["detail"], items["stun"]
    assert not done["ok"]


def test_sip_options_to_kamailio(make_ccpd):
    with peers.Kamailio().start() as k:
        d = make_ccpd(options={"sip_check_uri": k.uri})
        done, items = run_check(d)
    assert items["sip"]["ok"], items["sip"]
    assert items["sip"]["detail"].startswith("200")
    assert items["stun"]["skipped"] and items["turn"]["skipped"]
    assert done["ok"]


def test_unreachable_sip_server_times_out(make_ccpd):
    # a bound socket that never reads: no ICMP, no answer
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    s.bind((peers.LOOPBACK, 0))
    try:
        d = make_ccpd(options={"sip_check_uri": "sip:127.0.0.1:%d"
                               % s.getsockname()[1]})
        t0 = time.monotonic()
        done, items = run_check(d)
        took = time.monotonic() - t0
    finally:
        s.close()
    sip = items["sip"]
    assert not sip["ok"] and not sip["skipped"]
    assert "timeout" in sip["detail"]
    assert 4500 <= sip["ms"] <= 7000 and took < 10
    assert not done["ok"]


@needs_coturn
def test_ccpctl_network_check_prints_a_table(make_ccpd, coturn):
    d = make_ccpd(options={"stun_server": coturn.server,
                           "turn_server": coturn.server,
                           "turn_user": "agent", "turn_password": "secret"})
    r = d.ctl("network", "check", timeout=30)
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0].split()[:3] == ["ITEM", "RESULT", "MS"]
    rows = {ln.split()[0]: ln.split() for ln in lines[1:]}
    assert rows["stun"][1] == "ok" and rows["turn"][1] == "ok"
    assert rows["sip"][1] == "skipped"
    assert "127.0.0.1:" in " ".join(rows["stun"])


def test_network_check_needs_no_server_and_answers_at_once(make_ccpd):
    d = make_ccpd()
    t0 = time.monotonic()
    done, items = run_check(d, timeout=5)
    assert time.monotonic() - t0 < 3
    assert all(i["skipped"] for i in items.values())
    assert done["ok"]


def _talk(d, customer, seconds=2.0):
    """The customer calls ccpd's agent, who accepts; both talk for a few
    seconds; the customer hangs up. Each side must have heard the other's
    tone (agent 880 Hz, customer 440 Hz)."""
    from test_calls import wait_wav
    c = d.c
    customer.dial(d.sip_uri)
    cid = c.wait_event("contact.incoming", 15)["data"]["contact"][
        "contactId"]
    c.call("contact.accept", {"contactId": cid})
    c.wait_event("contact.connected")
    customer.wait_event("CALL_ESTABLISHED", 10)
    time.sleep(seconds)
    customer.hangup()
    c.wait_event("contact.ended")
    heard = customer.wait_heard_wav(5)
    assert peers.heard_tone(heard, 880, [440]), \
        peers.tone_report(heard, [880, 440])
    agent_heard = wait_wav(d.snd_dir)
    assert peers.heard_tone(agent_heard, 440, [880]), \
        peers.tone_report(agent_heard, [440, 880])


def _call_from(d, **peer_kw):
    """A customer (a baresip with 440 Hz and peer_kw) calls the agent as
    in _talk; returns the stopped peer, whose log stays readable."""
    customer = peers.BaresipPeer(name="customer", tone=440,
                                 **peer_kw).start()
    try:
        _talk(d, customer)
    finally:
        customer.stop()
    return customer


def media_ccpd(make_ccpd, **options):
    snd = peers._mkdtemp("ccpd-snd-")
    opts = {"audio_source": "ausine,880", "snd_path": snd,
            "initial_status": "Available"}
    opts.update(options)
    d = make_ccpd(options=opts)
    d.snd_dir = snd
    d.c = d.client()
    d.c.call("events.subscribe")
    return d


@needs_coturn
@pytest.mark.parametrize("by", ["address", "name"])
def test_call_media_through_the_turn_relay(make_ccpd, coturn, by):
    """ccpd allocates a relay on coturn and its audio goes through it: the
    customer hears the agent's 880 Hz, the agent the customer's 440 Hz,
    and coturn logs the allocation and the channel bound to the peer.
    By name: "localhost", which baresip's own DNS client cannot find (it
    reads no /etc/hosts); ccpd resolves it and gives baresip the address."""
    server = coturn.server if by == "address" else \
        coturn.server.replace("127.0.0.1", "localhost")
    d = media_ccpd(make_ccpd, turn_server=server, turn_user="agent",
                   turn_password="secret")
    customer = _call_from(d)
    with open(coturn.log_path, errors="replace") as f:
        log = f.read()
    assert "ALLOCATE processed, success" in log, \
        log[-3000:] + "\nccpd:\n" + d.log_tail(200)
    # baresip 1.0.0's turn module binds a channel to the peer's address
    assert "CHANNEL_BIND processed, success" in log, log[-3000:]
    # ... and the peer of that channel is the customer's RTP port
    low, high = customer.rtp_ports
    bound = [int(m) for m in re.findall(r"peer 127\.0\.0\.1:(\d+) ", log)]
    assert any(low <= p <= high for p in bound), (bound, low, high)
    if by == "name":
        assert "media: %s is 127.0.0.1:" % server in d.log_text(), \
            d.log_tail(100)


class StunTap:
    """Watches loopback for STUN binding requests sent to one UDP port and
    records each request's source (ip, port) and transaction id: proof of
    who asked the server, which coturn's log does not give. Needs
    CAP_NET_RAW (an AF_PACKET socket on lo); `available` says whether it
    could be opened. Only reads; started and closed by the test."""

    def __init__(self, port):
        self.port = port
        self.requests = {}          # transaction id -> (ip, port)
        self._stop = threading.Event()
        try:
            self.sock = socket.socket(socket.AF_PACKET, socket.SOCK_RAW,
                                      socket.ntohs(0x0003))
            self.sock.bind(("lo", 0))
            self.sock.settimeout(0.1)
        except (OSError, AttributeError):
            self.sock = None
            return
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    @property
    def available(self):
        return self.sock is not None

    def _run(self):
        while not self._stop.is_set():
            try:
                frame = self.sock.recv(65535)
            except socket.timeout:
                continue
            except OSError:
                return
            # lo frames carry a 14-byte Ethernet header of zeros
            if len(frame) < 14 + 20 + 8 + 20 or frame[12:14] != b"\x08\x00":
                continue
            ip = frame[14:]
            ihl = (ip[0] & 0x0F) * 4
            if ip[9] != 17:
                continue
            sport, dport = struct.unpack("!HH", ip[ihl:ihl + 4])
            stun = ip[ihl + 8:]
            if dport != self.port or len(stun) < 20:
                continue
            mtype, _, cookie = struct.unpack("!HHI", stun[:8])
            if mtype == 0x0001 and cookie == 0x2112A442:
                self.requests[bytes(stun[8:20])] = (
                    socket.inet_ntoa(ip[12:16]), sport)

    def sources(self):
        return set(self.requests.values())

    def close(self):
        self._stop.set()
        if self.sock is not None:
            self._thread.join(2)
            self.sock.close()


@needs_coturn
def test_call_with_a_stun_server(make_ccpd, coturn):
    """stun_server alone: baresip's stun module asks coturn for the mapped
    address of the RTP and RTCP sockets before the call goes on, and the
    tones are heard both ways."""
    tap = StunTap(coturn.port)
    try:
        d = media_ccpd(make_ccpd, stun_server=coturn.server)
        _call_from(d)
        log = d.log_text()
        assert "Using medianat 'stun'" in log, d.log_tail(200)
        # stun.c calls the call's establish handler only from the
        # binding response's handler (mapped_handler1/2): this line means
        # coturn answered for the call's sockets
        assert "media-nat 'stun' established/gathered" in log, \
            d.log_tail(200)
        if tap.available:
            low, high = map(int, d.options["rtp_ports"].split("-"))
            rtp = sorted(p for ip, p in tap.sources()
                         if ip == "127.0.0.1" and low <= p <= high)
            # one request from the RTP socket, one from the RTCP socket
            assert len(rtp) >= 2 and rtp[0] % 2 == 0 and \
                rtp[0] + 1 in rtp, (tap.sources(), low, high)
    finally:
        tap.close()


def _non_loopback_ipv4():
    """This host's IPv4 addresses other than 127/8, from the kernel."""
    out = subprocess.run(["ip", "-4", "-o", "addr", "show", "scope",
                          "global"], capture_output=True, text=True,
                         timeout=5).stdout
    return set(re.findall(r"inet (\d+\.\d+\.\d+\.\d+)/", out))


def test_call_with_ice_to_a_peer_with_ice(own_netns, make_ccpd):
    """ice = true against a customer whose baresip also does ICE: the
    connectivity checks complete and the tones are heard both ways.

    baresip 1.0.0's ice module skips loopback addresses when it gathers
    host candidates (if_handler in modules/ice/ice.c: "Skip loopback and
    link-local addresses") and ignores net_interface, and its RTP sockets
    listen on every address (stream.c: "we listen on all interfaces"), so
    the test runs in a network namespace of its own whose lo also holds
    a non-loopback address, where the checks and the media run."""
    if not own_netns:
        return
    addrs = _non_loopback_ipv4()
    assert addrs == {NETNS_ADDRESS}, addrs
    d = media_ccpd(make_ccpd, ice="true")
    customer = _call_from(d, extra_modules=["ice"],
                          account_params="medianat=ice")
    log = d.log_text()
    assert "Using medianat 'ice'" in log, d.log_tail(200)
    assert "ice: audio: connectivity check is complete" in log, \
        d.log_tail(200)
    m = re.search(r"mnat 'ice' connected: raddr (\d+\.\d+\.\d+\.\d+):\d+",
                  log)
    assert m and m.group(1) in addrs, (m and m.group(0), addrs)
    plog = customer.log_text()
    assert "connectivity check is complete" in plog, plog[-3000:]


@needs_coturn
@pytest.mark.parametrize("transport", ["tcp", "tls"])
def test_turn_allocation_over_tcp_and_tls(make_ccpd, coturn_tls, transport):
    """network.check allocates a relay over turn_transport: a TCP
    connection to coturn's listening port, or TLS to its TLS port (the
    certificate is self-signed and not checked)."""
    port = coturn_tls.port if transport == "tcp" else coturn_tls.tls_port
    d = make_ccpd(options={"turn_server": "127.0.0.1:%d" % port,
                           "turn_transport": transport,
                           "turn_user": "agent", "turn_password": "secret"})
    done, items = run_check(d)
    turn = items["turn"]
    assert turn["ok"], turn
    assert turn["address"].startswith("127.0.0.1:")
    assert "over %s" % transport.upper() in turn["detail"], turn
    assert done["ok"]
    # coturn says on which listener (the TCP or the TLS port) the
    # allocating session came when ccpd, its check done, closes the
    # connection (a close or a reset, as the last answer may be unread)
    closed = re.compile(r"closed \(2nd stage\), user <agent> .*, local "
                        r"127\.0\.0\.1:%d, .*reason: (TLS/)?TCP " % port)
    deadline = time.monotonic() + 5
    while not closed.search(coturn_tls.log_text()):
        assert time.monotonic() < deadline, coturn_tls.log_text()[-3000:]
        time.sleep(0.05)
    log = coturn_tls.log_text()
    assert "user <agent>: incoming packet ALLOCATE processed, success" \
        in log, log[-3000:]
    if transport == "tls":
        assert re.search(r"new, realm=<test>, username=<agent>, .*"
                         r"method=TLSv1\.[23]", log), log[-3000:]


@needs_coturn
@pytest.mark.parametrize("transport", ["tcp", "tls"])
def test_turn_allocation_over_tcp_and_tls_with_a_wrong_password(
        make_ccpd, coturn_tls, transport):
    port = coturn_tls.port if transport == "tcp" else coturn_tls.tls_port
    d = make_ccpd(options={"turn_server": "127.0.0.1:%d" % port,
                           "turn_transport": transport,
                           "turn_user": "agent", "turn_password": "wrong"})
    done, items = run_check(d)
    turn = items["turn"]
    assert not turn["ok"] and not turn["skipped"]
    assert turn["detail"].startswith("401"), turn
    assert turn["ms"] < 5000
    assert not done["ok"]


@needs_coturn
@pytest.mark.parametrize("transport", ["tcp", "tls"])
def test_ice_with_a_tcp_or_tls_turn_server_talks_without_the_relay(
        own_netns, make_ccpd, request, transport):
    """baresip 1.0.0 relays media over UDP only (ice.c allocates with
    IPPROTO_UDP, stunuri.c drops ?transport=, and ice refuses turns: with
    ENOTSUP, which used to fail every call): ccpd does not give it a TCP
    or TLS relay, says so in its log, and the ICE call still carries the
    tones both ways over host candidates (in a network namespace of its
    own, as above). coturn sees no allocation."""
    if not own_netns:
        return
    coturn_tls = request.getfixturevalue("coturn_tls")
    port = coturn_tls.port if transport == "tcp" else coturn_tls.tls_port
    d = media_ccpd(make_ccpd, ice="true",
                   turn_server="127.0.0.1:%d" % port,
                   turn_transport=transport, turn_user="agent",
                   turn_password="secret")
    customer = _call_from(d, extra_modules=["ice"],
                          account_params="medianat=ice")
    log = d.log_text()
    assert ("turn_transport is %s, but baresip 1.0.0 relays media over "
            "UDP only" % transport) in log, d.log_tail(200)
    assert "connectivity check is complete" in log, d.log_tail(200)
    assert "TURN-server" not in log and "turns:" not in log, \
        d.log_tail(200)
    assert "ALLOCATE" not in coturn_tls.log_text()
