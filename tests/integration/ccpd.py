"""The real ccpd for integration tests: started from the build, watched for
readiness through NOTIFY_SOCKET, driven over its Unix socket.

Every wait has a deadline and fails with what it saw.  ccpd is stopped by
its PID, and a stop checks that it exited cleanly (status 0, no sanitizer
report), so that a leak or an error found at shutdown fails the test.
"""

import json
import os
import queue
import signal
import socket
import subprocess
import tempfile
import threading
import time

import peers

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
CCPD = os.environ.get("CCPD_BIN", os.path.join(TOP, "build", "ccpd"))
CCPCTL = os.environ.get("CCPCTL_BIN",
                        os.path.join(TOP, "build", "ctl", "ccpctl"))


class RpcError(Exception):
    def __init__(self, error):
        super().__init__("%s (%s): %s" % (
            error.get("message"), error.get("code"),
            error.get("data", {}).get("reason")))
        self.error = error
        self.code = error.get("code")
        self.reason = error.get("data", {}).get("reason")


class Client:
    """A JSON-RPC client on ccpd's socket, one message per line.  The
    WebSocket client (wsconn.py) is one too, on another transport: it
    brings its own send_message and _read."""

    def __init__(self, path, timeout=10):
        sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        sock.settimeout(timeout)
        sock.connect(path)
        self.attach(sock)
        self.start_reader()

    def attach(self, sock):
        """Fresh JSON-RPC state on a connected transport; no reader yet."""
        self.sock = sock
        self.next_id = 0
        self.answers = queue.Queue()
        self.events = queue.Queue()
        self.seen = []          # every event received, in order
        self.raw = queue.Queue()
        self.closed = threading.Event()
        self.reader = None

    def start_reader(self):
        """Sort what arrives into answers and events, on a thread."""
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()
        return self

    def _read(self):
        buf = b""
        self.sock.settimeout(None)
        try:
            while True:
                data = self.sock.recv(65536)
                if not data:
                    break
                buf += data
                while b"\n" in buf:
                    line, buf = buf.split(b"\n", 1)
                    self.on_message(json.loads(line))
        except (OSError, ValueError):
            pass
        self.closed.set()

    def on_message(self, msg):
        """Sort one received message (runs on the reader thread)."""
        if isinstance(msg, dict) and msg.get("method") == "event":
            self.events.put(msg["params"])
        else:
            self.answers.put(msg)

    def send_raw(self, data):
        self.sock.sendall(data)

    def send_message(self, text):
        """One JSON-RPC message (text) on the transport."""
        self.sock.sendall((text + "\n").encode())

    def answer(self, timeout=10):
        try:
            return self.answers.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("no answer from ccpd within %ss" % timeout)

    def request(self, method, params=None, timeout=10):
        self.next_id += 1
        msg = {"jsonrpc": "2.0", "id": self.next_id, "method": method}
        if params is not None:
            msg["params"] = params
        self.send_message(json.dumps(msg))
        ans = self.answer(timeout)
        assert ans.get("id") == self.next_id, ans
        return ans

    def call(self, method, params=None, timeout=10):
        ans = self.request(method, params, timeout)
        if "error" in ans:
            raise RpcError(ans["error"])
        return ans["result"]

    def wait_event(self, etype, timeout=15, pred=None):
        """The next event of this type (and matching pred), skipping
        others; they stay in self.seen."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(
                    "no %s event within %ss; saw %s" % (
                        etype, timeout,
                        [e["type"] for e in self.seen[-30:]]))
            try:
                ev = self.events.get(timeout=left)
            except queue.Empty:
                continue
            self.seen.append(ev)
            if ev["type"] == etype and (pred is None or pred(ev)):
                return ev

    def event(self, etype, timeout=15, pred=None):
        """An event of this type, already received or still to come:
        for events whose order among others does not matter."""
        for ev in self.seen:
            if ev["type"] == etype and (pred is None or pred(ev)):
                return ev
        return self.wait_event(etype, timeout, pred)

    def answered_call(self, peer, uri):
        """peer dials uri, the agent accepts: returns the contact id once
        both sides have the call connected."""
        peer.dial(uri)
        ev = self.wait_event("contact.incoming")
        cid = ev["data"]["contact"]["contactId"]
        self.call("contact.accept", {"contactId": cid})
        self.wait_event("contact.connected")
        peer.wait_event("CALL_ESTABLISHED", 10)
        return cid

    def wait_state(self, state, timeout=15):
        """Wait until the agent's effective state is `state`."""
        if self.call("agent.getState")["state"] == state:
            return
        self.wait_event("agent.stateChange", timeout,
                        lambda e: e["data"]["newState"] == state)

    def close(self):
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()

    def error(self, method, params=None, timeout=10):
        """The error object of a request that must fail."""
        ans = self.request(method, params, timeout)
        assert "error" in ans, (method, params, ans)
        return ans["error"]


class Ccpd:
    """One ccpd process with its own runtime directory and SIP port."""

    def __init__(self, options=None, sip_port=None, config_text=None,
                 wait_ready=True, env=None):
        self.dir = tempfile.mkdtemp(prefix="ccpd-test-")
        peers._tmpdirs.append(self.dir)
        self.sip_port = sip_port or peers.free_port("sip")
        self.http_port = peers.free_port("tcp")
        self.socket = os.path.join(self.dir, "ccpd.sock")
        self.log_path = os.path.join(self.dir, "ccpd.log")
        self.options = {
            "runtime_dir": os.path.join(self.dir, "run"),
            "state_dir": os.path.join(self.dir, "state"),
            "socket": self.socket,
            "sip_listen": "127.0.0.1:%d" % self.sip_port,
            "net_interface": "127.0.0.1",
            "log_level": "debug",
            "rtp_ports": "%d-%d" % peers.rtp_port_block(),
            "http_listen": "127.0.0.1:%d" % self.http_port,
        }
        self.options.update(options or {})
        args = [CCPD]
        if config_text is not None:
            path = os.path.join(self.dir, "ccpd.conf")
            with open(path, "w") as f:
                f.write(config_text)
            args += ["-c", path]
        for k, v in self.options.items():
            args += ["-o", "%s=%s" % (k, v)]
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify_path = os.path.join(self.dir, "notify")
        self.notify.bind(self.notify_path)
        env = dict(os.environ, NOTIFY_SOCKET=self.notify_path,
                   **(env or {}))
        env.pop("LISTEN_FDS", None)
        self.log = open(self.log_path, "wb")
        self.proc = subprocess.Popen(args, stdin=subprocess.DEVNULL,
                                     stdout=self.log, stderr=self.log,
                                     env=env)
        peers._live.append(self.proc)
        self.notices = []
        self.clients = []
        if wait_ready:
            self.wait_notify("READY=1", 20)

    @property
    def http_url(self):
        return "http://127.0.0.1:%d" % self.http_port

    @property
    def sip_uri(self):
        return "sip:agent@127.0.0.1:%d" % self.sip_port

    def wait_notify(self, what, timeout):
        deadline = time.monotonic() + timeout
        while not any(what in n for n in self.notices):
            left = deadline - time.monotonic()
            if left <= 0 or self.proc.poll() is not None:
                raise AssertionError(
                    "ccpd did not send %s within %ss (exit %s); log:\n%s"
                    % (what, timeout, self.proc.poll(), self.log_tail()))
            self.notify.settimeout(min(left, 0.5))
            try:
                self.notices.append(self.notify.recv(4096).decode())
            except socket.timeout:
                pass

    def client(self):
        c = Client(self.socket)
        self.clients.append(c)
        return c

    def ctl(self, *args, timeout=15):
        """Run ccpctl against this daemon."""
        return subprocess.run([CCPCTL, "--socket", self.socket] + list(args),
                              stdin=subprocess.DEVNULL, capture_output=True,
                              text=True, timeout=timeout)

    def log_text(self):
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def log_tail(self, n=60):
        return "\n".join(self.log_text().splitlines()[-n:])

    def baresip_pid(self, client=None):
        c = client or self.client()
        return c.call("media.getStatus")["pid"]

    def signal(self, sig):
        """Send a signal; stop() then waits without sending its own."""
        self.signalled = True
        self.proc.send_signal(sig)

    def wait_refused(self, timeout):
        """For a ccpd that must refuse to start: its exit status (it is
        killed if it runs on past timeout, and the wait then fails)."""
        try:
            return self.proc.wait(timeout)
        finally:
            if self.proc.poll() is None:
                self.proc.kill()
                self.proc.wait()
            self.log.close()
            self.notify.close()
            if self.proc in peers._live:
                peers._live.remove(self.proc)

    def stop(self, timeout=15):
        """SIGTERM, then require a clean exit and no sanitizer report."""
        for c in self.clients:
            c.close()
        if self.proc.poll() is None and not getattr(self, "signalled",
                                                    False):
            self.proc.send_signal(signal.SIGTERM)
        try:
            rc = self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            raise AssertionError("ccpd did not exit on SIGTERM; log:\n%s"
                                 % self.log_tail())
        finally:
            if self.proc in peers._live:
                peers._live.remove(self.proc)
            self.log.close()
            self.notify.close()
        text = self.log_text()
        for marker in ("ERROR: AddressSanitizer", "ERROR: LeakSanitizer",
                       "runtime error:"):
            assert marker not in text, "sanitizer report:\n" + text[-6000:]
        assert rc == 0, "ccpd exited with %s; log:\n%s" % (rc,
                                                          self.log_tail())
