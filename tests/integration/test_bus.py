"""The bus: every agent and contact event on NATS JetStream (stream
CCP_EVENTS), the agent's snapshot in the bucket CCP_AGENTS, the floor read
back from it, and delivery without loss or duplicates through outages of
nats-server and a kill -9 of ccpd.  Real nats-server, real ccpd."""

import json
import os
import signal
import subprocess
import time

import pytest

import ccpd as ccpd_mod
import peers
from nats import (NatsServer, nats_server, nats_shared, nats_cluster,  # noqa: F401
                  wait_for)


def bus_opts(server, **more):
    o = {"bus": server if isinstance(server, str) else server.url,
         "bus_heartbeat": "1"}
    o.update(more)
    return o


def wait_connected(c, timeout=20):
    return wait_for("bus connected",
                    lambda: c.call("bus.getStatus")["connected"], timeout)


def agent_msgs(nc, agent="agent"):
    return [m for m in nc.stream_msgs()
            if m[0].startswith("ccp.agent.%s." % agent)]


def test_events_reach_the_stream(make_ccpd, nats_shared):
    d = make_ccpd(options=bus_opts(nats_shared))
    c = d.client()
    c.call("events.subscribe")
    wait_connected(c)
    desk = c.call("bus.getStatus")["desk"]
    c.call("agent.setState", {"state": "Available"})
    c.wait_state("Available")
    c.call("agent.setState", {"state": "Break"})
    c.wait_state("Break")
    nc = nats_shared.client()
    msgs = wait_for("three stateChange events in the stream", lambda: [
        m for m in agent_msgs(nc)
        if m[0] == "ccp.agent.agent.agent.stateChange"
        and m[2]["data"]["newState"] in ("Available", "Break")] or None)
    states = [m[2]["data"]["newState"] for m in msgs]
    assert states[-2:] == ["Available", "Break"], states
    subject, hdrs, payload = msgs[-1]
    assert payload["type"] == "agent.stateChange"
    assert payload["agent"] == "agent"
    assert payload["desk"] == desk
    assert isinstance(payload["ts"], int) and isinstance(payload["seq"], int)
    assert hdrs["Nats-Msg-Id"].startswith(desk + ":")
    # ids are unique and increase in the stream's order
    ids = [int(m[1]["Nats-Msg-Id"].rsplit(":", 1)[1]) for m in agent_msgs(nc)]
    assert ids == sorted(set(ids)), ids
    # the snapshot in the bucket
    snap = wait_for("snapshot Break", lambda: (
        lambda s: s if s and s["state"] == "Break" else None)(
            nc.kv_get("agent")))
    assert snap["desk"] == desk and snap["agent"] == "agent"
    assert snap["heartbeat"] == 1000 and snap["contacts"] == []
    seen = snap["seen"]
    wait_for("heartbeat", lambda: nc.kv_get("agent")["seen"] > seen, 5)
    st = c.call("bus.getStatus")
    assert st["state"] == "connected" and st["server"].endswith(
        ":%d" % nats_shared.port)
    wait_for("nothing waiting",
             lambda: c.call("bus.getStatus")["waiting"] == 0)
    out = d.ctl("status")
    assert "bus: connected to nats://127.0.0.1:%d, 0 waiting" % \
        nats_shared.port in out.stdout, out
    import urllib.request
    text = urllib.request.urlopen(d.http_url + "/metrics", timeout=5).read(
        ).decode()
    assert "\nccpd_bus_connected 1\n" in text and \
        "\nccpd_bus_waiting 0\n" in text, text


def kill9(d):
    """kill -9 a ccpd made with Ccpd() (not make_ccpd, which wants a clean
    exit); its baresip follows it (PDEATHSIG)."""
    d.proc.kill()
    d.proc.wait(10)
    if d.proc in peers._live:
        peers._live.remove(d.proc)
    for c in d.clients:
        c.close()
    d.log.close()
    d.notify.close()


def floor_agent(floor, name):
    for a in floor["agents"]:
        if a["agent"] == name:
            return a
    return None


def floor_get_ready(c, timeout=15):
    return wait_for("floor ready", lambda: (
        lambda f: f if f["ready"] else None)(c.call("floor.get")), timeout)


def test_the_floor_follows_every_agent(make_ccpd, nats_shared):
    alice = make_ccpd(options=bus_opts(nats_shared, sip_user="alice"))
    bob = ccpd_mod.Ccpd(options=bus_opts(nats_shared, sip_user="bob.b"))
    try:
        sup = make_ccpd(options=bus_opts(nats_shared, sip_user="sup"))
        ca, cb, cs = alice.client(), bob.client(), sup.client()
        for c in (ca, cb, cs):
            wait_connected(c)
        ca.call("agent.setState", {"state": "Available"})
        floor = wait_for("both agents on the floor", lambda: (
            lambda f: f if f["ready"] and floor_agent(f, "alice") and
            floor_agent(f, "bob.b") and
            floor_agent(f, "alice")["state"] == "Available" else None)(
                cs.call("floor.get")))
        a = floor_agent(floor, "alice")
        assert a["desk"] == ca.call("bus.getStatus")["desk"]
        assert a["unreachable"] is False and a["contacts"] == []
        # a name that is not a subject token is escaped in key and subject
        assert floor_agent(floor, "bob.b")["key"] == "bob=2Eb"
        assert floor["totals"].get("Available", 0) >= 1
        assert sum(floor["totals"].values()) == len(floor["agents"])
        # a change on alice's desk reaches the supervisor as floor.changed
        t0 = time.monotonic()
        ca.call("agent.setState", {"state": "Lunch"})
        ev = cs.wait_event("floor.changed", 10, lambda e: any(
            x["agent"] == "alice" and x["state"] == "Lunch"
            for x in e["data"]["agents"]))
        took = time.monotonic() - t0
        assert ev["data"]["totals"].get("Lunch") == 1, ev
        assert took < 5, took
        # ccpctl: one snapshot, the table, the changes
        out = sup.ctl("floor", "--json")
        assert out.returncode == 0, out
        snap = json.loads(out.stdout)
        assert floor_agent(snap, "alice")["state"] == "Lunch"
        out = sup.ctl("floor")
        assert out.returncode == 0, out
        lines = out.stdout.splitlines()
        assert lines[1].split()[:3] == ["AGENT", "STATE", "TIME"], lines
        row = [ln for ln in lines if ln.startswith("alice ")]
        assert row and row[0].split()[1] == "Lunch", lines
        watch = subprocess.Popen(
            [ccpd_mod.CCPCTL, "--socket", sup.socket, "floor", "--watch"],
            stdout=subprocess.PIPE, text=True)
        try:
            # the table first, then one line per change
            head = watch.stdout.readline()
            assert head.strip(), head
            ca.call("agent.setState", {"state": "Break"})
            deadline = time.monotonic() + 10
            line = ""
            while time.monotonic() < deadline:
                line = watch.stdout.readline()
                if line.split()[1:3] == ["alice", "Break"]:
                    break
            assert line.split()[1:3] == ["alice", "Break"], line
        finally:
            watch.terminate()
            watch.wait(5)
        # bob's desk dies: after three heartbeats bob is unreachable
        cb.call("agent.setState", {"state": "Available"})
        wait_for("bob Available", lambda: floor_agent(
            cs.call("floor.get"), "bob.b")["state"] == "Available")
        kill9(bob)
        t0 = time.monotonic()
        ev = cs.wait_event("floor.changed", 10, lambda e: any(
            x["agent"] == "bob.b" and x["unreachable"]
            for x in e["data"]["agents"]))
        took = time.monotonic() - t0
        b = floor_agent(ev["data"], "bob.b")
        assert b["state"] == "Unreachable" and b["lastState"] == "Available"
        assert ev["data"]["totals"].get("Unreachable") == 1
        assert 2.0 <= took <= 6, took
        out = sup.ctl("floor")
        assert "Unreachable" in out.stdout and "last Available" in \
            out.stdout, out.stdout
    finally:
        if bob.proc.poll() is None:
            bob.stop()


def test_floor_view_is_a_permission(make_ccpd, nats_shared):
    d = make_ccpd(options=bus_opts(nats_shared))
    root = d.client()
    for name, profile in (("ann", "Agent"), ("sue", "Supervisor"),
                          ("ada", "Admin")):
        root.call("admin.users.create", {
            "username": name, "profile": profile,
            "password": name + "-secret-1", "mustChangePassword": False})
    sup = root.call("admin.profiles.get", {"name": "Supervisor"})
    assert "floor.view" in sup["permissions"], sup
    for name, allowed in (("ann", False), ("sue", True), ("ada", True)):
        c = d.client()
        c.call("session.login", {"username": name,
                                 "password": name + "-secret-1"})
        ans = c.request("floor.get")
        if allowed:
            assert "result" in ans, ans
        else:
            assert ans["error"]["code"] == -32002, ans
            assert ans["error"]["data"]["permission"] == "floor.view"


def test_bus_off_by_default(make_ccpd):
    d = make_ccpd()
    c = d.client()
    st = c.call("bus.getStatus")
    assert st["enabled"] is False and st["state"] == "off"
    err = c.error("floor.get")
    assert err["code"] == -32003 and "bus" in err["data"]["reason"]
    out = d.ctl("status")
    assert "bus" not in out.stdout, out


def stream_run(nc, desk):
    """The desk's messages in the stream: (msg id seq, payload)."""
    out = []
    for subject, hdrs, payload in nc.stream_msgs():
        mid = hdrs.get("Nats-Msg-Id", "")
        if mid.startswith(desk + ":"):
            out.append((int(mid.rsplit(":", 1)[1]), subject, payload))
    return out


def test_outage_and_kill9_lose_nothing_and_duplicate_nothing(nats_server):
    state = peers._mkdtemp("ccpd-bus-state-")
    opts = bus_opts(nats_server, state_dir=state)
    d = ccpd_mod.Ccpd(options=opts)
    d2 = None
    try:
        c = d.client()
        c.call("events.subscribe")
        wait_connected(c)
        desk = c.call("bus.getStatus")["desk"]
        made = []

        def change(n):
            for i in range(n):
                st = ["Available", "Break", "Lunch"][len(made) % 3]
                c.call("agent.setState", {"state": st})
                made.append(st)
                c.wait_event("agent.stateChange", 10,
                             lambda e: e["data"]["newState"] == st)
        change(6)
        wait_for("all acknowledged",
                 lambda: c.call("bus.getStatus")["waiting"] == 0)
        # the server goes away mid-stream, with events on the wire and
        # unacknowledged: they wait in the outbox
        for st in ["Available", "Break", "Lunch"] * 4:
            c.call("agent.setState", {"state": st})
            made.append(st)
        nats_server.kill()
        change(6)
        st = wait_for("disconnected", lambda: (
            lambda s: s if s["state"] == "disconnected" else None)(
                c.call("bus.getStatus")))
        assert st["connected"] is False and st["error"], st
        assert c.event("bus.status", 5,
                       lambda e: e["data"]["state"] == "disconnected")
        waiting = c.call("bus.getStatus")["waiting"]
        assert waiting >= 6, waiting
        text = c.call("metrics.getPrometheus")["text"]
        assert "\nccpd_bus_connected 0\n" in text, text
        assert "\nccpd_bus_waiting %d\n" % waiting in text, text
        # and ccpd itself dies without a word (what its client was sent
        # is all in hand first)
        c.call("agent.getState")
        while not c.events.empty():
            c.seen.append(c.events.get())
        kill9(d)
        # ccpd comes back first, still without its server ...
        d2 = ccpd_mod.Ccpd(options=opts)
        c2 = d2.client()
        assert c2.call("bus.getStatus")["waiting"] >= waiting
        c2.call("agent.setState", {"state": "Available"})
        # ... then the server, on the same store
        nats_server.start()
        wait_connected(c2, 30)
        wait_for("all acknowledged after the outage",
                 lambda: c2.call("bus.getStatus")["waiting"] == 0, 30)
        nc = nats_server.client()
        run = stream_run(nc, desk)
        ids = [r[0] for r in run]
        # exactly once, in order
        assert len(ids) == len(set(ids)), ids
        assert ids == sorted(ids), ids
        # every change made before the kill is there, in the order made
        first = [r[2]["data"]["newState"] for r in run
                 if r[1] == "ccp.agent.agent.agent.stateChange"
                 and r[2]["data"]["newState"] in ("Available", "Break",
                                                  "Lunch")]
        assert first[:len(made)] == made, (first, made)
        assert first[len(made):] == ["Available"], first
        # what the stream holds is what the desk made: every agent event
        # the first run's clients saw, once each
        seen = [e for e in c.seen if e["type"].startswith(
            ("agent.", "contact.", "connection."))]
        first_run = []
        for r in run:
            # the event numbers start again at 1 with the second run
            if first_run and r[2]["seq"] < first_run[-1]["seq"]:
                break
            first_run.append(r[2])
        mine = [p for p in first_run if p["seq"] >= seen[0]["seq"]]
        assert [(p["seq"], p["type"]) for p in mine] == \
            [(e["seq"], e["type"]) for e in seen], (mine, seen)
    finally:
        if d.proc.poll() is None:
            kill9(d)
        if d2:
            d2.stop()


def test_unreachable_server_is_a_state_not_a_failure(make_ccpd):
    port = peers.free_port("tcp")
    d = make_ccpd(options={"bus": "nats://127.0.0.1:%d" % port})
    c = d.client()
    st = wait_for("a clear error", lambda: (
        lambda s: s if s["error"] else None)(c.call("bus.getStatus")))
    assert st["state"] == "disconnected" and not st["connected"]
    c.call("agent.setState", {"state": "Available"})
    assert c.call("agent.getState")["state"] == "Available"
    assert c.call("bus.getStatus")["waiting"] >= 1
    assert "bus: nats://127.0.0.1:%d" % port in d.log_text()


def test_bad_url_is_refused_and_ccpd_runs_on(make_ccpd):
    d = make_ccpd(options={"bus": "http://127.0.0.1:4222"})
    c = d.client()
    st = c.call("bus.getStatus")
    assert st["state"] == "failed" and "nats://host:port" in st["error"]
    c.call("agent.setState", {"state": "Available"})
    assert "ccpd runs on without the bus" in d.log_text()


def test_bad_credentials(make_ccpd):
    s = NatsServer(extra_conf='authorization { user: ccp, password: '
                   '"right-pw" }\n').start()
    try:
        creds = os.path.join(s.dir, "bad.creds")
        with open(creds, "w") as f:
            f.write("ccp:wrong-pw\n")
        d = make_ccpd(options={"bus": s.url, "bus_credentials": creds})
        c = d.client()
        st = wait_for("failed", lambda: (
            lambda x: x if x["state"] == "failed" else None)(
                c.call("bus.getStatus")))
        assert "uthorization" in st["error"] or "auth" in st["error"], st
        c.call("agent.setState", {"state": "Available"})
        # the right ones work
        with open(creds, "w") as f:
            f.write("ccp:right-pw\n")
        d2 = make_ccpd(options=bus_opts(s, bus_credentials=creds))
        wait_connected(d2.client())
    finally:
        s.stop()


def test_a_stream_with_other_settings(make_ccpd, nats_server):
    nc = nats_server.client()
    r = nc.js("STREAM.CREATE.CCP_EVENTS", {
        "name": "CCP_EVENTS", "subjects": ["other.>"], "storage": "memory",
        "num_replicas": 1})
    assert "error" not in r, r
    d = make_ccpd(options=bus_opts(nats_server))
    c = d.client()
    st = wait_for("failed", lambda: (
        lambda x: x if x["state"] == "failed" else None)(
            c.call("bus.getStatus")))
    assert "CCP_EVENTS exists with other settings" in st["error"], st
    c.call("agent.setState", {"state": "Available"})
    assert c.call("agent.getState")["state"] == "Available"


def test_replicas_without_a_cluster(make_ccpd, nats_server):
    d = make_ccpd(options=bus_opts(nats_server, bus_replicas="3"))
    c = d.client()
    st = wait_for("failed", lambda: (
        lambda x: x if x["state"] == "failed" else None)(
            c.call("bus.getStatus")))
    assert "replicas" in st["error"] and "CCP_EVENTS" in st["error"], st
    c.call("agent.setState", {"state": "Available"})


def test_a_value_in_the_bucket_that_is_not_json(make_ccpd, nats_server):
    d = make_ccpd(options=bus_opts(nats_server, sip_user="sup"))
    c = d.client()
    wait_connected(c)
    floor_get_ready(c)
    nc = nats_server.client()
    nc.kv_put_raw("mallory", b"this is not JSON")
    nc.kv_put_raw("carol", json.dumps({
        "agent": "carol", "state": "Available", "status": "Available",
        "seen": int(time.time() * 1000), "heartbeat": 60000}).encode())
    c.wait_event("floor.changed", 10, lambda e: any(
        a["agent"] == "carol" for a in e["data"]["agents"]))
    floor = c.call("floor.get")
    assert floor_agent(floor, "mallory") is None
    assert floor_agent(floor, "carol")["state"] == "Available"
    assert "key mallory holds no JSON object, ignoring it" in d.log_text()


def test_a_three_node_cluster_survives_the_loss_of_a_node(make_ccpd,
                                                          nats_cluster):
    from nats import wait_jetstream
    z1, z2, z3 = nats_cluster
    for n in nats_cluster:
        wait_jetstream(n)

    def urls(*nodes):
        return ",".join(n.url for n in nodes)
    alice = make_ccpd(options=bus_opts(urls(z1, z2, z3), sip_user="alice",
                                       bus_replicas="3"))
    bob = make_ccpd(options=bus_opts(urls(z2, z3, z1), sip_user="bob",
                                     bus_replicas="3"))
    sup = make_ccpd(options=bus_opts(urls(z3, z1, z2), sip_user="sup",
                                     bus_replicas="3"))
    ca, cb, cs = alice.client(), bob.client(), sup.client()
    for c in (ca, cb, cs):
        wait_connected(c, 40)
    # each on its own zone's node
    assert ca.call("bus.getStatus")["server"].endswith(":%d" % z1.port)
    assert cb.call("bus.getStatus")["server"].endswith(":%d" % z2.port)
    nc = z2.client()
    info = nc.stream_info()
    assert info["config"]["num_replicas"] == 3, info
    assert nc.stream_info("KV_CCP_AGENTS")["config"]["num_replicas"] == 3
    floor_get_ready(cs)
    made = {"alice": [], "bob": []}
    states = ["Available", "Break", "Lunch"]

    def change(c, name):
        st = states[len(made[name]) % 3]
        c.call("agent.setState", {"state": st})
        made[name].append(st)
        # the supervisor sees every change
        cs.wait_event("floor.changed", 30, lambda e: any(
            a["agent"] == name and a["state"] == st
            for a in e["data"]["agents"]))

    for _ in range(3):
        change(ca, "alice")
        change(cb, "bob")
    # alice's node dies: she goes on through another, and the
    # supervisor goes on seeing every change
    z1.kill()
    for _ in range(3):
        change(ca, "alice")
        change(cb, "bob")
    wait_for("alice on another node", lambda: (
        lambda s: s["connected"] and not s["server"].endswith(
            ":%d" % z1.port))(ca.call("bus.getStatus")), 30)
    # it comes back
    z1.start()
    wait_jetstream(z1)
    for _ in range(3):
        change(ca, "alice")
        change(cb, "bob")
    for c in (ca, cb):
        wait_for("all acknowledged",
                 lambda: c.call("bus.getStatus")["waiting"] == 0, 30)
    # nothing lost, nothing twice, in order per agent; asked through the
    # node that was down
    for c, name in ((ca, "alice"), (cb, "bob")):
        desk = c.call("bus.getStatus")["desk"]

        def caught_up():
            n1 = z1.client()
            try:
                run = stream_run(n1, desk)
            finally:
                n1.close()
            got = [r[2]["data"]["newState"] for r in run
                   if r[1] == "ccp.agent.%s.agent.stateChange" % name and
                   r[2]["data"]["newState"] in states]
            return (run, got) if got == made[name] else None
        run, got = wait_for("%s's events on the revived node" % name,
                            caught_up, 30)
        ids = [r[0] for r in run]
        assert len(ids) == len(set(ids)) and ids == sorted(ids), ids


def make_cert(d):
    """A CA and a server certificate for 127.0.0.1, made with openssl."""
    def run(*args):
        subprocess.run(["openssl"] + list(args), check=True,
                       capture_output=True, cwd=d)
    run("req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1",
        "-keyout", "ca.key", "-out", "ca.pem", "-subj", "/CN=ccp test CA")
    run("req", "-newkey", "rsa:2048", "-nodes", "-keyout", "server.key",
        "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    with open(os.path.join(d, "san.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\n")
    run("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey",
        "ca.key", "-CAcreateserial", "-days", "1", "-out", "server.pem",
        "-extfile", "san.ext")
    return (os.path.join(d, "ca.pem"), os.path.join(d, "server.pem"),
            os.path.join(d, "server.key"))


def test_tls_and_user_password(make_ccpd):
    d = peers._mkdtemp("ccpd-bus-tls-")
    ca, cert, key = make_cert(d)
    s = NatsServer(extra_conf=(
        'tls { cert_file: "%s"\n key_file: "%s" }\n'
        'authorization { user: desk, password: "s3cret-pw" }\n'
        % (cert, key))).start()
    try:
        creds = os.path.join(d, "bus.creds")
        with open(creds, "w") as f:
            f.write("desk:s3cret-pw\n")
        a = make_ccpd(options={
            "bus": "tls://127.0.0.1:%d" % s.port, "bus_tls_ca": ca,
            "bus_credentials": creds, "bus_heartbeat": "1"})
        c = a.client()
        wait_connected(c)
        c.call("agent.setState", {"state": "Available"})
        wait_for("acknowledged", lambda: c.call("bus.getStatus")[
            "waiting"] == 0)
        # without the CA the server's certificate is refused
        b = make_ccpd(options={
            "bus": "tls://127.0.0.1:%d" % s.port,
            "bus_credentials": creds})
        cb = b.client()
        st = wait_for("an error", lambda: (
            lambda x: x if x["error"] else None)(cb.call("bus.getStatus")))
        assert not st["connected"], st
    finally:
        s.stop()


def test_floor_history_is_rebuilt_from_the_stream(make_ccpd, nats_shared):
    alice = make_ccpd(options=bus_opts(nats_shared, sip_user="alice"))
    ca = alice.client()
    wait_connected(ca)
    for st in ("Available", "Lunch"):
        ca.call("agent.setState", {"state": st})
    wait_for("acknowledged", lambda: ca.call("bus.getStatus")[
        "waiting"] == 0)
    # a supervisor's desk that was not there: all it knows is the stream
    sup = make_ccpd(options=bus_opts(nats_shared, sip_user="sup"))
    cs = sup.client()
    wait_connected(cs)
    hist = wait_for("history read", lambda: (
        lambda h: h if h["ready"] else None)(cs.call("floor.history")))
    pts = hist["points"]
    assert len(pts) == 60 and hist["step"] == 60000
    assert all(b["t"] > a["t"] for a, b in zip(pts, pts[1:]))
    floor = cs.call("floor.get")
    assert pts[-1]["totals"] == floor["totals"], (pts[-1], floor)
    assert pts[-1]["totals"].get("Lunch") == 1
    # an hour ago alice was in the state her first change left
    assert "Lunch" not in pts[0]["totals"], pts[0]
    assert sum(pts[0]["totals"].values()) == len(floor["agents"])
    assert len(cs.call("floor.history", {"minutes": 5})["points"]) == 5
    assert cs.error("floor.history", {"minutes": 61})["code"] == -32602


def test_a_creds_file(make_ccpd):
    """Decentralized auth, as a contact center's NATS would have it: an
    operator, an account with JetStream, a user's .creds file."""
    from nats import make_creds
    d = peers._mkdtemp("ccpd-bus-creds-")
    conf, creds = make_creds(d)
    s = NatsServer(extra_conf=conf).start()
    try:
        a = make_ccpd(options=bus_opts(s, bus_credentials=creds))
        c = a.client()
        wait_connected(c)
        c.call("agent.setState", {"state": "Available"})
        wait_for("acknowledged", lambda: c.call("bus.getStatus")[
            "waiting"] == 0)
        # a stranger without credentials is refused by the same server
        b = make_ccpd(options=bus_opts(s))
        st = wait_for("refused", lambda: (
            lambda x: x if x["state"] == "failed" else None)(
                b.client().call("bus.getStatus")))
        assert "uthoriz" in st["error"], st
    finally:
        s.stop()
