"""ccpctl, the command-line client, against the real ccpd with real SIP peers
(a second baresip, SIPp) on 127.0.0.1.

Actions go through ccpctl; the fixture's subscribed socket client (agent.c)
is only the reference it is compared with and what the tests wait on.
"""

import json
import os
import queue
import re
import signal
import socket
import subprocess
import threading
import time

import peers
from ccpd import CCPCTL

TIME = r"\d\d:\d\d:\d\d"
# a contact id: a UUID, version 4
UUID = (r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}"
        r"-[0-9a-f]{12}")


def ok(d, *args):
    """Run ccpctl; require success and a quiet stderr; return stdout."""
    r = d.ctl(*args)
    assert r.returncode == 0, (args, r.returncode, r.stdout, r.stderr)
    assert r.stderr == "", (args, r.stderr)
    return r.stdout


def ctl_json(d, *args):
    out = ok(d, "--json", *args)
    assert out.endswith("\n") and out.count("\n") == 1, out
    return json.loads(out)


def daemon_error(c, method, params):
    """What ccpctl should print for this request's error."""
    err = c.request(method, params)["error"]
    return "ccpctl: %s: %s\n" % (err["message"], err["data"]["reason"])


class NoLine(AssertionError):
    pass


class Watch:
    """`ccpctl watch` as a background process, its stdout read line by line
    with a deadline; stopped by its PID."""

    def __init__(self, d, *args):
        self.proc = subprocess.Popen(
            [CCPCTL, "--socket", d.socket] + list(args) + ["watch"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, text=True)
        peers._live.append(self.proc)
        self.lines = queue.Queue()
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self):
        for line in self.proc.stdout:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def line(self, timeout=10):
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise NoLine("no line from ccpctl watch within %ss" % timeout)
        if line is None:
            self.lines.put(None)
            rc = self.proc.wait(5)
            raise AssertionError("ccpctl watch ended (exit %s): %s"
                                 % (rc, self.proc.stderr.read()))
        return line

    def event(self, timeout=10):
        return json.loads(self.line(timeout))

    def wait_exit(self, timeout=5):
        """Wait for the process to end; return (exit code, the lines it
        still printed, stderr)."""
        try:
            rc = self.proc.wait(timeout)
        finally:
            self.close()
        self.reader.join(5)
        rest = []
        while True:
            line = self.lines.get_nowait()
            if line is None:
                break
            rest.append(line)
        return rc, rest, self.proc.stderr.read()

    def stop(self, sig=signal.SIGINT):
        os.kill(self.proc.pid, sig)
        return self.wait_exit()

    def close(self):
        """Make sure it is gone (for a failing test)."""
        peers._stop_pid(self.proc, 2)
        if self.proc in peers._live:
            peers._live.remove(self.proc)


def ringing(agent, customer):
    ok(agent, "set-state", "Available")
    customer.dial(agent.sip_uri)
    return agent.c.wait_event("contact.incoming")["data"]["contact"]


# ---- agent state ----------------------------------------------------------

def test_status_human_and_json(agent):
    st = agent.c.call("agent.getState")
    assert ctl_json(agent, "status") == st
    out = ok(agent, "status")
    assert re.fullmatch(r"Offline \(offline\) since %s\n" % TIME, out), out
    # options may follow the command
    assert json.loads(ok(agent, "status", "--json")) == st


def test_states(agent):
    states = agent.c.call("agent.listStates")
    assert ctl_json(agent, "states") == states
    rows = [ln.split() for ln in ok(agent, "states").splitlines()]
    assert rows == [[s["name"], s["type"]] for s in states]
    assert ["Available", "routable"] in rows


def test_set_state_then_status(agent):
    out = ok(agent, "set-state", "Available")
    assert re.fullmatch(r"Available \(routable\) since %s\n" % TIME, out), out
    st = agent.c.call("agent.getState")
    assert st["state"] == "Available" and st["routable"] is True
    assert ok(agent, "status") == out
    assert ctl_json(agent, "set-state", "Lunch")["state"] == "Lunch"
    assert ok(agent, "status").startswith("Lunch (not_routable) since ")


def test_set_unknown_state_fails_with_the_daemons_message(agent):
    r = agent.ctl("set-state", "Nap")
    assert r.returncode == 1
    assert r.stdout == ""
    assert r.stderr == daemon_error(agent.c, "agent.setState",
                                    {"state": "Nap"})
    assert "Not found" in r.stderr and "Nap" in r.stderr
    assert agent.c.call("agent.getState")["state"] == "Offline"


def test_usage_errors_exit_2(agent):
    for args in (["bogus"], ["set-state"], ["dial"], ["call"], [],
                 ["status", "extra"], ["history", "0"], ["history", "x"],
                 ["--since", "3", "status"], ["--timeout", "0", "status"],
                 ["--no-such-option", "status"], ["history", "+5"],
                 ["history", " 5"], ["--timeout", "0x10", "status"],
                 ["--timeout", " 1", "status"], ["--since", "+1", "watch"]):
        r = agent.ctl(*args)
        assert r.returncode == 2, (args, r.returncode, r.stdout, r.stderr)
        assert r.stdout == "", args
        assert r.stderr.startswith("ccpctl: "), (args, r.stderr)
        assert "Try 'ccpctl --help'." in r.stderr, (args, r.stderr)
    assert "unknown command 'bogus'" in agent.ctl("bogus").stderr
    assert "set-state needs NAME" in agent.ctl("set-state").stderr
    # nothing reached the daemon
    assert agent.c.call("agent.getState")["state"] == "Offline"


def test_unreachable_socket_exits_1(tmp_path):
    missing = str(tmp_path / "nowhere" / "ccpd.sock")
    r = subprocess.run([CCPCTL, "--socket", missing, "status"],
                       stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=15)
    assert r.returncode == 1
    assert r.stdout == ""
    assert r.stderr == ("ccpctl: cannot connect to %s: "
                        "No such file or directory\n" % missing)

    # a socket nobody listens on
    dead = str(tmp_path / "dead.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(dead)
    try:
        r = subprocess.run([CCPCTL, "--socket", dead, "status"],
                           stdin=subprocess.DEVNULL, capture_output=True,
                           text=True, timeout=15)
    finally:
        s.close()
    assert r.returncode == 1
    assert r.stderr == ("ccpctl: cannot connect to %s: "
                        "Connection refused\n" % dead)


def test_silent_daemon_times_out(tmp_path):
    path = str(tmp_path / "silent.sock")
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(path)
    s.listen(1)
    try:
        t0 = time.monotonic()
        r = subprocess.run([CCPCTL, "--socket", path, "--timeout", "0.3",
                            "status"], stdin=subprocess.DEVNULL,
                           capture_output=True, text=True, timeout=15)
        took = time.monotonic() - t0
    finally:
        s.close()
    assert r.returncode == 1
    assert r.stderr == "ccpctl: no answer from %s within 0.3 s\n" % path
    assert 0.25 < took < 5, took


def test_socket_from_environment(agent):
    r = subprocess.run([CCPCTL, "--json", "status"],
                       stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=15,
                       env=dict(os.environ, CCPD_SOCKET=agent.socket))
    assert r.returncode == 0, r.stderr
    assert json.loads(r.stdout) == agent.c.call("agent.getState")


def test_instance_selects_its_socket(tmp_path):
    """-a NAME and $CCPD_INSTANCE mean ccpd@NAME's socket,
    /run/ccpd/NAME/ccpd.sock; -s and $CCPD_SOCKET win at their level."""
    env = dict(os.environ)
    env.pop("CCPD_SOCKET", None)

    def run(*args, **more):
        return subprocess.run([CCPCTL] + list(args), stdin=subprocess.DEVNULL,
                              capture_output=True, text=True, timeout=15,
                              env=dict(env, **more))

    name = "no-such-agent-%d" % os.getpid()
    want = "/run/ccpd/%s/ccpd.sock" % name
    for r in (run("-a", name, "status"), run("--instance", name, "status"),
              run("status", CCPD_INSTANCE=name)):
        assert r.returncode == 1, r
        assert r.stderr == "ccpctl: cannot connect to %s: No such file or " \
            "directory\n" % want, r.stderr
    other = str(tmp_path / "other.sock")
    for r in (run("-s", other, "status", CCPD_INSTANCE=name),
              run("status", CCPD_INSTANCE=name, CCPD_SOCKET=other)):
        assert other in r.stderr, r.stderr
    r = run("-a", name, "status", CCPD_SOCKET=other)
    assert want in r.stderr, r.stderr
    for args in (["-a", "../etc", "status"], ["-a", "", "status"],
                 ["-a", "x/y", "status"], ["-a", name, "-s", other, "status"]):
        r = run(*args)
        assert r.returncode == 2 and r.stdout == "", (args, r)
        assert "Try 'ccpctl --help'." in r.stderr, (args, r.stderr)
    assert "exclude each other" in run("-a", name, "-s", other,
                                       "status").stderr
    assert "  -a, --instance NAME   the socket of ccpd@NAME (default " \
        "$CCPD_INSTANCE)\n" in run("--help").stdout


# ---- calls ----------------------------------------------------------------

def test_inbound_call_with_ccpctl_only(agent, customer):
    cid = ringing(agent, customer)["contactId"]

    rows = [ln.split() for ln in ok(agent, "contacts").splitlines()]
    assert rows == [[cid, "inbound", "incoming", customer.uri]], rows
    assert ok(agent, "status").startswith("PendingBusy (system) since ")

    assert ok(agent, "accept") == "accepting %s\n" % cid
    customer.wait_event("CALL_ESTABLISHED", 10)
    agent.c.wait_event("contact.connected")
    assert ok(agent, "status").startswith("Busy (system) since ")
    assert ctl_json(agent, "contacts")[0]["state"] == "connected"

    assert ok(agent, "hangup") == "hanging up %s\n" % cid
    customer.wait_event("CALL_CLOSED", 10)
    agent.c.wait_event("contact.acw")
    out = ok(agent, "status")
    assert re.fullmatch(r"AfterContactWork \(system\) since %s\n"
                        r"status: Available\n" % TIME, out), out
    rows = [ln.split() for ln in ok(agent, "contacts").splitlines()]
    assert rows == [[cid, "inbound", "ended", customer.uri]], rows

    assert ok(agent, "clear") == "cleared %s\n" % cid
    assert ok(agent, "status").startswith("Available (routable) since ")
    assert ok(agent, "contacts") == ""
    assert ctl_json(agent, "contacts") == []
    # nothing left to act on
    for cmd in ("accept", "hangup", "clear"):
        r = agent.ctl(cmd)
        assert r.returncode == 1 and r.stderr.startswith("ccpctl: no "), \
            (cmd, r.stderr)


def test_accept_an_ended_contact_fails_with_the_daemons_message(agent,
                                                                 customer):
    cid = ringing(agent, customer)["contactId"]
    ok(agent, "reject", cid)
    customer.wait_event("CALL_CLOSED", 10)
    agent.c.wait_event("contact.rejected")
    r = agent.ctl("accept", cid)
    assert r.returncode == 1
    assert r.stderr == daemon_error(agent.c, "contact.accept",
                                    {"contactId": cid})
    r = agent.ctl("hangup", "c-999")
    assert r.returncode == 1 and r.stderr.startswith("ccpctl: Not found: ")


def test_dial_prints_the_contact_id(agent):
    callee = peers.BaresipPeer(name="callee", tone=440,
                               answermode="auto").start()
    try:
        ok(agent, "set-state", "Available")
        out = ok(agent, "dial", callee.uri)
        assert re.fullmatch(UUID + r"\n", out), out
        cid = out.strip()
        live = ctl_json(agent, "contacts")
        assert [x["contactId"] for x in live] == [cid]
        assert live[0]["direction"] == "outbound"
        assert live[0]["customer"]["uri"] == callee.uri
        assert live[0]["state"] in ("connecting", "connected")

        callee.wait_event("CALL_ESTABLISHED", 10)
        agent.c.wait_event("contact.connected")
        assert ctl_json(agent, "contacts")[0]["state"] == "connected"
        assert ok(agent, "hangup") == "hanging up %s\n" % cid
        callee.wait_event("CALL_CLOSED", 10)
        agent.c.wait_event("contact.acw")
        assert ctl_json(agent, "clear", cid) == {}
        assert ctl_json(agent, "status")["state"] == "Available"
    finally:
        callee.stop()


def test_next_state_and_hangup_cancels_a_dial(agent):
    callee = peers.BaresipPeer(name="callee", tone=440).start()
    try:
        ok(agent, "set-state", "Available")
        cid = ok(agent, "dial", callee.uri).strip()
        callee.wait_event("CALL_INCOMING", 10)
        rows = [ln.split() for ln in ok(agent, "contacts").splitlines()]
        assert rows == [[cid, "outbound", "connecting", callee.uri]], rows

        out = ok(agent, "set-state", "Lunch")
        assert re.fullmatch(r"CallingCustomer \(system\) since %s\n"
                            r"status: Available\nnext: Lunch\n" % TIME,
                            out), out
        assert ctl_json(agent, "clear-next")["next"] is None
        assert ok(agent, "status").endswith("status: Available\n")
        ok(agent, "set-state", "Break")

        # still ringing: hangup cancels it
        assert ok(agent, "hangup") == "hanging up %s\n" % cid
        callee.wait_event("CALL_CLOSED", 10)
        agent.c.wait_event("contact.acw")
        out = ok(agent, "status")
        assert out.startswith("AfterContactWork (system) since "), out
        assert out.endswith("\nstatus: Available\nnext: Break\n"), out
        assert ok(agent, "clear") == "cleared %s\n" % cid
        assert ok(agent, "status").startswith("Break (not_routable) since ")
    finally:
        callee.stop()


def test_dial_bad_endpoint_fails(agent):
    ok(agent, "set-state", "Available")
    r = agent.ctl("dial", "hello")
    assert r.returncode == 1
    assert r.stderr == daemon_error(agent.c, "agent.connect",
                                    {"endpoint": "hello"})
    assert ok(agent, "contacts") == ""


def test_history(agent):
    # an offer to the Offline agent is refused at once and kept in history
    uac = peers.Sipp("uac_expect_refusal", target=agent.sip_port,
                     service="agent", from_user="+442071838750", timeout=10)
    assert uac.run() == 0, uac.errors()
    cid = agent.c.wait_event("contact.refused")["data"]["contact"][
        "contactId"]

    hist = agent.c.call("contact.history", {"limit": 5})
    assert ctl_json(agent, "history", "5") == hist
    rows = [ln.split() for ln in ok(agent, "history").splitlines()]
    assert len(rows) == 1, rows
    assert rows[0][0] == cid and re.fullmatch(TIME, rows[0][1])
    assert rows[0][2:] == ["inbound", "refused", "+442071838750", "refused"]
    assert ok(agent, "contacts") == ""

    # the daemon judges the upper bound
    r = agent.ctl("history", "5000")
    assert r.returncode == 1
    assert r.stderr == daemon_error(agent.c, "contact.history",
                                    {"limit": 5000})


# ---- call -----------------------------------------------------------------

def test_call_any_method(agent):
    out = ok(agent, "call", "agent.getState")
    assert out.startswith("{\n  \"status\": \"Offline\",\n"), out
    assert json.loads(out) == agent.c.call("agent.getState")

    res = json.loads(ok(agent, "call", "agent.setState",
                        '{"state":"Lunch"}'))
    assert res["state"] == res["status"] == "Lunch"
    assert agent.c.call("agent.getState") == res
    assert ctl_json(agent, "call", "agent.getState") == res

    # a state name (or params) starting with '-' follows "--"
    r = agent.ctl("call", "--", "agent.setState", '{"state":"-x"}')
    assert r.returncode == 1 and "Not found" in r.stderr, r.stderr

    r = agent.ctl("call", "no.such")
    assert r.returncode == 1
    assert r.stderr == daemon_error(agent.c, "no.such", None)


def test_call_with_bad_json_exits_2(agent):
    for params in ('{"state":', "{state: 'Lunch'}", "", '{"a":1} x'):
        r = agent.ctl("call", "agent.setState", params)
        assert r.returncode == 2, (params, r.returncode, r.stderr)
        assert r.stdout == ""
        assert "not valid JSON" in r.stderr, r.stderr
    assert agent.c.call("agent.getState")["state"] == "Offline"


# ---- watch ----------------------------------------------------------------

def test_watch_json_prints_state_changes(agent):
    other = agent.client()
    w = Watch(agent, "--json")
    try:
        # Its subscription cannot be seen from outside and --json prints
        # no snapshot: change the state until it reports a change.
        deadline = time.monotonic() + 10
        flip = ["Lunch", "Break"]
        while True:
            other.call("agent.setState", {"state": flip[0]})
            flip.reverse()
            try:
                first = w.event(timeout=0.2)
                break
            except NoLine:
                assert time.monotonic() < deadline, "watch saw no event"

        for name in ("Available", "Break", "Offline"):
            other.call("agent.setState", {"state": name})
        got = [first]
        while got[-1]["data"]["newState"] != "Offline":
            got.append(w.event())

        # one JSON object a line, consecutive seqs, the same events the
        # socket client received
        seqs = [e["seq"] for e in got]
        assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), seqs
        for e in got:
            assert e["type"] == "agent.stateChange"
            assert set(e) == {"seq", "type", "time", "data"}, e
            ref = agent.c.wait_event("agent.stateChange",
                                     pred=lambda x, s=e["seq"]:
                                     x["seq"] == s)
            assert e == ref
        assert [e["data"]["newState"] for e in got[-3:]] == \
            ["Available", "Break", "Offline"]
        assert got[-1]["data"]["agent"] == agent.c.call("agent.getState")

        rc, rest, err = w.stop(signal.SIGINT)
        assert rc == 0, err
        assert rest == [] and err == "", (rest, err)
    finally:
        w.close()


def test_watch_since_replays_later_events(agent):
    c = agent.c
    for name in ("Available", "Break", "Lunch"):
        c.call("agent.setState", {"state": name})
    evs = [c.wait_event("agent.stateChange") for _ in range(3)]
    assert [e["data"]["newState"] for e in evs] == \
        ["Available", "Break", "Lunch"]
    since = evs[0]["seq"]

    w = Watch(agent, "--json", "--since", str(since))
    try:
        assert w.event() == evs[1]
        assert w.event() == evs[2]
        # then live events, and nothing else was replayed
        c.call("agent.setState", {"state": "Offline"})
        live = c.wait_event("agent.stateChange")
        assert w.event() == live
        assert live["seq"] == evs[2]["seq"] + 1
        rc, rest, err = w.stop(signal.SIGINT)
        assert (rc, rest, err) == (0, [], "")
    finally:
        w.close()


def test_watch_human_snapshot_then_events(agent, customer):
    w = Watch(agent)
    try:
        first = w.line()
        m = re.fullmatch(r"(\d+) snapshot Offline \(offline\) since %s"
                         % TIME, first)
        assert m, first
        seq = int(m.group(1))
        ok(agent, "set-state", "Available")
        assert w.line() == "%d agent.stateChange Offline -> Available" % (
            seq + 1)
        customer.dial(agent.sip_uri)
        assert w.line() == ("%d agent.stateChange Available -> PendingBusy, "
                            "status Available" % (seq + 2))
        line = w.line()
        assert re.fullmatch((r"%d contact.incoming %s inbound %s"
                             % (seq + 3, UUID, re.escape(customer.uri))),
                            line), line
        ok(agent, "reject")
        customer.wait_event("CALL_CLOSED", 10)
        # SIGTERM ends it cleanly too
        rc, rest, err = w.stop(signal.SIGTERM)
        assert rc == 0 and err == "", (rc, err)
    finally:
        w.close()


def test_watch_reports_a_daemon_that_goes_away(make_ccpd):
    d = make_ccpd()
    w = Watch(d)
    try:
        assert " snapshot " in w.line()
        d.stop()
        rc, rest, err = w.wait_exit(10)
        assert rc == 1, (rc, err)
        assert err == "ccpctl: %s: ccpd closed the connection\n" % d.socket
    finally:
        w.close()


# ---- the help and the command table ---------------------------------------

# Every row of the help, in its order: what a user reads, and what scripts
# that call ccpctl rely on. A change here is a change of the CLI.
HELP_COMMANDS = [
    "status", "states", "set-state NAME", "clear-next", "dial ENDPOINT",
    "accept [CONTACT]", "reject [CONTACT]", "hangup [CONTACT]",
    "clear [CONTACT]", "hold [CONTACT]", "resume [CONTACT]", "mute", "unmute",
    "digits DIGITS [CONTACT]", "consult ENDPOINT [CONTACT]", "swap [CONTACT]",
    "join [CONTACT]", "leave [CONTACT]", "transfer ENDPOINT [CONTACT]",
    "endpoints", "contacts", "history [N]", "media", "registration",
    "network check", "audio devices", "audio set ROLE=DEVICE...",
    "audio test", "config", "config set softphone|deskphone [EXTENSION]",
    "config move-to-desk", "phone normalize NUMBER [REGION]",
    "phone format NUMBER FORMAT [REGION]", "version",
    "call METHOD [JSON-PARAMS]", "watch", "login USER", "logout", "whoami",
    "passwd", "admin TABLE [ACTION [ARGS]]", "metrics", "report agents",
    "floor",
]


def run_ctl(*args):
    return subprocess.run([CCPCTL] + list(args), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=10)


def test_help_lists_every_command_in_order():
    r = run_ctl("--help")
    assert r.returncode == 0 and r.stderr == "", r
    rows = r.stdout.split("Commands:\n", 1)[1].split("\n\n", 1)[0]
    lines = rows.splitlines()
    assert len(lines) == len(HELP_COMMANDS), lines
    for line, head in zip(lines, HELP_COMMANDS):
        # "  NAME ARGS", padded to a column, then the summary
        assert line.startswith("  %s " % head), (line, head)
        if len(head) < 28:
            assert line[2 + len(head):31].strip() == "" and line[31] != " ", \
                line
    # the options and the exit codes follow the commands
    assert "\nOptions:\n" in r.stdout
    assert r.stdout.endswith("Exit status: 0 success, 1 ccpd failed or could "
                             "not be reached,\n2 usage error.\n")


def test_every_command_in_the_help_runs():
    """Each name in the help finds its command: too many arguments is a
    usage error that names it, found before any daemon is asked."""
    full = run_ctl("--help").stdout
    for name in sorted({h.split()[0] for h in HELP_COMMANDS}):
        r = run_ctl("--socket", "/nonexistent/ccpd.sock", name,
                    *["x"] * 65)
        assert r.returncode == 2, (name, r)
        assert r.stderr == ("ccpctl: too many arguments for %s\n"
                            "Try 'ccpctl --help'.\n" % name), (name, r)
        # --help after a command shows the same help
        assert run_ctl(name, "--help").stdout == full, name
