"""Structured journal fields. ccpd writes native journal entries when its
stderr is the journal ($JOURNAL_STREAM names it); the test plays journald in
a private mount namespace, where a directory of its own is bind-mounted over
/run so that /run/systemd/journal/socket is the test's socket."""

import json
import os
import re
import shutil
import socket
import subprocess
import threading
import time

import pytest

import peers
from ccpd import CCPD, Client

UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}"
                  r"-[0-9a-f]{12}")


def have_unshare():
    if os.geteuid() != 0 or not shutil.which("unshare"):
        return False
    r = subprocess.run(["unshare", "--mount", "true"], capture_output=True)
    return r.returncode == 0


@pytest.mark.skipif(not have_unshare(), reason="needs root and unshare")
def test_contact_and_state_fields_reach_the_journal(tmp_path):
    fake_run = tmp_path / "run"
    (fake_run / "systemd" / "journal").mkdir(parents=True)
    journal = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    journal.bind(str(fake_run / "systemd" / "journal" / "socket"))
    journal.settimeout(0.5)
    sip = peers.free_port("sip")
    sock = str(tmp_path / "ccpd.sock")
    stderr = open(tmp_path / "stderr", "wb")
    st = os.fstat(stderr.fileno())
    env = dict(os.environ, JOURNAL_STREAM="%d:%d" % (st.st_dev, st.st_ino))
    env.pop("NOTIFY_SOCKET", None)
    args = [CCPD, "-o", "runtime_dir=%s" % (tmp_path / "rt"),
            "-o", "state_dir=%s" % (tmp_path / "state"),
            "-o", "socket=%s" % sock,
            "-o", "sip_listen=127.0.0.1:%d" % sip,
            "-o", "http_listen=off",
            "-o", "rtp_ports=%d-%d" % peers.rtp_port_block()]
    proc = subprocess.Popen(
        ["unshare", "--mount", "--", "sh", "-c",
         'mount --bind "$0" /run && exec "$@"', str(fake_run)] + args,
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr,
        env=env)
    peers._live.append(proc)
    entries = []
    done = threading.Event()

    # journald reads all the time; a socket left unread would fill up and
    # make ccpd wait on it
    def read_journal():
        while not done.is_set():
            try:
                data = journal.recv(65536).decode()
            except (socket.timeout, OSError):
                continue
            entries.append(dict(l.split("=", 1)
                                for l in data.splitlines() if "=" in l))

    reader = threading.Thread(target=read_journal, daemon=True)
    reader.start()

    def drain():
        time.sleep(0.05)    # the reader thread fills entries

    try:
        deadline = time.monotonic() + 20
        while not os.path.exists(sock):
            assert time.monotonic() < deadline and proc.poll() is None
            time.sleep(0.05)
        c = Client(sock)
        while c.call("media.getStatus")["state"] != "up":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        c.call("agent.setState", {"state": "Available"})
        c.call("agent.setState", {"state": "Offline"})
        uac = peers.Sipp("uac_expect_refusal", target=sip, service="agent",
                         timeout=10)
        assert uac.run() == 0, uac.errors()
        deadline = time.monotonic() + 10
        # contact ids are UUIDs: the refused offer is the only contact
        while not any(UUID.fullmatch(e.get("CONTACT_ID", ""))
                      for e in entries):
            assert time.monotonic() < deadline, json.dumps(entries[-10:])
            drain()
        c.close()
    finally:
        proc.terminate()
        proc.wait(15)
        peers._live.remove(proc)
        stderr.close()
        done.set()
        reader.join(5)
    assert all(e.get("SYSLOG_IDENTIFIER") == "ccpd" for e in entries)
    assert all(e.get("PRIORITY", "").isdigit() for e in entries)
    states = [e for e in entries if "STATE" in e]
    assert any(e["STATE"] == "Available" and
               "Offline -> Available" in e["MESSAGE"] for e in states)
    refused = [e for e in entries
               if UUID.fullmatch(e.get("CONTACT_ID", ""))]
    cid = refused[0]["CONTACT_ID"]
    assert all(e["CONTACT_ID"] == cid for e in refused), refused
    assert any("refusing offer " + cid in e["MESSAGE"] and
               e.get("STATE") == "Offline" for e in refused), refused
    # with native entries, nothing went to plain stderr but what the
    # sanitizers or libc might print
    assert b"<6>" not in (tmp_path / "stderr").read_bytes()
    assert proc.returncode == 0
