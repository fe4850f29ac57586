"""WebSocket connections to ccpd on the wire, for the tests.

The websockets library (Debian's python3-websockets) does the protocol:
the opening handshake and its checks, framing, masking, fragments,
answers to pings, the closing handshake and its codes.  It is used
through its Sans-I/O client, and this module only carries its bytes over
a blocking socket, so that a test still sees the wire as it is: the
handshake's status code, each frame, close codes, and a client that
stops reading or stops answering.  On top, ccpd.Client's JSON-RPC
(request, call, events), and one plain HTTP GET from the standard
library."""

import collections
import http.client
import json
import socket
import ssl
import threading

from websockets.exceptions import InvalidState, WebSocketException
from websockets.frames import Opcode
from websockets.http11 import Response
from websockets.uri import parse_uri

try:                    # websockets 11 and later
    from websockets.client import ClientProtocol
except ImportError:     # Debian 12's websockets 10.4
    from websockets.client import ClientConnection as ClientProtocol

from ccpd import Client


class HandshakeError(Exception):
    """The opening handshake was answered with another status than 101
    (0: no answer, or not HTTP)."""

    def __init__(self, status, response=None):
        super().__init__("handshake answered %s" % status)
        self.status = status
        self.response = response


def _tls_context():
    ctx = ssl.create_default_context()
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE    # the tests' certificates are made
    return ctx                         # on the spot, self-signed


def http_get(port, path, host="127.0.0.1", tls=False, timeout=5):
    """(status, headers dict by lower-case name, body bytes) of one GET.
    The path is sent as it is, dot segments included."""
    if tls:
        conn = http.client.HTTPSConnection(host, port, timeout=timeout,
                                           context=_tls_context())
    else:
        conn = http.client.HTTPConnection(host, port, timeout=timeout)
    try:
        conn.request("GET", path)
        resp = conn.getresponse()
        body = resp.read()
        return resp.status, {k.lower(): v for k, v in resp.getheaders()}, \
            body
    finally:
        conn.close()


def _status(head):
    """The status code on an HTTP answer's first line; 0 if none."""
    try:
        return int(head.split(b" ", 2)[1])
    except (IndexError, ValueError):
        return 0


def _connect(host, port, tls, timeout, rcvbuf=None):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.settimeout(timeout)
    s.connect((host, port))
    if tls:
        s = _tls_context().wrap_socket(s, server_hostname=host)
    return s


class WebSocket(Client):
    """One client connection.  Frames are read by the caller (recv_frame,
    recv_message) or by a reader thread (start_reader) that sorts the
    JSON-RPC answers and events as ccpd.Client does.  The library answers
    pings; with answer_pings False this client writes nothing in reply
    to what it reads (no pong, no echoed close): a peer gone silent.

    origin: None sends this port's own origin, "" sends none.  headers:
    more request headers (a proxy's X-Forwarded-For)."""

    def __init__(self, port, origin=None, host="127.0.0.1", path="/ws",
                 tls=False, timeout=10, rcvbuf=None, headers=None):
        self.attach(_connect(host, port, tls, timeout, rcvbuf))
        if origin is None:
            origin = "%s://%s:%d" % ("https" if tls else "http", host, port)
        uri = parse_uri("%s://%s:%d%s" % ("wss" if tls else "ws", host,
                                          port, path))
        # no bound on ccpd's messages here: the bound tested is ccpd's
        self.conn = ClientProtocol(uri, origin=origin or None, max_size=None)
        self.lock = threading.Lock()    # the library is not thread-safe
        self.frames = collections.deque()   # received, not yet read
        self.answer_pings = True
        self.pings = 0
        request = self.conn.connect()
        for name, value in (headers or {}).items():
            request.headers[name] = value
        self._send(self.conn.send_request, request)
        head = b""
        try:
            while not self.frames:
                data = self.sock.recv(65536)
                head += data
                self._feed(data)
                if not data:
                    break
        except (EOFError, ValueError, WebSocketException) as e:
            # the library parses HTTP/1.1 answers only, and ccpd's
            # refusals (libwebsockets') are HTTP/1.0: their status is
            # taken from the status line
            self.sock.close()
            raise HandshakeError(_status(head)) from e
        if not self.frames:
            self.sock.close()           # no answer
            raise HandshakeError(0)
        response = self.frames.popleft()
        assert isinstance(response, Response), response
        if response.status_code != 101:
            self.sock.close()
            raise HandshakeError(response.status_code, response)
        if self.conn.handshake_exc is not None:   # 101, but not right
            self.sock.close()
            raise self.conn.handshake_exc

    # ---- the library's bytes on the socket ----

    def _write(self, writes):
        for data in writes:
            if data:
                self.sock.sendall(data)
            else:       # the library's end of stream: half-close
                try:
                    self.sock.shutdown(socket.SHUT_WR)
                except OSError:
                    pass

    def _send(self, step, *args):
        """One of the library's send_* steps, and its bytes out."""
        with self.lock:
            step(*args)
            self._write(self.conn.data_to_send())

    def _receive(self):
        """Give the library what the socket has; False at its end."""
        data = self.sock.recv(65536)
        self._feed(data)
        return bool(data)

    def _feed(self, data):
        """Bytes read (b"": the end of the stream) to the library, and
        its replies out."""
        with self.lock:
            if data:
                self.conn.receive_data(data)
            else:
                self.conn.receive_eof()
            self.frames.extend(self.conn.events_received())
            replies = self.conn.data_to_send()      # pongs, a close echo
            if self.answer_pings:
                self._write(replies)

    # ---- frames and messages ----

    def send_text(self, text, fin=True):
        """A text frame; fin False starts a fragmented message."""
        data = text.encode() if isinstance(text, str) else text
        self._send(self.conn.send_text, data, fin)

    def send_continuation(self, data, fin):
        self._send(self.conn.send_continuation, data, fin)

    def send_binary(self, data):
        self._send(self.conn.send_binary, data)

    def send_message(self, text):
        self.send_text(text)

    def recv_frame(self):
        """The next frame (websockets.frames.Frame: opcode, data, fin).
        EOFError once ccpd closed the connection; the library's error if
        ccpd broke the protocol."""
        while not self.frames:
            if self.conn.parser_exc is not None:
                raise self.conn.parser_exc
            if not self._receive():
                raise EOFError("connection closed")
        frame = self.frames.popleft()
        if frame.opcode is Opcode.PING:
            self.pings += 1
        return frame

    def recv_message(self):
        """The next whole text message; None when ccpd closed (with
        close_code and close_reason)."""
        parts = []
        while True:
            frame = self.recv_frame()
            if frame.opcode is Opcode.CLOSE:
                return None
            if frame.opcode in (Opcode.TEXT, Opcode.BINARY, Opcode.CONT):
                parts.append(frame.data)
                if frame.fin:
                    return b"".join(parts).decode()

    @property
    def close_code(self):
        """The code of ccpd's close frame; None before one came."""
        return self.conn.close_rcvd.code if self.conn.close_rcvd else None

    @property
    def close_reason(self):
        return self.conn.close_rcvd.reason if self.conn.close_rcvd else None

    # ---- JSON-RPC over the reader thread (ccpd.Client's methods) ----

    def _read(self):
        self.sock.settimeout(None)
        try:
            while True:
                msg = self.recv_message()
                if msg is None:
                    break
                self.on_message(json.loads(msg))
        except (OSError, EOFError, ValueError):
            pass        # the end; a broken protocol is raised, and seen
        except InvalidState:
            # a ping that crossed our own close frame: the library will
            # not answer once it is closing, and that is the end too
            if self.conn.close_sent is None:
                raise
        finally:
            self.closed.set()

    def login(self, username, password):
        return self.call("session.login", {"username": username,
                                           "password": password})

    def close(self):
        """A close frame (1000), then the socket, and the reader ends."""
        try:
            self._send(self.conn.send_close, 1000)
        except (OSError, WebSocketException):
            pass                        # closing or closed already
        # wake the reader before the fd number can be reused: a thread
        # still reading a closed socket would read the next connection
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        if self.reader:
            self.reader.join(5)
        self.sock.close()
