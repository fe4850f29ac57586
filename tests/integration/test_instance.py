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

with open(os.path.join(os.path.dirname(__file__), "..", "..", "proto",
                       "ccpd-protocol.schema.json")) as _f:
    SCHEMA = json.load(_f)


def check_event(ev):
    """An event's data against the protocol's schema."""
    import jsonschema
    jsonschema.Draft202012Validator(
        {"$defs": SCHEMA["$defs"],
         "$ref": "#/$defs/event." + ev["type"]}).validate(ev["data"])


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
    r = d.ctl("--json", "status")
    assert json.loads(r.stdout)["database"]["backend"] == "postgresql"
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
    bad = "postgresql://ccp:s3cret@127.0.0.1/x?nosuchoption=1"
    d = Ccpd(options={"database": bad}, wait_ready=False)
    rc = d.wait_refused(20)
    assert rc != 0
    assert "database:" in d.log_text() and "nosuchoption" in d.log_text()
    assert "s3cret" not in d.log_text()


def test_a_uri_with_a_typo_is_refused_not_made_a_file(tmp_path):
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        r = subprocess.run(
            [CCPD, "-o", "database=postgresql:ccp:s3cret@db/x",
             "-o", "state_dir=%s" % (tmp_path / "state"),
             "-o", "runtime_dir=%s" % (tmp_path / "run"),
             "-o", "sip_listen=127.0.0.1:%d" % peers.free_port("sip")],
            capture_output=True, text=True, timeout=20)
    finally:
        os.chdir(cwd)
    assert r.returncode == 1
    assert "not a PostgreSQL URI" in r.stderr, r.stderr
    assert "s3cret" not in r.stderr
    # the state and runtime directories given, and nothing else
    assert set(os.listdir(tmp_path)) <= {"run", "state"}, \
        os.listdir(tmp_path)


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
    # numbers, quick connects and origins too
    ca.call("admin.numbers.create", {"number": "+442071838750",
                                     "username": "alice"})
    ca.call("admin.quickConnects.create", {"name": "Helpdesk",
                                           "endpoint": "+442071838751"})
    ca.call("admin.origins.create", {"origin": "https://crm.example.com"})
    wait_for(lambda: cb.call("admin.numbers.get", {
        "number": "+442071838750"}).get("username") == "alice" and
        any(q["name"] == "Helpdesk" for q in
            cb.call("admin.quickConnects.list")) and
        any(o["origin"] == "https://crm.example.com" for o in
            cb.call("admin.origins.list")), 1.0,
        "the number, quick connect and origin at B")
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
        wait_for(lambda: "hostnossl" in plain.log_text() or
                 "no pg_hba.conf entry" in plain.log_text() or
                 status(plain)["state"] == "unreachable", 10,
                 "a plain connection refused")
        assert status(plain)["state"] != "connected"
    finally:
        srv.stop("fast")


def local_rows(state_dir, sql):
    import sqlite3
    c = sqlite3.connect(os.path.join(state_dir, "instance-cache.db"))
    try:
        return c.execute(sql).fetchall()
    finally:
        c.close()


def kill9(d):
    """kill -9 of a ccpd started with Ccpd(); its baresip follows it
    (PR_SET_PDEATHSIG)."""
    d.proc.send_signal(signal.SIGKILL)
    d.proc.wait(10)
    for c in d.clients:
        c.close()
    d.log.close()
    d.notify.close()
    if d.proc in peers._live:
        peers._live.remove(d.proc)


def test_an_outage_loses_nothing(make_ccpd, customer):
    srv = PgServer().start()
    try:
        url = srv.new_database()
        db = srv.last_db
        a = Ccpd(options={"database": url})
        state = a.options["state_dir"]
        wait_connected(a)
        c = a.client()
        add_user(c, "olga")
        c.call("events.subscribe")
        login(c, "olga")
        c.call("agent.setState", {"state": "Available"})
        for s in ("Break", "Available", "Lunch"):
            c.call("agent.setState", {"state": s})

        # the server crashes in the middle of status changes
        srv.stop("immediate")
        for s in ("Available", "Break", "Available"):
            c.call("agent.setState", {"state": s})
        wait_for(lambda: status(a)["state"] != "connected", 10,
                 "ccpd to notice the outage")
        ev = c.wait_event("store.status", pred=lambda e:
                          e["data"]["state"] != "connected")
        assert ev["data"]["backend"] == "postgresql"
        check_event(ev)

        # a call during the outage
        cid = c.answered_call(customer, a.sip_uri)
        customer.hangup()
        c.wait_event("contact.acw")
        c.call("contact.clear", {"contactId": cid})
        c.wait_event("contact.destroyed")
        customer.wait_event("CALL_CLOSED", 10)
        c.call("agent.setState", {"state": "Break"})

        s = status(a)
        assert s["state"] == "unreachable" and s["waiting"] > 0, s
        r = a.ctl("status")
        assert r.returncode == 0, r.stderr
        assert "database: unreachable, %d records waiting\n" % \
            s["waiting"] in r.stdout, r.stdout
        import urllib.request
        text = urllib.request.urlopen(a.http_url + "/metrics",
                                      timeout=10).read().decode()
        assert 'ccpd_outbox_waiting{channel="store"} %d\n' % s["waiting"] \
            in text
        assert "ccpd_database_connected 0\n" in text
        print("records waiting in the outage: %d" % s["waiting"])

        # a user who logged in here before logs in again
        c.call("session.logout")
        login(c, "olga")
        c.call("agent.setState", {"state": "Available"})

        # kill -9 during the outage, and a new ccpd on the same state
        waiting = status(a)["waiting"]
        kill9(a)
        b = make_ccpd(options={"database": url, "state_dir": state})
        s = status(b)
        assert s["state"] != "connected" and s["waiting"] >= waiting, \
            (s, waiting)

        # the server comes back: everything arrives, once
        srv.start()
        wait_connected(b, 30)
        journal = ("SELECT instance, COALESCE(event_seq, 0), type, time"
                   " FROM journal ORDER BY id")
        local_j = local_rows(state, journal)
        pg_j = srv.query(db, journal)
        assert len(pg_j) == len(set(pg_j)), "a journal row twice"
        assert sorted(local_j) == sorted(pg_j), \
            (len(local_j), len(pg_j))
        contacts = ("SELECT instance, contact_id, state,"
                    " COALESCE(handle_ms, -1) FROM contacts")
        local_c = local_rows(state, contacts)
        pg_c = srv.query(db, contacts)
        assert sorted(local_c) == sorted(pg_c)
        assert any(row[1] == cid for row in pg_c)
        print("journal rows: %d, each once in PostgreSQL" % len(pg_j))
    finally:
        srv.stop("fast")


def test_hot_desking(make_ccpd, pg_server, customer):
    url = pg_server.new_database()
    db = pg_server.last_db
    a = make_ccpd(options={"database": url})
    b = make_ccpd(options={"database": url})
    wait_connected(a)
    wait_connected(b)
    ca, cb = a.client(), b.client()
    add_user(ca, "hana")
    wait_for(lambda: any(u["username"] == "hana" for u in
                         cb.call("admin.users.list")), 2, "hana at B")

    def at_desk():
        rows = pg_server.query(db, "SELECT desk_id, on_contact FROM "
                               "user_desks WHERE username = 'hana'")
        return rows[0] if rows else None

    ca.call("events.subscribe")
    login(ca, "hana")
    first = wait_for(at_desk, 5, "hana's desk in user_desks")

    # at B she is moved: A's clients are told, her session at A ends
    cb.call("events.subscribe")
    login(cb, "hana")
    wait_for(lambda: at_desk()[0] != first[0], 5, "hana's move to B")
    ev = ca.wait_event("session.ended", 5)
    assert ev["data"] == {"username": "hana", "reason": "elsewhere"}
    check_event(ev)
    assert ca.call("session.whoami")["via"] != "session"
    assert ca.call("agent.getConfiguration").get("username") is None

    # on a call at B, a login at A is refused
    cb.call("agent.setState", {"state": "Available"})
    cid = cb.answered_call(customer, b.sip_uri)
    wait_for(lambda: at_desk()[1] == 1, 5, "hana on a contact at B")
    wait_for(lambda: "'hana' is at desk %s, on a contact" % at_desk()[0]
             in a.log_text(), 5, "desk A to know")
    err = ca.error("session.login", {"username": "hana",
                                     "password": "hana-secret-1"})
    assert err["code"] == -32011, err
    assert err["message"] == "User busy elsewhere"
    assert "another desk" in err["data"]["reason"]
    assert cb.call("session.whoami")["username"] == "hana"

    # once the call is over she may move back
    customer.hangup()
    cb.wait_event("contact.acw")
    cb.call("contact.clear", {"contactId": cid})
    cb.wait_event("contact.destroyed")
    customer.wait_event("CALL_CLOSED", 10)
    wait_for(lambda: at_desk()[1] == 0, 5, "hana off the contact")
    wait_for(lambda: "'hana' is at desk %s\n" % at_desk()[0]
             in a.log_text(), 5, "desk A to know")
    login(ca, "hana")
    ev = cb.wait_event("session.ended", 5)
    assert ev["data"]["reason"] == "elsewhere"


# what a desk's role needs once the schema is there (docs/admin-guide.md)
LEAST_PRIVILEGES = """
GRANT USAGE ON SCHEMA public TO {role};
GRANT SELECT ON ccp_schema TO {role};
GRANT SELECT, INSERT, UPDATE, DELETE ON profiles, users, statuses, numbers,
  origins, quick_connects, user_desks TO {role};
GRANT SELECT, INSERT ON journal TO {role};
GRANT SELECT, INSERT, UPDATE ON contacts TO {role};
GRANT USAGE ON ALL SEQUENCES IN SCHEMA public TO {role};
"""


def test_a_desk_role_with_the_least_privileges(make_ccpd, pg_server):
    url = pg_server.new_database()
    db = pg_server.last_db
    # the owner's desk makes the schema
    a = make_ccpd(options={"database": url})
    wait_connected(a)
    role = "desk_%s" % db
    c = pg_server.connect(db)
    with c.cursor() as cur:
        cur.execute("CREATE ROLE %s LOGIN" % role)
        cur.execute("REVOKE CREATE ON SCHEMA public FROM PUBLIC")
        cur.execute(LEAST_PRIVILEGES.format(role=role))
    c.close()
    b = make_ccpd(options={"database": url.replace("ccp@", role + "@")})
    wait_connected(b)
    add_user(b.client(), "lena")
    wait_for(lambda: any(u["username"] == "lena" for u in
                         a.client().call("admin.users.list")), 2,
             "lena at desk A")
    login(b.client(), "lena")
    wait_for(lambda: pg_server.query(db, "SELECT count(*) FROM user_desks"
                                     " WHERE username = 'lena'")[0][0], 5,
             "lena's desk in user_desks")
    assert "permission denied" not in b.log_text()


def test_several_desks_start_at_once(make_ccpd, pg_server):
    url = pg_server.new_database()
    db = pg_server.last_db
    desks = [make_ccpd(options={"database": url}, wait_ready=False)
             for _ in range(3)]
    for d in desks:
        d.wait_notify("READY=1", 30)
    for d in desks:
        wait_connected(d)
    assert pg_server.query(db, "SELECT version FROM ccp_schema") == [(1,)]
    migrated = [d for d in desks
                if "migrating the instance's schema" in d.log_text()]
    assert len(migrated) == 1
    seeded = [d for d in desks if "a new instance: seeding" in d.log_text()]
    assert len(seeded) == 1
    names = pg_server.query(db, "SELECT name FROM profiles ORDER BY pos")
    assert [n[0] for n in names] == ["Agent", "CallCenterManager", "Admin",
                                     "Supervisor"]


def test_a_desk_killed_on_a_call_does_not_keep_its_user(make_ccpd,
                                                       pg_server, customer):
    url = pg_server.new_database()
    db = pg_server.last_db
    a = Ccpd(options={"database": url})
    state = a.options["state_dir"]
    b = make_ccpd(options={"database": url})
    wait_connected(a)
    wait_connected(b)
    ca = a.client()
    add_user(ca, "ivan")
    ca.call("events.subscribe")
    login(ca, "ivan")
    ca.call("agent.setState", {"state": "Available"})
    ca.answered_call(customer, a.sip_uri)
    wait_for(lambda: pg_server.query(
        db, "SELECT on_contact FROM user_desks WHERE username = 'ivan'")
        == [(1,)], 5, "ivan on a contact at A")
    kill9(a)
    customer.hangup()
    # A comes back: nobody is logged in there, so its claim goes
    a2 = make_ccpd(options={"database": url, "state_dir": state})
    wait_connected(a2)
    wait_for(lambda: pg_server.query(
        db, "SELECT count(*) FROM user_desks WHERE username = 'ivan'")
        == [(0,)], 5, "A's stale claim to go")
    wait_for(lambda: "'ivan' is at no desk" in b.log_text(), 5,
             "desk B to know")
    assert login(b.client(), "ivan")["username"] == "ivan"


def test_a_check_answers_when_the_server_has(make_ccpd, pg_server):
    url = pg_server.new_database()
    d = make_ccpd(options={"database": url})
    wait_connected(d)
    c = d.client()
    s = c.call("store.getStatus", {"check": True})
    assert s["check"]["ok"] is True and 0 <= s["check"]["ms"] < 5000, s
    print("a round trip to PostgreSQL from ccpd: %.1f ms" % s["check"]["ms"])
    assert "check" not in c.call("store.getStatus")
    assert c.error("store.getStatus", {"check": 1})["code"] == -32602
    # a batch's answers go out together: no check there
    c.send_message(json.dumps([
        {"jsonrpc": "2.0", "id": 1, "method": "store.getStatus",
         "params": {"check": True}},
        {"jsonrpc": "2.0", "id": 2, "method": "daemon.getVersion"}]))
    ans = c.answer()
    assert [a["id"] for a in ans] == [1, 2]
    assert "check" not in ans[0]["result"]
    # a later answer to a client that went away is dropped
    gone = d.client()
    gone.send_message(json.dumps({"jsonrpc": "2.0", "id": 7,
                                  "method": "store.getStatus",
                                  "params": {"check": True}}))
    gone.close()
    assert c.call("store.getStatus", {"check": True})["check"]["ok"]


def test_only_a_user_the_desk_has_received_logs_in_offline(make_ccpd,
                                                           pg_server):
    url = pg_server.new_database()
    b = make_ccpd(options={"database": url})
    wait_connected(b)
    add_user(b.client(), "nina")
    # desk A has never reached the instance: nina is not known there
    dead = "postgresql://ccp@127.0.0.1:%d/x" % peers.free_port("tcp")
    a = make_ccpd(options={"database": dead})
    assert status(a)["state"] != "connected"
    err = a.client().error("session.login", {"username": "nina",
                                             "password": "nina-secret-1"})
    assert err["code"] == -32001
    # once A has reached it, she is
    state = a.options["state_dir"]
    a.stop()
    a = make_ccpd(options={"database": url, "state_dir": state})
    wait_connected(a)
    assert login(a.client(), "nina")["username"] == "nina"
    assert "pg: cannot connect" not in a.log_text()


def test_a_logout_ends_the_sessions_at_every_desk(make_ccpd, pg_server):
    url = pg_server.new_database()
    a = make_ccpd(options={"database": url})
    b = make_ccpd(options={"database": url})
    wait_connected(a)
    wait_connected(b)
    ca, cb = a.client(), b.client()
    # a supervisor takes no desk, and may be logged in at both
    ca.call("admin.profiles.create", {"name": "TeamLead",
                                      "permissions": ["metrics.view"]})
    add_user(ca, "sam", profile="TeamLead")
    wait_for(lambda: any(u["username"] == "sam" for u in
                         cb.call("admin.users.list")), 2, "sam at B")
    watch = b.client()      # an administrator's view of desk B
    watch.call("events.subscribe")
    login(ca, "sam")
    login(cb, "sam")
    assert cb.call("session.whoami")["via"] == "session"
    ca.call("session.logout")
    ev = watch.wait_event("session.ended", 5)
    assert ev["data"] == {"username": "sam", "reason": "logout"}
    check_event(ev)
    err = cb.error("agent.getState")
    assert err["code"] == -32001, err
    # a login after the logout stays
    login(cb, "sam")
    assert cb.call("session.whoami")["username"] == "sam"
