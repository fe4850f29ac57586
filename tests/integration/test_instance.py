"""The instance on PostgreSQL: real ccpd processes with their real baresip
against a real PostgreSQL 15 (pg.py), one fresh database per test.

- database= takes a URI and never makes a path of it; --dump-config hides
  the password;
- two desks on one instance: a user added at A logs in at B, a change at A
  is seen at B within a second, a call taken at A is in PostgreSQL once
  and in the user's history read at B;
- an outage: pg_ctl stop -m immediate in the middle of status changes and
  a call, records keep being made, ccpctl status says unreachable with N
  waiting, the server comes back, every record is there exactly once; a
  kill -9 of ccpd during the outage loses nothing; a user who logged in
  before logs in during the outage;
- sslmode=require against a server with a certificate made in the test.
"""
import json
import os
import signal
import subprocess
import time

import pytest

import peers
from ccpd import CCPD, Ccpd
from pg import PgServer, wait_for


def status(d):
    return d.client().call("store.getStatus")


def wait_connected(d, timeout=20):
    return wait_for(lambda: (lambda s: s if s["state"] == "connected"
                             and s["synced"] and s["waiting"] == 0
                             else None)(status(d)), timeout,
                    "the instance to be connected and synced")


def add_user(c, name, profile="Agent"):
    return c.call("admin.users.create", {
        "username": name, "profile": profile,
        "password": name + "-secret-1", "mustChangePassword": False})


def login(c, name):
    return c.call("session.login", {"username": name,
                                    "password": name + "-secret-1"})


def test_a_uri_is_never_a_path(make_ccpd, tmp_path):
    # nothing listens on this port: ccpd starts anyway, from its copy
    port = peers.free_port("tcp")
    url = "postgresql://ccp:s3cret@127.0.0.1:%d/ccp" % port
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        d = make_ccpd(options={"database": url})
    finally:
        os.chdir(cwd)
    assert not os.path.exists(tmp_path / "postgresql:")
    assert not os.path.exists(os.path.join(cwd, "postgresql:"))
    state = d.options["state_dir"]
    assert os.path.exists(os.path.join(state, "instance-cache.db"))
    assert not os.path.exists(os.path.join(state, "ccpd.db"))
    s = status(d)
    assert s["backend"] == "postgresql"
    assert s["state"] in ("unreachable", "connecting")
    r = d.ctl("status")
    assert r.returncode == 0, r.stderr
    assert "database: unreachable" in r.stdout or \
        "database: connecting" in r.stdout, r.stdout
    assert "s3cret" not in d.log_text()


@pytest.mark.parametrize("value,shown", [
    ("postgresql://ccp:s3cret@db.example/ccp?sslmode=require",
     "postgresql://ccp:***@db.example/ccp?sslmode=require"),
    ("host=127.0.0.1 dbname=ccp password=s3cret",
     "host=127.0.0.1 dbname=ccp password=***"),
])
def test_dump_config_hides_the_password(value, shown):
    r = subprocess.run([CCPD, "-o", "database=" + value, "--dump-config"],
                       capture_output=True, text=True, timeout=10)
    assert r.returncode == 0, r.stderr
    assert "s3cret" not in r.stdout
    assert "database = %s\n" % shown in r.stdout


def test_a_bad_uri_is_refused_at_start(tmp_path):
    d = Ccpd(options={"database": "postgresql://ccp@127.0.0.1/x?nosuchoption=1"},
             wait_ready=False)
    try:
        rc = d.proc.wait(20)
    finally:
        if d.proc.poll() is None:
            d.proc.kill()
            d.proc.wait()
        d.log.close()
        d.notify.close()
        if d.proc in peers._live:
            peers._live.remove(d.proc)
    assert rc != 0
    assert "database:" in d.log_text() and "nosuchoption" in d.log_text()


def test_two_desks_share_one_instance(make_ccpd, pg_server, customer):
    url = pg_server.new_database()
    db = pg_server.last_db
    a = make_ccpd(options={"database": url})
    wait_connected(a)
    b = make_ccpd(options={"database": url})
    wait_connected(b)
    # the schema was made once, by one of them
    assert pg_server.query(db, "SELECT version FROM ccp_schema") == [(1,)]
    ca, cb = a.client(), b.client()

    # a user added at A logs in at B; the change reaches B within a second
    t0 = time.monotonic()
    add_user(ca, "alice")
    wait_for(lambda: any(u["username"] == "alice" for u in
                         cb.call("admin.users.list")), 1.0,
             "alice at desk B")
    seen = time.monotonic() - t0
    print("a new user seen at desk B after %.0f ms" % (seen * 1000))
    # a status made at A is choosable at B
    ca.call("admin.statuses.create", {"name": "Training"})
    wait_for(lambda: any(s["name"] == "Training" for s in
                         cb.call("agent.listStates")), 1.0,
             "Training at desk B")
    # a new display name too
    ca.call("admin.users.update", {"username": "alice",
                                   "displayName": "Alice A."})
    wait_for(lambda: cb.call("admin.users.get", {"username": "alice"})
             .get("displayName") == "Alice A.", 1.0, "the new name at B")

    # alice takes a call at A
    a_instance = ca.call("events.subscribe")["instance"]
    login(ca, "alice")
    ca.call("agent.setState", {"state": "Available"})
    cid = ca.answered_call(customer, a.sip_uri)
    customer.hangup()
    ca.wait_event("contact.acw")
    ca.call("contact.clear", {"contactId": cid})
    ca.wait_event("contact.destroyed")
    customer.wait_event("CALL_CLOSED", 10)
    wait_for(lambda: status(a)["waiting"] == 0, 10, "A's outbox to empty")
    rows = pg_server.query(db, "SELECT username, state, handle_ms FROM "
                           "contacts WHERE contact_id = %s", (cid,))
    assert len(rows) == 1 and rows[0][0] == "alice", rows
    assert rows[0][2] is not None and rows[0][2] > 0, rows
    n = pg_server.query(db, "SELECT count(*) FROM journal WHERE "
                        "username = 'alice' AND contact_id = %s", (cid,))
    assert n[0][0] > 0

    # at B she logs in and her history holds the call taken at A
    ca.call("session.logout")
    login(cb, "alice")
    hist = wait_for(lambda: [h for h in cb.call("contact.history")
                             if h["contactId"] == cid], 5,
                    "the call from A in alice's history at B")
    assert hist[0]["instance"] == a_instance

    # a password changed at A ends her sessions at B
    tok = cb.call("session.whoami")
    assert tok["username"] == "alice"
    ca.call("admin.users.update", {"username": "alice",
                                   "password": "alice-secret-2"})

    def ended():
        ans = cb.request("session.whoami")
        return ans.get("error", {}).get("code") == -32001 or \
            ans.get("result", {}).get("via") == "peerCredentials"
    wait_for(ended, 2.0, "alice's session at B to end")
    assert "'alice' was given a new password at another desk" in \
        b.log_text()
    # and the new password works at B
    cb.call("session.login", {"username": "alice",
                              "password": "alice-secret-2"})


def test_prometheus_shows_the_outbox(make_ccpd, pg_server):
    import urllib.request
    url = pg_server.new_database()
    d = make_ccpd(options={"database": url})
    wait_connected(d)
    text = urllib.request.urlopen(d.http_url + "/metrics",
                                  timeout=10).read().decode()
    assert 'ccpd_outbox_waiting{channel="store"} 0' in text
    assert "ccpd_database_connected 1" in text


def test_tls_with_sslmode_require(make_ccpd):
    srv = PgServer(ssl=True).start()
    try:
        url = srv.new_database(sslmode="require")
        db = srv.last_db
        d = make_ccpd(options={"database": url})
        wait_connected(d)
        assert "TLS" in d.log_text()
        add_user(d.client(), "tina")
        wait_for(lambda: srv.query(db, "SELECT count(*) FROM users WHERE "
                                   "username = 'tina'")[0][0] == 1, 5,
                 "tina in PostgreSQL")
        # and a server that refuses plain TCP is not reached without TLS
        plain = make_ccpd(options={"database": srv.url(
            db, sslmode="disable")})
        time.sleep(0)  # nothing to wait for: the state is read at once
        wait_for(lambda: "hostnossl" in plain.log_text() or
                 "no pg_hba.conf entry" in plain.log_text() or
                 status(plain)["state"] == "unreachable", 10,
                 "a plain connection refused")
        assert status(plain)["state"] != "connected"
    finally:
        srv.stop("fast")
