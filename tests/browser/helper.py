"""The browser tests' other hand: a real ccpd, real baresip peers, static
web servers for second origins, and a control client on ccpd's Unix
socket, driven by the node test runner through JSON lines on stdin and
stdout (one request, one answer: {"id", "result"} or {"id", "error"}).

It reuses the integration harness (tests/integration/ccpd.py and
peers.py), so ccpd is started, watched and stopped the same way: a stop
checks for a clean exit and no sanitizer report.
"""

import functools
import http.server
import json
import os
import sys
import threading
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))

import ccpd as ccpd_mod  # noqa: E402
import peers  # noqa: E402


class Quiet(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


class Helper:
    def __init__(self):
        self.daemons = []
        self.peers = {}
        self.servers = []
        self.d = None

    # ---- ccpd ----

    def start(self, options=None):
        self.d = ccpd_mod.Ccpd(options=options or {})
        self.daemons.append(self.d)
        self.c = self.d.client()
        return {"url": self.d.http_url, "port": self.d.http_port,
                "socket": self.d.socket, "sipUri": self.d.sip_uri}

    def add_user(self, username, password, profile="Agent"):
        """A user made by an administrator: the helper's Unix-socket
        client runs as root, an administrator by its credentials."""
        return self.c.call("admin.users.create", {
            "username": username, "password": password, "profile": profile,
            "mustChangePassword": False})

    def tone_wav(self, seconds=1.0):
        """A short audio file for ccpd's audio_source (aufile): when it
        ends, baresip reports an audio device error."""
        return peers.tone_wav(seconds)

    def rpc(self, method, params=None):
        return self.c.call(method, params)

    def stop_ccpd(self):
        d, self.d = self.d, None
        self.daemons.remove(d)
        d.stop()
        return {}

    def log(self):
        return self.d.log_text()

    # ---- peers ----

    def peer(self, name="customer", tone=440):
        p = peers.BaresipPeer(name=name, tone=tone, user=name).start()
        self.peers[name] = p
        return {"uri": p.uri}

    def dial(self, name="customer"):
        self.peers[name].dial(self.d.sip_uri)
        return {}

    def peer_wait(self, name, event, timeout=10):
        ev = self.peers[name].wait_event(event, timeout)
        return {"type": ev.get("type")}

    def peer_events(self, name):
        return [e.get("type") for e in self.peers[name].events]

    def peer_hangup(self, name="customer"):
        self.peers[name].hangup()
        return {}

    # ---- a second origin ----

    def invite_with_attributes(self, attributes, from_user="+442079460000"):
        """An INVITE straight to ccpd whose From URI carries the screen
        pop's attributes as the kamailio ACD puts them there
        (;x-ccp-<Name>=<base64url of the value, unpadded>)."""
        import base64
        import acd
        params = "".join(";x-ccp-%s=%s" % (
            k, base64.urlsafe_b64encode(v.encode()).decode().rstrip("="))
            for k, v in attributes.items())
        self.raw = acd.RawInvite(self.d.sip_port, self.d.sip_uri,
                                 from_user=from_user, from_params=params)
        return {"callId": self.raw.call_id}

    def cancel_invite(self):
        self.raw.cancel()
        code, _ = self.raw.final()
        self.raw.close()
        return {"code": code}

    def serve(self, directory):
        port = peers.free_port("tcp")
        handler = functools.partial(Quiet, directory=os.path.join(
            TOP, directory))
        srv = http.server.ThreadingHTTPServer(("127.0.0.1", port), handler)
        threading.Thread(target=srv.serve_forever, daemon=True).start()
        self.servers.append(srv)
        return {"url": "http://127.0.0.1:%d" % port, "port": port}

    def free_port(self):
        return peers.free_port("tcp")

    # ---- the bus: a nats-server and other agents' desks ----

    def nats(self):
        import nats
        self.nats_server = nats.NatsServer().start()
        return {"url": self.nats_server.url}

    def start_agent(self, options):
        """Another agent's ccpd on the same bus; returns its index."""
        d = ccpd_mod.Ccpd(options=options)
        self.daemons.append(d)
        self.others = getattr(self, "others", []) + [(d, d.client())]
        return len(self.others) - 1

    def agent_rpc(self, i, method, params=None):
        return self.others[i][1].call(method, params)

    def kill_agent(self, i):
        """kill -9 an agent's ccpd: its agent goes quiet."""
        d = self.others[i][0]
        self.daemons.remove(d)
        d.proc.kill()
        d.proc.wait(10)
        if d.proc in peers._live:
            peers._live.remove(d.proc)
        return {}

    def shutdown(self):
        errors = []
        for p in self.peers.values():
            p.stop()
        for s in self.servers:
            s.shutdown()
        for d in self.daemons:
            try:
                d.stop()
            except AssertionError as e:
                errors.append(str(e))
        self.daemons = []
        if getattr(self, "nats_server", None):
            self.nats_server.stop()
        if errors:
            raise AssertionError("\n".join(errors))
        return {}


def main():
    h = Helper()
    out = sys.stdout
    sys.stdout = sys.stderr      # nothing else may write to the pipe
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        try:
            res = getattr(h, req["cmd"])(**req.get("args", {}))
            ans = {"id": req["id"], "result": res}
        except Exception as e:   # the test sees it as a rejection
            ans = {"id": req["id"], "error": "%s: %s" % (
                type(e).__name__, e), "trace": traceback.format_exc()}
        out.write(json.dumps(ans) + "\n")
        out.flush()
        if req["cmd"] == "shutdown":
            break
    else:
        try:
            h.shutdown()
        except AssertionError as e:
            print(e, file=sys.stderr)


if __name__ == "__main__":
    main()
