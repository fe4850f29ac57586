"""A minimal RFC 6455 client from the standard library, for tests that
need to see the wire: handshake status codes, close codes, pings, frames
of any size, and a client that stops reading."""

import base64
import hashlib
import json
import os
import queue
import socket
import ssl
import struct
import threading
import time

GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10


class HandshakeError(Exception):
    def __init__(self, status, head):
        super().__init__("handshake answered %s" % status)
        self.status = status
        self.head = head


def http_get(port, path, host="127.0.0.1", tls=False, timeout=5,
             headers=None):
    """(status, headers dict, body bytes) of one GET."""
    s = _connect(host, port, tls, timeout)
    try:
        req = "GET %s HTTP/1.1\r\nHost: %s:%d\r\nConnection: close\r\n" % (
            path, host, port)
        for k, v in (headers or {}).items():
            req += "%s: %s\r\n" % (k, v)
        s.sendall((req + "\r\n").encode())
        data = b""
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            data += chunk
            head, sep, body = data.partition(b"\r\n\r\n")
            if sep:
                hdrs = _headers(head)
                n = hdrs.get("content-length")
                if n is not None and len(body) >= int(n):
                    break
    finally:
        s.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, _headers(head), body


def _headers(head):
    out = {}
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.decode("latin-1").partition(":")
        out[k.strip().lower()] = v.strip()
    return out


def _connect(host, port, tls, timeout, rcvbuf=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(timeout)
    s.connect((host, port))
    if tls:
        ctx = ssl.create_default_context()
        ctx.check_hostname = False
        ctx.verify_mode = ssl.CERT_NONE
        s = ctx.wrap_socket(s, server_hostname=host)
    return s


class WebSocket:
    """One client connection. Frames are read by the caller (recv_frame)
    or by a reader thread (start_reader) that answers pings unless told
    not to."""

    def __init__(self, port, origin=None, host="127.0.0.1", path="/ws",
                 tls=False, timeout=10, rcvbuf=None, protocol=None):
        self.sock = _connect(host, port, tls, timeout, rcvbuf)
        self.buf = b""
        self.lock = threading.Lock()
        key = base64.b64encode(os.urandom(16)).decode()
        if origin is None:
            origin = "%s://%s:%d" % ("https" if tls else "http", host, port)
        req = ("GET %s HTTP/1.1\r\nHost: %s:%d\r\nUpgrade: websocket\r\n"
               "Connection: Upgrade\r\nSec-WebSocket-Key: %s\r\n"
               "Sec-WebSocket-Version: 13\r\n" % (path, host, port, key))
        if origin:
            req += "Origin: %s\r\n" % origin
        if protocol:
            req += "Sec-WebSocket-Protocol: %s\r\n" % protocol
        self.sock.sendall((req + "\r\n").encode())
        while b"\r\n\r\n" not in self.buf:
            chunk = self.sock.recv(4096)
            if not chunk:
                break
            self.buf += chunk
        head, _, self.buf = self.buf.partition(b"\r\n\r\n")
        try:
            status = int(head.split(b" ", 2)[1])
        except (IndexError, ValueError):
            status = 0
        if status != 101:
            self.sock.close()
            raise HandshakeError(status, head.decode("latin-1"))
        accept = base64.b64encode(hashlib.sha1(key.encode() + GUID)
                                  .digest()).decode()
        assert _headers(head).get("sec-websocket-accept") == accept, head
        self.next_id = 0
        self.answers = queue.Queue()
        self.events = queue.Queue()
        self.pings = 0
        self.close_code = None
        self.close_reason = None
        self.closed = threading.Event()
        self.answer_pings = True
        self.reader = None

    # ---- frames ----

    def send_frame(self, opcode, payload, fin=True):
        head = bytes([(0x80 if fin else 0) | opcode])
        n = len(payload)
        if n < 126:
            head += bytes([0x80 | n])
        elif n < 65536:
            head += bytes([0x80 | 126]) + struct.pack("!H", n)
        else:
            head += bytes([0x80 | 127]) + struct.pack("!Q", n)
        mask = os.urandom(4)
        masked = bytes(b ^ mask[i % 4] for i, b in enumerate(payload)) \
            if n < 4096 else _mask_fast(payload, mask)
        with self.lock:
            self.sock.sendall(head + mask + masked)

    def send_text(self, text):
        self.send_frame(OP_TEXT, text.encode())

    def _read(self, n):
        while len(self.buf) < n:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise EOFError("connection closed")
            self.buf += chunk
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def recv_frame(self):
        """(fin, opcode, payload) of the next frame."""
        b0, b1 = self._read(2)
        n = b1 & 0x7F
        if n == 126:
            n = struct.unpack("!H", self._read(2))[0]
        elif n == 127:
            n = struct.unpack("!Q", self._read(8))[0]
        assert not b1 & 0x80, "server frames must not be masked"
        return bool(b0 & 0x80), b0 & 0x0F, self._read(n)

    def recv_message(self):
        """The next whole text message, answering pings on the way;
        None when the server closed."""
        parts = []
        while True:
            fin, op, payload = self.recv_frame()
            if op == OP_PING:
                self.pings += 1
                if self.answer_pings:
                    self.send_frame(OP_PONG, payload)
                continue
            if op == OP_PONG:
                continue
            if op == OP_CLOSE:
                if len(payload) >= 2:
                    self.close_code = struct.unpack("!H", payload[:2])[0]
                    self.close_reason = payload[2:].decode(errors="replace")
                return None
            parts.append(payload)
            if fin:
                return b"".join(parts).decode()

    # ---- JSON-RPC over a reader thread ----

    def start_reader(self):
        self.sock.settimeout(None)
        self.reader = threading.Thread(target=self._loop, daemon=True)
        self.reader.start()
        return self

    def _loop(self):
        try:
            while True:
                msg = self.recv_message()
                if msg is None:
                    break
                m = json.loads(msg)
                if isinstance(m, dict) and m.get("method") == "event":
                    self.events.put(m["params"])
                else:
                    self.answers.put(m)
        except (OSError, EOFError, ValueError):
            pass
        self.closed.set()

    def request(self, method, params=None, timeout=10):
        self.next_id += 1
        msg = {"jsonrpc": "2.0", "id": self.next_id, "method": method}
        if params is not None:
            msg["params"] = params
        self.send_text(json.dumps(msg))
        try:
            ans = self.answers.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("no answer within %ss" % timeout)
        assert ans.get("id") == self.next_id, ans
        return ans

    def call(self, method, params=None, timeout=10):
        ans = self.request(method, params, timeout)
        assert "error" not in ans, ans
        return ans["result"]

    def login(self, username, password):
        return self.call("session.login", {"username": username,
                                           "password": password})

    def wait_event(self, etype, timeout=10):
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            assert left > 0, "no %s within %ss" % (etype, timeout)
            try:
                ev = self.events.get(timeout=left)
            except queue.Empty:
                continue
            if ev["type"] == etype:
                return ev

    def close(self):
        try:
            self.send_frame(OP_CLOSE, struct.pack("!H", 1000))
        except OSError:
            pass
        # wake the reader before the fd number can be reused: a thread
        # still reading a closed socket would read the next connection
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        if self.reader:
            self.reader.join(5)
        try:
            self.sock.close()
        except OSError:
            pass


def _mask_fast(payload, mask):
    n = len(payload)
    m = int.from_bytes((mask * (n // 4 + 1))[:n], "big")
    return (int.from_bytes(payload, "big") ^ m).to_bytes(n, "big")
