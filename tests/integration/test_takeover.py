"""Another local user hammers baresip's control port during a call.

ctrl_tcp has no authentication and hands the calls to whoever connected
last; ccpd preloads ccpd-ctrlguard.so into baresip, which closes every
connection to the port from another uid before ctrl_tcp sees it.  Here a
system user of its own connects to the port (and to each new one, should
baresip restart) as fast as it can for 10 s, and sends a `dial` on each
connection, while the agent talks to a customer.  Nothing it sends may
run: no INVITE reaches the target it dials, no answer comes back; the
customer keeps receiving the agent's audio on the wire, the agent keeps
their state and baresip is never restarted.
"""

import json
import os
import pwd
import queue
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

import pytest

import peers
import rtpwire

INTRUDER = "ccpd-intruder"
ATTACK_S = 10.0
AGENT_TONE, CUSTOMER_TONE = 880, 440

# Runs as the intruder: connect, send a dial, look for an answer, close;
# again and again, to the port the file names now.
INTRUDER_CODE = r'''
import json, socket, sys, time
portfile, target, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
cmd = json.dumps({"command": "dial", "params": target,
                  "token": "intruder"}).encode()
frame = b"%d:%s," % (len(cmd), cmd)
st = {"tries": 0, "connected": 0, "sent": 0, "answers": 0, "refused": 0,
      "reset": 0, "ports": []}
end = time.monotonic() + seconds
while time.monotonic() < end:
    try:
        port = int(open(portfile).read().strip())
    except (OSError, ValueError):
        time.sleep(0.01)
        continue
    if port not in st["ports"]:
        st["ports"].append(port)
    st["tries"] += 1
    s = socket.socket()
    s.settimeout(0.5)
    try:
        s.connect(("127.0.0.1", port))
        st["connected"] += 1
        s.sendall(frame)
        st["sent"] += 1
        s.settimeout(0.02)
        try:
            if s.recv(4096):
                st["answers"] += 1
            else:
                st["reset"] += 1
        except socket.timeout:
            pass
    except ConnectionRefusedError:
        st["refused"] += 1
    except OSError:
        st["reset"] += 1
    finally:
        s.close()
print(json.dumps(st))
'''


def _intruder_user():
    """A system user of its own (made once, kept): the other local user."""
    if not shutil.which("setpriv"):
        pytest.skip("setpriv is missing")
    try:
        return pwd.getpwnam(INTRUDER)
    except KeyError:
        pass
    if os.geteuid() != 0:
        pytest.skip("making a system user needs root")
    r = subprocess.run(["useradd", "--system", "--no-create-home",
                        "--shell", "/usr/sbin/nologin", INTRUDER],
                       capture_output=True, text=True)
    assert r.returncode == 0 or "already exists" in r.stderr, r.stderr
    return pwd.getpwnam(INTRUDER)


class SipTarget:
    """A UDP socket on the address the intruder dials: an INVITE sent
    there by baresip would be a command of the intruder's executed."""

    def __init__(self):
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.settimeout(0.2)
        self.port = self.sock.getsockname()[1]
        self.got = []
        self.done = False
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self):
        while not self.done:
            try:
                data, _ = self.sock.recvfrom(65536)
            except socket.timeout:
                continue
            except OSError:
                break
            self.got.append(data)

    def stop(self):
        self.done = True
        self.thread.join(2)
        self.sock.close()


class PortWatch:
    """Keeps a file, readable by the intruder, naming baresip's current
    control port (media.getStatus ctrlPort), the way someone who watches
    the listening sockets would learn it."""

    def __init__(self, d):
        self.dir = tempfile.mkdtemp(prefix="ccpd-takeover-")
        peers._tmpdirs.append(self.dir)
        os.chmod(self.dir, 0o755)
        self.path = os.path.join(self.dir, "port")
        self.client = d.client()
        self.ports = []
        self.done = False
        self.write(self.client.call("media.getStatus")["ctrlPort"])
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def write(self, port):
        if port and (not self.ports or self.ports[-1] != port):
            self.ports.append(port)
            tmp = self.path + ".new"
            with open(tmp, "w") as f:
                f.write("%d\n" % port)
            os.chmod(tmp, 0o644)
            os.rename(tmp, self.path)

    def _run(self):
        while not self.done:
            try:
                self.write(self.client.call("media.getStatus")["ctrlPort"])
            except (AssertionError, OSError):
                pass
            time.sleep(0.05)

    def stop(self):
        self.done = True
        self.thread.join(2)


def test_other_user_cannot_command_baresip(agent, customer, wire):
    user = _intruder_user()
    c = agent.c
    cw = wire(customer)
    c.call("agent.setState", {"state": "Available"})
    cid = c.answered_call(customer, agent.sip_uri)
    before = c.call("media.getStatus")
    state = c.call("agent.getState")["state"]
    assert before["state"] == "up" and state == "Busy", (before, state)
    cw.wait_rtp(time.monotonic(), count=25)

    target = SipTarget()
    watch = PortWatch(agent)
    seen = len(c.seen)
    try:
        t0 = time.monotonic()
        r = subprocess.run(
            ["setpriv", "--reuid=%d" % user.pw_uid,
             "--regid=%d" % user.pw_gid, "--clear-groups", "--",
             sys.executable, "-c", INTRUDER_CODE, watch.path,
             "sip:intruder@127.0.0.1:%d" % target.port, str(ATTACK_S)],
            capture_output=True, text=True, timeout=ATTACK_S + 30)
        t1 = time.monotonic()
        assert r.returncode == 0, r.stderr
        st = json.loads(r.stdout)
        time.sleep(0.5)     # an INVITE sent late still arrives
    finally:
        watch.stop()
        target.stop()

    # the customer's side of the call, on the wire, during the attack
    rep = cw.heard(t0 + 0.2, t1, [AGENT_TONE, CUSTOMER_TONE])
    gaps = []
    pkts = next(iter(cw.window(t0 + 0.2, t1).values()), [])
    for a, b in zip(pkts, pkts[1:]):
        gaps.append(b.time - a.time)
    after = c.call("media.getStatus")
    print("\nintruder (uid %d): %d connections tried, %d connected, "
          "%d dials sent, %d answers, ports %s; datagrams at the dialed "
          "target: %d; RTP packets at the customer during the attack: %d "
          "(largest gap %.0f ms), tone %s; baresip restarts %d -> %d; "
          "connections reset %d"
          % (user.pw_uid, st["tries"], st["connected"], st["sent"],
             st["answers"], st["ports"], len(target.got), rep["packets"],
             1000 * max(gaps or [0]), rtpwire.dominant(rep),
             before["restarts"], after["restarts"], st["reset"]))
    assert st["tries"] > 100, st
    # no command of the intruder ran
    assert st["answers"] == 0, st
    assert target.got == [], target.got[:1]
    # the call's audio kept flowing to the customer
    assert rtpwire.dominant(rep) == AGENT_TONE, \
        cw.timeline(t0, t1, [AGENT_TONE, CUSTOMER_TONE])
    assert rep["packets"] >= 0.8 * 50 * (t1 - t0 - 0.2), \
        cw.timeline(t0, t1, [AGENT_TONE, CUSTOMER_TONE])
    assert max(gaps) < 0.5, cw.timeline(t0, t1, [AGENT_TONE])
    # baresip was neither taken over nor restarted, the agent is where
    # they were
    assert after["pid"] == before["pid"], (before, after)
    assert after["restarts"] == before["restarts"], (before, after)
    assert watch.ports == [before["ctrlPort"]], watch.ports
    assert c.call("agent.getState")["state"] == state
    types = [e["type"] for e in c.seen[seen:]]
    while True:
        try:
            types.append(c.events.get_nowait()["type"])
        except queue.Empty:
            break
    assert "media.takeover" not in types and "contact.error" not in types, \
        types
    contact = c.call("contact.get", {"contactId": cid})
    assert contact["state"] == "connected", contact
    assert "ccpd-ctrlguard: refused" in agent.log_text()

    customer.hangup()
    c.wait_event("contact.acw")
