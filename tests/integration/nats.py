"""Real nats-server for the bus's tests (Debian's 2.9, with JetStream, in a
temporary directory, on loopback ports), and a small NATS client in plain
Python for what the tests read: the stream's messages and the bucket's
keys, through JetStream's own API subjects.  No PyPI package is at hand,
and the protocol (CONNECT, PUB, SUB, MSG, HMSG, PING) is a few lines."""

import base64
import json
import os
import signal
import socket
import subprocess
import tempfile
import time

try:
    import pytest
except ImportError:         # the browser tests' helper runs without it
    pytest = None

import peers


class NatsServer:
    """One nats-server; kill() and start() again on the same store and
    port to play an outage."""

    def __init__(self, port=None, extra_conf="", name=None, routes=None,
                 cluster_port=None, store=None):
        self.dir = tempfile.mkdtemp(prefix="ccpd-nats-")
        peers._tmpdirs.append(self.dir)
        self.port = port or peers.free_port("tcp")
        self.name = name or "n%d" % self.port
        self.store = store or os.path.join(self.dir, "js")
        self.cluster_port = cluster_port
        self.routes = routes or []
        self.extra_conf = extra_conf
        self.log_path = os.path.join(self.dir, "nats.log")
        self.proc = None

    @property
    def url(self):
        return "nats://127.0.0.1:%d" % self.port

    def conf_text(self):
        text = ("server_name: %s\nlisten: 127.0.0.1:%d\n"
                "jetstream { store_dir: \"%s\" }\n"
                % (self.name, self.port, self.store))
        if self.cluster_port:
            text += ("cluster { name: ccp\n listen: 127.0.0.1:%d\n"
                     " routes: [%s]\n}\n" % (
                         self.cluster_port,
                         ", ".join("nats-route://127.0.0.1:%d" % p
                                   for p in self.routes)))
        return text + self.extra_conf

    def start(self, wait=True):
        conf = os.path.join(self.dir, "nats.conf")
        with open(conf, "w") as f:
            f.write(self.conf_text())
        self.log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(["nats-server", "-c", conf],
                                     stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=self.log)
        peers._live.append(self.proc)
        if wait:
            self.wait_listening()
        return self

    def wait_listening(self, timeout=15):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("nats-server exited: %s" %
                                     self.log_tail())
            try:
                socket.create_connection(("127.0.0.1", self.port),
                                         0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise AssertionError("nats-server not listening: %s" %
                             self.log_tail())

    def log_tail(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")[-3000:]

    def kill(self):
        """SIGKILL: an outage, not an orderly stop."""
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(10)
        if self.proc in peers._live:
            peers._live.remove(self.proc)
        self.log.close()

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc in peers._live:
            peers._live.remove(self.proc)
        self.log.close()

    def client(self, **kw):
        return NatsClient(self.port, **kw)


class NatsClient:
    """Just enough NATS: publish, request and reply, JetStream's API."""

    def __init__(self, port, user=None, password=None, timeout=10):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout)
        self.buf = b""
        self.sid = 0
        self.inbox = 0
        self._line()            # INFO
        conn = {"verbose": False, "pedantic": False, "headers": True,
                "no_responders": True, "protocol": 1}
        if user:
            conn.update(user=user, **{"pass": password})
        self.sock.sendall(b"CONNECT " + json.dumps(conn).encode() +
                          b"\r\nPING\r\n")
        while True:
            line = self._line()
            if line.startswith(b"-ERR"):
                raise AssertionError(line)
            if line == b"PONG":
                break

    def _fill(self):
        data = self.sock.recv(65536)
        if not data:
            raise AssertionError("nats: connection closed")
        self.buf += data

    def _line(self):
        while b"\r\n" not in self.buf:
            self._fill()
        line, self.buf = self.buf.split(b"\r\n", 1)
        return line

    def _bytes(self, n):
        while len(self.buf) < n + 2:
            self._fill()
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def publish(self, subject, data, headers=None):
        if isinstance(data, str):
            data = data.encode()
        if headers:
            h = b"NATS/1.0\r\n" + b"".join(
                ("%s: %s\r\n" % kv).encode() for kv in headers.items()) + \
                b"\r\n"
            self.sock.sendall(b"HPUB %s %d %d\r\n" % (
                subject.encode(), len(h), len(h) + len(data)) + h + data +
                b"\r\n")
        else:
            self.sock.sendall(b"PUB %s %d\r\n" % (subject.encode(),
                                                   len(data)) + data +
                              b"\r\n")

    def request(self, subject, data=b"", timeout=5, headers=None):
        self.sid += 1
        inbox = "_INBOX.t%d.%d" % (os.getpid(), self.sid)
        self.sock.sendall(b"SUB %s %d\r\nUNSUB %d 1\r\n" % (
            inbox.encode(), self.sid, self.sid))
        if isinstance(data, str):
            data = data.encode()
        if headers:
            h = b"NATS/1.0\r\n" + b"".join(
                ("%s: %s\r\n" % kv).encode() for kv in headers.items()) + \
                b"\r\n"
            self.sock.sendall(b"HPUB %s %s %d %d\r\n" % (
                subject.encode(), inbox.encode(), len(h),
                len(h) + len(data)) + h + data + b"\r\n")
        else:
            self.sock.sendall(b"PUB %s %s %d\r\n" % (
                subject.encode(), inbox.encode(), len(data)) + data +
                b"\r\n")
        self.sock.settimeout(timeout)
        while True:
            line = self._line()
            if line == b"PING":
                self.sock.sendall(b"PONG\r\n")
                continue
            if line.startswith(b"-ERR"):
                raise AssertionError(line)
            parts = line.split()
            if parts and parts[0] == b"MSG":
                return self._bytes(int(parts[-1]))
            if parts and parts[0] == b"HMSG":
                self._bytes(int(parts[-1]))
                return None     # no responders, or a status

    def js(self, api, body=None, timeout=5):
        data = self.request("$JS.API." + api,
                            json.dumps(body) if body is not None else b"",
                            timeout)
        return json.loads(data) if data else None

    def stream_info(self, name="CCP_EVENTS"):
        return self.js("STREAM.INFO." + name)

    def stream_msgs(self, name="CCP_EVENTS"):
        """Every message of the stream, in order: (subject, headers,
        payload as parsed JSON or bytes)."""
        info = self.stream_info(name)
        st = info["state"]
        out = []
        seq = st["first_seq"]
        while st["messages"] and seq <= st["last_seq"]:
            r = self.js("STREAM.MSG.GET." + name, {"seq": seq})
            seq += 1
            if "message" not in r:
                continue
            m = r["message"]
            data = base64.b64decode(m.get("data", ""))
            hdrs = {}
            if m.get("hdrs"):
                for ln in base64.b64decode(m["hdrs"]).decode().split(
                        "\r\n")[1:]:
                    if ": " in ln:
                        k, v = ln.split(": ", 1)
                        hdrs[k] = v
            try:
                data = json.loads(data)
            except ValueError:
                pass
            out.append((m["subject"], hdrs, data))
        return out

    def kv_get(self, key, bucket="CCP_AGENTS"):
        r = self.js("STREAM.MSG.GET.KV_" + bucket,
                    {"last_by_subj": "$KV.%s.%s" % (bucket, key)})
        if not r or "message" not in r:
            return None
        return json.loads(base64.b64decode(r["message"]["data"]))

    def kv_put_raw(self, key, data, bucket="CCP_AGENTS"):
        return self.request("$KV.%s.%s" % (bucket, key), data)

    def close(self):
        self.sock.close()


def _fixture(fn):
    return pytest.fixture(fn) if pytest else fn


@_fixture
def nats_server():
    """A fresh single nats-server with JetStream for one test."""
    s = NatsServer().start()
    yield s
    s.stop()


class SharedNats:
    """The nats-server that .ci/run started (CCPD_TEST_NATS_URL) for the
    tests that only use a server: each test finds it without the stream
    and the bucket that ccpd makes, so counts start from nothing."""

    def __init__(self, url):
        self.url = url
        self.port = int(url.rsplit(":", 1)[1])
        self.name = "shared"
        self.proc = None

    def client(self, **kw):
        return NatsClient(self.port, **kw)

    def clean(self):
        c = self.client()
        try:
            for stream in ("CCP_EVENTS", "KV_CCP_AGENTS"):
                c.js("STREAM.DELETE." + stream)
        finally:
            c.close()
        return self


@_fixture
def nats_shared():
    """The shared nats-server when CI started one, else a fresh one: for a
    test that neither stops nor reconfigures its server."""
    url = os.environ.get("CCPD_TEST_NATS_URL")
    if url:
        yield SharedNats(url).clean()
        return
    s = NatsServer().start()
    yield s
    s.stop()


@_fixture
def nats_cluster():
    """Three nats-servers with JetStream, routed to each other on
    loopback (cluster "ccp")."""
    ports = [peers.free_port("tcp") for _ in range(3)]
    cports = [peers.free_port("tcp") for _ in range(3)]
    nodes = []
    for i in range(3):
        nodes.append(NatsServer(port=ports[i], name="z%d" % (i + 1),
                                cluster_port=cports[i],
                                routes=[p for j, p in enumerate(cports)
                                        if j != i]))
    for n in nodes:
        n.start(wait=False)
    for n in nodes:
        n.wait_listening()
    yield nodes
    for n in nodes:
        if n.proc and n.proc.poll() is None:
            n.stop()


def wait_jetstream(node, timeout=30):
    """Until the node's JetStream answers (a cluster has its meta leader)."""
    def ready():
        c = node.client()
        try:
            r = c.js("INFO", timeout=2)
        finally:
            c.close()
        return r and "error" not in r
    return wait_for("JetStream on %s" % node.name, ready, timeout, 0.3)


def wait_for(what, pred, timeout=20, every=0.1):
    """Poll pred until it returns a true value; fail with what."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = pred()
        except (AssertionError, OSError, KeyError, TypeError) as e:
            last = e
        else:
            if last:
                return last
        time.sleep(every)
    raise AssertionError("%s not within %ss; last: %r" % (what, timeout,
                                                          last))


# ---- decentralized auth: an operator, an account and a user, as nsc
# would make them (NKeys and JWTs signed with ed25519), so that a .creds
# file can be tested without nsc ----

def _crc16(data):
    crc = 0
    for b in data:
        crc ^= b << 8
        for _ in range(8):
            crc = ((crc << 1) ^ 0x1021) if crc & 0x8000 else crc << 1
            crc &= 0xffff
    return crc


def _b32(raw):
    return base64.b32encode(raw).decode().rstrip("=")


def _nkey(prefix, raw):
    data = bytes([prefix]) + raw
    c = _crc16(data)
    return _b32(data + bytes([c & 0xff, c >> 8]))


def _seed(prefix, raw):
    data = bytes([(18 << 3) | (prefix >> 5), (prefix & 31) << 3]) + raw
    c = _crc16(data)
    return _b32(data + bytes([c & 0xff, c >> 8]))


class _Key:
    def __init__(self, prefix):
        from cryptography.hazmat.primitives.asymmetric import ed25519
        from cryptography.hazmat.primitives import serialization as ser
        self.priv = ed25519.Ed25519PrivateKey.generate()
        raw_priv = self.priv.private_bytes(ser.Encoding.Raw,
                                           ser.PrivateFormat.Raw,
                                           ser.NoEncryption())
        raw_pub = self.priv.public_key().public_bytes(ser.Encoding.Raw,
                                                      ser.PublicFormat.Raw)
        self.public = _nkey(prefix, raw_pub)
        self.seed = _seed(prefix, raw_priv)


def _jwt(signer, sub, name, nats):
    def enc(o):
        return base64.urlsafe_b64encode(json.dumps(
            o, separators=(",", ":")).encode()).decode().rstrip("=")
    claims = {"jti": _b32(os.urandom(32)), "iat": int(time.time()),
              "iss": signer.public, "name": name, "sub": sub, "nats": nats}
    head = enc({"typ": "JWT", "alg": "ed25519-nkey"}) + "." + enc(claims)
    sig = signer.priv.sign(head.encode())
    return head + "." + base64.urlsafe_b64encode(sig).decode().rstrip("=")


def make_creds(directory):
    """(server configuration, path of a user's .creds file): an operator
    with one account, JetStream allowed, and one user in it."""
    op, acc, user, sys_acc = _Key(14 << 3), _Key(0), _Key(20 << 3), _Key(0)
    # JetStream needs the server's own system account
    op_jwt = _jwt(op, op.public, "ccp", {
        "system_account": sys_acc.public, "type": "operator",
        "version": 2})
    unlimited = {"subs": -1, "data": -1, "payload": -1, "imports": -1,
                 "exports": -1, "wildcards": True, "conn": -1, "leaf": -1,
                 "mem_storage": -1, "disk_storage": -1, "streams": -1,
                 "consumer": -1}
    acc_jwt = _jwt(op, acc.public, "desks", {
        "limits": unlimited, "type": "account", "version": 2})
    sys_jwt = _jwt(op, sys_acc.public, "SYS", {
        "limits": {"subs": -1, "data": -1, "payload": -1, "imports": -1,
                   "exports": -1, "wildcards": True, "conn": -1,
                   "leaf": -1},
        "type": "account", "version": 2})
    user_jwt = _jwt(acc, user.public, "desk", {
        "pub": {}, "sub": {}, "subs": -1, "data": -1, "payload": -1,
        "type": "user", "version": 2})
    creds = os.path.join(directory, "desk.creds")
    with open(creds, "w") as f:
        f.write("-----BEGIN NATS USER JWT-----\n%s\n"
                "------END NATS USER JWT------\n\n"
                "-----BEGIN USER NKEY SEED-----\n%s\n"
                "------END USER NKEY SEED------\n" % (user_jwt, user.seed))
    os.chmod(creds, 0o600)
    conf = ('operator: "%s"\nsystem_account: %s\nresolver: MEMORY\n'
            'resolver_preload: { %s: "%s", %s: "%s" }\n' % (
                op_jwt, sys_acc.public, acc.public, acc_jwt,
                sys_acc.public, sys_jwt))
    return conf, creds
