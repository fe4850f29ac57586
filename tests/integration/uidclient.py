"""A client of ccpd's socket that connects as another user.

ccpd takes a peer's credentials when it connects (SO_PEERCRED), so a
client that changed its uid after connecting would still be root. This one
forks a child that drops to the uid first (setgroups, setgid, setuid) and
only then connects; the child relays lines between the test (its stdin and
stdout) and the socket. The test talks to it as to ccpd.Client.
"""

import os
import subprocess
import sys

from ccpd import Client

NOBODY = 65534

_RELAY = r"""
import socket, sys, threading
s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
s.connect(sys.argv[1])
def up():
    for line in sys.stdin.buffer:
        s.sendall(line)
    try:
        s.shutdown(socket.SHUT_WR)
    except OSError:
        pass
threading.Thread(target=up, daemon=True).start()
out = sys.stdout.buffer
while True:
    data = s.recv(65536)
    if not data:
        break
    out.write(data)
    out.flush()
"""


class _Pipes:
    """What ccpd.Client needs of a socket, over the relay's pipes."""

    def __init__(self, proc):
        self.proc = proc

    def settimeout(self, t):
        pass

    def sendall(self, data):
        self.proc.stdin.write(data)
        self.proc.stdin.flush()

    def recv(self, n):
        return os.read(self.proc.stdout.fileno(), n)

    def shutdown(self, how):
        try:
            self.proc.stdin.close()
        except OSError:
            pass

    def close(self):
        self.shutdown(None)
        try:
            self.proc.wait(5)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def _drop(uid):
    def f():
        os.setgroups([])
        os.setgid(uid)
        os.setuid(uid)
    return f


class UidClient(Client):
    """ccpd.Client, connected as uid (nobody by default)."""

    def __init__(self, path, uid=NOBODY):
        import queue
        import threading
        proc = subprocess.Popen([sys.executable, "-c", _RELAY, path],
                                stdin=subprocess.PIPE,
                                stdout=subprocess.PIPE,
                                preexec_fn=_drop(uid))
        self.proc = proc
        self.sock = _Pipes(proc)
        self.next_id = 0
        self.answers = queue.Queue()
        self.events = queue.Queue()
        self.seen = []
        self.raw = queue.Queue()
        self.closed = threading.Event()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()


def open_to_others(d):
    """Let another uid reach d's socket: its directory is made
    traversable (the daemon must run with socket_mode=0666)."""
    os.chmod(d.dir, 0o755)
