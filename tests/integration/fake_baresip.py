#!/usr/bin/python3
"""A stand-in for baresip that speaks ctrl_tcp (netstrings of JSON) on the
port of the config file ccpd wrote, and refuses every `uanew`: what
baresip does with an account line it cannot take.  Every other command
gets an ok.  The answers to the commands of one read go out in one write,
as baresip's would.  Each start and each command is appended to the file
$FAKE_BARESIP_LOG, one JSON object a line."""

import json
import os
import signal
import socket
import sys


def log(what):
    path = os.environ.get("FAKE_BARESIP_LOG")
    if path:
        with open(path, "a") as f:
            f.write(json.dumps(what) + "\n")


def frames(buf):
    """Complete netstrings at the head of buf, and the rest."""
    out = []
    while b":" in buf:
        head, rest = buf.split(b":", 1)
        n = int(head)
        if len(rest) < n + 1:
            break
        out.append(rest[:n])
        buf = rest[n + 1:]
    return out, buf


def main():
    cfg = os.path.join(sys.argv[sys.argv.index("-f") + 1], "config")
    port = None
    with open(cfg) as f:
        for line in f:
            if line.startswith("ctrl_tcp_listen"):
                port = int(line.split()[-1].rsplit(":", 1)[1])
    signal.signal(signal.SIGTERM, lambda *a: sys.exit(0))
    srv = socket.socket()
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("127.0.0.1", port))
    srv.listen(4)
    log({"start": os.getpid(), "port": port})
    while True:
        conn, _ = srv.accept()
        buf = b""
        while True:
            data = conn.recv(65536)
            if not data:
                break
            msgs, buf = frames(buf + data)
            out = b""
            for m in msgs:
                cmd = json.loads(m)
                ok = cmd.get("command") != "uanew"
                log({"command": cmd.get("command"), "ok": ok})
                ans = json.dumps({
                    "response": True, "ok": ok,
                    "data": "" if ok else "invalid account line",
                    "token": cmd.get("token")}).encode()
                out += b"%d:%s," % (len(ans), ans)
            if out:
                conn.sendall(out)
        conn.close()


if __name__ == "__main__":
    main()
