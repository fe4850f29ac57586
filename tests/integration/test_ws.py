"""The HTTP port: WebSocket JSON-RPC, static files, origins, the message
bound, slow clients, pings, /metrics, TLS and socket activation, on the
wire with the websockets library's client (wsconn.py)."""

import http.client
import json
import os
import signal
import socket
import subprocess
import threading
import time

import pytest
from websockets.frames import Opcode

import peers
from ccpd import CCPD, Client
from wsconn import HandshakeError, WebSocket, http_get

TOP = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))

USER, PASSWORD = "alice", "alice-secret-1"


def add_agent(d, name=USER, password=PASSWORD):
    """An agent user, made by an administrator on the Unix socket (the
    tests run as root, an administrator there by its credentials)."""
    d.client().call("admin.users.create", {
        "username": name, "profile": "Agent", "password": password,
        "mustChangePassword": False})


def agent_ws(d, **kw):
    w = WebSocket(d.http_port, **kw).start_reader()
    w.login(USER, PASSWORD)
    return w


def test_login_comes_before_anything_else(make_ccpd):
    d = make_ccpd()
    add_agent(d)
    w = WebSocket(d.http_port).start_reader()
    # public methods answer; the rest want a login
    assert w.call("daemon.getVersion")["name"] == "ccpd"
    assert "session.login" in w.call("daemon.listMethods")
    for m in ("agent.getState", "events.subscribe", "contact.list",
              "admin.users.list", "admin.origins.list"):
        assert w.request(m)["error"]["code"] == -32001, m
    ans = w.request("session.login", {"username": USER,
                                      "password": "wrong-password"})
    assert ans["error"]["code"] == -32001
    s = w.login(USER, PASSWORD)
    assert s["token"] and s["username"] == USER
    assert w.call("agent.getState")["state"] == "Offline"
    # an agent may not manage origins
    assert w.request("admin.origins.list")["error"]["code"] == -32002
    # another connection resumes the session by its token
    w2 = WebSocket(d.http_port).start_reader()
    assert w2.request("agent.getState")["error"]["code"] == -32001
    w2.call("session.resume", {"token": s["token"]})
    assert w2.call("agent.getState")["state"] == "Offline"
    w.close()
    w2.close()


def test_origins_from_the_store(make_ccpd):
    d = make_ccpd()
    crm = "https://crm.example.org:8443"
    with pytest.raises(HandshakeError) as e:
        WebSocket(d.http_port, origin=crm)
    assert e.value.status == 403
    root = d.client()
    root.call("admin.origins.create", {"origin": crm,
                                       "description": "the CRM"})
    WebSocket(d.http_port, origin=crm).close()
    WebSocket(d.http_port, origin=crm.upper().replace("HTTPS", "https")
              ).close()
    root.call("admin.origins.delete", {"origin": crm})
    with pytest.raises(HandshakeError) as e:
        WebSocket(d.http_port, origin=crm)
    assert e.value.status == 403


def test_same_methods_and_events_as_the_unix_socket(make_ccpd):
    d = make_ccpd()
    add_agent(d)
    w = agent_ws(d)
    sub = w.call("events.subscribe")
    assert sub["snapshot"]["agent"]["state"] == "Offline"
    assert "agent.getState" in w.call("daemon.listMethods")
    # a change made on the Unix socket reaches the WebSocket client
    d.client().call("agent.setState", {"state": "Available"})
    ev = w.wait_event("agent.stateChange")
    assert ev["data"]["newState"] == "Available"
    assert ev["seq"] == sub["seq"] + 1
    # errors keep the connection
    ans = w.request("contact.get", {"contactId": "c-9"})
    assert ans["error"]["code"] == -32006
    ans = w.request("no.such")
    assert ans["error"]["code"] == -32601
    w.send_text("{not json")
    assert w.answers.get(timeout=5)["error"]["code"] == -32700
    assert w.call("agent.getState")["state"] == "Available"
    # replay by sequence number after a reconnection
    w.close()
    d.client().call("agent.setState", {"state": "Lunch"})
    w2 = agent_ws(d)
    sub2 = w2.call("events.subscribe", {"since": ev["seq"],
                                        "instance": sub["instance"]})
    assert sub2["replayed"] == 1 and sub2["resync"] is False
    assert w2.wait_event("agent.stateChange")["data"]["newState"] == "Lunch"
    w2.close()


def test_fragments_are_assembled_and_binary_frames_refused(make_ccpd):
    d = make_ccpd()
    w = WebSocket(d.http_port)
    msg = json.dumps({"jsonrpc": "2.0", "id": 7,
                      "method": "daemon.getVersion"}).encode()
    w.send_text(msg[:5], fin=False)
    w.send_continuation(msg[5:20], fin=False)
    w.send_continuation(msg[20:], fin=True)
    assert json.loads(w.recv_message())["result"]["name"] == "ccpd"
    w.send_binary(b"\x00\x01")
    assert w.recv_message() is None
    assert w.close_code == 1003


def test_bad_or_missing_origin_is_refused_with_403(make_ccpd):
    d = make_ccpd(options={"http_origins": "https://crm.example.com"})
    for origin in ("http://evil.example", "", "null",
                   "http://127.0.0.1:%d.evil.example" % d.http_port,
                   "http://127.0.0.1:%d" % (d.http_port + 1),
                   "https://127.0.0.1:%d" % d.http_port,
                   "https://crm.example.com:444", "http://crm.example.com"):
        with pytest.raises(HandshakeError) as e:
            WebSocket(d.http_port, origin=origin)
        assert e.value.status == 403, origin
    # ccpd's own origin, its loopback names, and the configured one
    for origin in ("http://127.0.0.1:%d" % d.http_port,
                   "http://localhost:%d" % d.http_port,
                   "http://[::1]:%d" % d.http_port,
                   "https://crm.example.com", "HTTPS://CRM.example.com"):
        WebSocket(d.http_port, origin=origin).close()
    text = d.log_text()
    assert "origin 'http://evil.example' is not allowed" in text
    status, _, body = http_get(d.http_port, "/metrics")
    assert status == 200
    assert 'ccpd_ws_refused_total{reason="origin"} 8' in body.decode()


def test_message_past_the_bound_closes_with_1009(make_ccpd):
    d = make_ccpd(options={"ws_max_message": "4096"})
    w = WebSocket(d.http_port)
    big = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "agent.getState",
                      "params": {"pad": "x" * 5000}})
    w.send_text(big)
    assert w.recv_message() is None
    assert w.close_code == 1009
    assert "4096" in w.close_reason
    # the same bound across fragments
    w = WebSocket(d.http_port)
    w.send_text(b" " * 1000, fin=False)
    for _ in range(4):
        w.send_continuation(b" " * 1000, fin=False)
    assert w.recv_message() is None and w.close_code == 1009
    # just under the bound is served
    w = WebSocket(d.http_port).start_reader()
    ok = json.dumps({"jsonrpc": "2.0", "id": 1, "method": "daemon.getVersion",
                     "params": None})
    w.send_text(ok + " " * (4096 - len(ok)))
    assert w.answers.get(timeout=5)["result"]["name"] == "ccpd"
    w.close()


def test_slow_client_is_dropped_without_slowing_the_daemon(make_ccpd):
    d = make_ccpd(options={"ws_max_queue": "65536"})
    add_agent(d)
    # a client that subscribes and asks for much, and never reads
    slow = WebSocket(d.http_port, rcvbuf=4096)
    req = json.dumps({"jsonrpc": "2.0", "id": 1,
                      "method": "daemon.listMethods"})

    def flood():
        slow.send_text(json.dumps({"jsonrpc": "2.0", "id": 0,
                                   "method": "events.subscribe"}))
        try:
            for _ in range(20000):
                slow.send_text(req)
        except OSError:
            pass
    t = threading.Thread(target=flood, daemon=True)
    t.start()
    fast = agent_ws(d)
    fast.call("events.subscribe")
    c = d.client()
    worst = 0.0
    for i in range(300):
        t0 = time.monotonic()
        c.call("agent.setState", {"state": "Available" if i % 2 else
                                  "Lunch"})
        worst = max(worst, time.monotonic() - t0)
    # everyone else kept up: the reading client got every event
    last = c.call("events.subscribe")["seq"]
    deadline = time.monotonic() + 10
    seen = 0
    while seen < last:
        assert time.monotonic() < deadline, (seen, last)
        seen = fast.events.get(timeout=5)["seq"]
    assert worst < 1.0, "a request took %.3fs" % worst
    deadline = time.monotonic() + 20
    while "too slow: send queue full" not in d.log_text():
        assert time.monotonic() < deadline, "the slow client was not dropped"
        time.sleep(0.05)
    t.join(20)
    # the slow client's connection is gone
    slow.sock.settimeout(5)
    with pytest.raises((EOFError, OSError)):
        while True:
            slow.recv_frame()
    _, _, body = http_get(d.http_port, "/metrics")
    assert "ccpd_ws_dropped_total 1" in body.decode()
    assert "ccpd_ws_clients 1" in body.decode()
    # the desk's figures follow the transport's
    assert "ccpd_agent_state" in body.decode()
    fast.close()


def test_pings_keep_live_peers_and_drop_dead_ones(make_ccpd):
    d = make_ccpd(options={"ws_ping_interval": "1"})
    live = WebSocket(d.http_port).start_reader()
    dead = WebSocket(d.http_port)
    dead.answer_pings = False
    dead.sock.settimeout(10)
    got_ping = False
    t0 = time.monotonic()
    closed_after = None
    while True:
        try:
            op = dead.recv_frame().opcode
        except (EOFError, OSError):
            closed_after = time.monotonic() - t0
            break
        if op is Opcode.PING:
            got_ping = True
        if op is Opcode.CLOSE:
            closed_after = time.monotonic() - t0
            break
    assert got_ping, "no ping from ccpd"
    assert closed_after is not None and closed_after < 6, closed_after
    # the peer that answers pings is still served after several intervals
    time.sleep(1.0)
    assert live.pings >= 2
    assert live.call("daemon.getVersion")["name"] == "ccpd"
    live.close()


def test_too_many_clients_are_refused_with_503(make_ccpd):
    d = make_ccpd(options={"ws_max_clients": "2"})
    a, b = WebSocket(d.http_port), WebSocket(d.http_port)
    with pytest.raises(HandshakeError) as e:
        WebSocket(d.http_port)
    assert e.value.status == 503
    a.close()
    deadline = time.monotonic() + 5
    while True:
        try:
            WebSocket(d.http_port).close()
            break
        except HandshakeError:
            assert time.monotonic() < deadline
            time.sleep(0.05)
    b.close()


def test_static_files(make_ccpd):
    d = make_ccpd()
    status, hdrs, body = http_get(d.http_port, "/")
    assert status == 200 and hdrs["content-type"].startswith("text/html")
    assert b"Contact Control Panel" in body
    assert hdrs["x-content-type-options"] == "nosniff"
    status, hdrs, body = http_get(d.http_port, "/ccp.js")
    assert status == 200 and "javascript" in hdrs["content-type"]
    with open(os.path.join(TOP, "web", "ccp.js"), "rb") as f:
        assert body == f.read()
    assert http_get(d.http_port, "/nothing.html")[0] == 404
    status, _, body = http_get(d.http_port, "/../../etc/passwd")
    assert b"root:" not in body
    status, _, body = http_get(d.http_port, "/%2e%2e/%2e%2e/etc/passwd")
    assert b"root:" not in body


def test_web_root_setting(make_ccpd, tmp_path):
    (tmp_path / "index.html").write_text("<p>custom page</p>")
    d = make_ccpd(options={"web_root": str(tmp_path)})
    assert http_get(d.http_port, "/")[2] == b"<p>custom page</p>"


@pytest.mark.parametrize("access,status", [("loopback", 200), ("any", 200),
                                           ("off", 404)])
def test_metrics_access_rule(make_ccpd, access, status):
    d = make_ccpd(options={"metrics_access": access})
    st, hdrs, body = http_get(d.http_port, "/metrics")
    assert st == status
    if status == 200:
        assert hdrs["content-type"].startswith("text/plain; version=0.0.4")
        assert "# TYPE ccpd_ws_clients gauge" in body.decode()


def _cert(tmp_path):
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048",
                    "-nodes", "-days", "2", "-subj", "/CN=127.0.0.1",
                    "-keyout", str(key), "-out", str(cert)],
                   check=True, capture_output=True)
    return str(cert), str(key)


def test_tls_with_certificate_and_key(make_ccpd, tmp_path):
    cert, key = _cert(tmp_path)
    d = make_ccpd(options={"http_tls_cert": cert, "http_tls_key": key})
    status, _, body = http_get(d.http_port, "/", tls=True)
    assert status == 200 and b"Contact Control Panel" in body
    add_agent(d)
    w = agent_ws(d, tls=True)
    assert w.call("agent.getState")["state"] == "Offline"
    w.close()
    # its own origin is https now
    with pytest.raises(HandshakeError) as e:
        WebSocket(d.http_port, tls=True,
                  origin="http://127.0.0.1:%d" % d.http_port)
    assert e.value.status == 403
    # plain HTTP on a TLS port gets no page
    try:
        status = http_get(d.http_port, "/", timeout=3)[0]
    except (OSError, http.client.HTTPException):
        status = None
    assert status != 200


def run_ccpd(*args):
    return subprocess.run([CCPD] + list(args), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=10)


def test_settings_are_checked(tmp_path):
    r = run_ccpd("-o", "http_listen=0.0.0.0:8780")
    assert r.returncode == 2 and "http_tls_cert" in r.stderr, r.stderr
    r = run_ccpd("-o", "http_listen=192.0.2.1:443")
    assert r.returncode == 2 and "not a loopback address" in r.stderr
    r = run_ccpd("-o", "http_listen=127.0.0.1")
    assert r.returncode == 2 and "ADDRESS:PORT" in r.stderr
    r = run_ccpd("-o", "http_tls_cert=/x.pem")
    assert r.returncode == 2 and "go together" in r.stderr
    r = run_ccpd("-o", "metrics_access=everyone")
    assert r.returncode == 2 and "metrics_access" in r.stderr
    r = run_ccpd("-o", "ws_max_message=10")
    assert r.returncode == 2
    r = run_ccpd("-o", "http_listen=127.0.0.1:9999", "--dump-config")
    lines = dict(l.split(" = ", 1) for l in r.stdout.splitlines())
    assert lines["http_listen"] == "127.0.0.1:9999"
    assert lines["ws_max_message"] == "65536"
    r = run_ccpd("--dump-config")
    lines = dict(l.split(" = ", 1) for l in r.stdout.splitlines())
    assert lines["http_listen"] == "127.0.0.1:8780"
    # from a build tree, the source tree's page
    assert os.path.exists(os.path.join(lines["web_root"], "index.html"))


def test_http_port_from_socket_activation(tmp_path):
    sock = str(tmp_path / "activated.sock")
    port = peers.free_port("tcp")
    proc = subprocess.Popen(
        ["systemd-socket-activate", "-l", sock, "-l", "127.0.0.1:%d" % port,
         CCPD, "-o", "runtime_dir=%s" % (tmp_path / "run"),
         "-o", "socket=%s" % sock,
         "-o", "http_listen=127.0.0.1:1",     # not used: systemd's wins
         "-o", "http_origins=http://127.0.0.1:%d" % port,
         "-o", "sip_listen=127.0.0.1:%d" % peers.free_port("sip"),
         "-o", "rtp_ports=%d-%d" % peers.rtp_port_block()],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "log", "wb"))
    peers._live.append(proc)
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), 1).close()
                break
            except OSError:
                assert time.monotonic() < deadline, "no HTTP socket"
                time.sleep(0.05)
        # the first connection, on the HTTP port, starts ccpd
        status, _, body = http_get(port, "/", timeout=15)
        assert status == 200 and b"Contact Control Panel" in body
        w = WebSocket(port, timeout=15).start_reader()
        assert w.call("daemon.getVersion", timeout=15)["name"] == "ccpd"
        w.close()
        c = Client(sock)
        assert c.call("agent.getState")["status"] == "Offline"
        c.close()
        log = (tmp_path / "log").read_text()
        assert "ws: serving" in log and "inherited socket" in log, log
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        peers._live.remove(proc)


def failing_login(w):
    return w.request("session.login", {"username": USER,
                                       "password": "wrong-password"})


def test_forwarded_for_counts_only_from_a_trusted_proxy(make_ccpd):
    """Behind a proxy every client has the proxy's address: with the
    proxy in trusted_proxies each is throttled by its own, the one the
    proxy appended to X-Forwarded-For; from anyone else the header is
    not believed."""
    d = make_ccpd(options={"trusted_proxies": "192.0.2.9, 127.0.0.1",
                           "login_failures": "2", "login_lockout": "30"})
    add_agent(d)

    def via_proxy(chain):
        return WebSocket(d.http_port, headers={
            "X-Forwarded-For": chain}).start_reader()

    # what the client wrote comes first; the proxies' own entries last
    bad = via_proxy("198.51.100.1, 203.0.113.5, 192.0.2.9")
    for _ in range(2):
        assert failing_login(bad)["error"]["code"] == -32001
    assert "retryAfter" in failing_login(bad)["error"]["data"]
    assert "from ws:203.0.113.5" in d.log_text()
    # another client behind the same proxy logs in as that user
    good = via_proxy("198.51.100.7")
    assert good.login(USER, PASSWORD)["username"] == USER
    # a client cannot pick its address by naming it: the last entry
    # that is not a trusted proxy is the one taken
    forged = via_proxy("198.51.100.7, 203.0.113.5")
    assert "retryAfter" in failing_login(forged)["error"]["data"]
    for w in (bad, good, forged):
        w.close()


def test_forwarded_for_is_ignored_without_trusted_proxies(make_ccpd):
    d = make_ccpd(options={"login_failures": "2", "login_lockout": "30"})
    add_agent(d)
    a = WebSocket(d.http_port, headers={
        "X-Forwarded-For": "203.0.113.5"}).start_reader()
    for _ in range(2):
        failing_login(a)
    assert "from ws:127.0.0.1" in d.log_text()
    b = WebSocket(d.http_port, headers={
        "X-Forwarded-For": "198.51.100.7"}).start_reader()
    assert "retryAfter" in failing_login(b)["error"]["data"]
    a.close()
    b.close()


def closed_within(w, seconds):
    """Whether ccpd closed w within that time."""
    end = time.monotonic() + seconds
    w.sock.settimeout(0.5)
    while time.monotonic() < end:
        try:
            if w.recv_message() is None:
                return True
        except EOFError:
            return True
        except (socket.timeout, TimeoutError):
            pass
    return False


def test_clients_that_do_not_log_in_lose_their_slot(make_ccpd):
    d = make_ccpd(options={"ws_max_clients": "3", "login_timeout": "2"})
    add_agent(d)
    idle = [WebSocket(d.http_port) for _ in range(3)]
    # full: a refusal is answered every time, but logged only a few
    for _ in range(30):
        with pytest.raises(HandshakeError) as e:
            WebSocket(d.http_port)
        assert e.value.status == 503
    refusals = [ln for ln in d.log_text().splitlines()
                if "ws: refusing a client" in ln]
    assert 1 <= len(refusals) <= 5, refusals
    # strangers go once login_timeout has passed
    for w in idle:
        assert closed_within(w, 6)
    # a client that logs in keeps its slot past it
    w = WebSocket(d.http_port).start_reader()
    w.login(USER, PASSWORD)
    time.sleep(3)
    assert w.call("agent.getState")["state"] == "Offline"
    w.close()


def test_the_page_can_be_framed_only_by_allowed_origins(make_ccpd):
    d = make_ccpd(options={"http_origins": "https://crm.example.com:8443"})
    d.client().call("admin.origins.create",
                    {"origin": "https://desk.example.org"})
    for path in ("/", "/ccp.js"):
        status, hdrs, _ = http_get(d.http_port, path)
        assert status == 200
        csp = hdrs["content-security-policy"]
        assert csp.startswith("frame-ancestors 'self' "), csp
        sources = csp.split()[1:]
        assert "http://127.0.0.1:%d" % d.http_port in sources
        assert "https://crm.example.com:8443" in sources
        assert "https://desk.example.org" in sources
        assert "*" not in sources and ";" not in csp
