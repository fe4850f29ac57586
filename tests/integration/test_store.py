"""The store: every admin method through the socket, statuses that change
while ccpd runs, contacts read back from the store, and durability: ccpd
killed with SIGKILL in mid-call and after a call, restarted on the same
state directory, its journal and contact records intact."""

import os
import signal
import sqlite3
import time

import pytest

import peers
from ccpd import Ccpd, RpcError

CALLER = "+442071838750"


# ---------------------------------------------------------------------------
# both back ends: the desk's own SQLite file, and a PostgreSQL instance
# (pg.py) of which the desk keeps a local copy; every test that takes
# make_ccpd runs against each
# ---------------------------------------------------------------------------

@pytest.fixture(params=["sqlite", "postgresql"])
def backend(request):
    if request.param == "postgresql":
        return request.getfixturevalue("pg_server").new_database()
    return None


@pytest.fixture
def make_ccpd(make_ccpd, backend):
    def make(**kw):
        if backend:
            kw["options"] = dict(kw.get("options") or {}, database=backend)
        d = make_ccpd(**kw)
        if backend:
            wait_synced(d)
        return d
    return make


def wait_synced(d, timeout=20):
    """With PostgreSQL: the desk's local copy in step with the instance
    and nothing waiting for it."""
    deadline = time.monotonic() + timeout
    c = d.client()
    while True:
        s = c.call("store.getStatus")
        if s["state"] == "connected" and s["synced"] and s["waiting"] == 0:
            return
        assert time.monotonic() < deadline, s
        time.sleep(0.05)


def store_file(d):
    """The SQLite file: the store, or with PostgreSQL its local copy."""
    name = "instance-cache.db" if "database" in d.options else "ccpd.db"
    return os.path.join(d.options["state_dir"], name)


# ---------------------------------------------------------------------------
# administration
# ---------------------------------------------------------------------------

def err(c, method, params=None):
    return c.error(method, params)["code"]


def test_users_every_method_and_check(make_ccpd):
    d = make_ccpd()
    c = d.client()
    assert c.call("admin.users.list") == []
    made = c.call("admin.users.create", {
        "username": "alice", "profile": "Agent", "displayName": "Alice A",
        "phoneType": "deskphone", "extension": "+442071838750",
        "sipAccount": "sip:alice@pbx.example.com", "region": "GB"})
    u = made["user"]
    assert made["oneTimePassword"] and made["ccpUrl"].startswith("http")
    assert u["mustChangePassword"] is True and "passwordHash" not in u
    assert (u["phoneType"], u["extension"], u["region"]) == \
        ("deskphone", "+442071838750", "GB")
    assert u["sessions"] == 0 and u["atDesk"] is False
    made = c.call("admin.users.create", {"username": "bob",
                                         "profile": "CallCenterManager",
                                         "password": "bob-secret-1"})
    assert made["oneTimePassword"] is None
    assert made["user"]["mustChangePassword"] is True
    assert [x["username"] for x in c.call("admin.users.list")] == \
        ["alice", "bob"]
    assert c.call("admin.users.get", {"username": "bob"})["profile"] == \
        "CallCenterManager"
    # checks
    for bad in ({"username": "system", "profile": "Agent"},
                {"username": "-x", "profile": "Agent"},
                {"username": "x" * 65, "profile": "Agent"},
                {"username": "carl", "profile": "Agent", "password": "short"},
                {"username": "carl", "profile": "Agent",
                 "phoneType": "deskphone"},
                {"username": "carl", "profile": "Agent", "region": "gbr"},
                {"username": "carl", "profile": "Agent",
                 "sipAccount": "alice@pbx"},
                {"username": "carl"}):
        assert err(c, "admin.users.create", bad) == -32602, bad
    assert err(c, "admin.users.create", {"username": "carl",
                                         "profile": "Nope"}) == -32006
    assert err(c, "admin.users.create", {"username": "carl",
                                         "profile": "Agent",
                                         "extension": "+1"}) == -32005
    assert err(c, "admin.users.create", {"username": "alice",
                                         "profile": "Agent"}) == -32003
    # update
    u = c.call("admin.users.update", {"username": "alice",
                                      "phoneType": "softphone",
                                      "extension": None,
                                      "displayName": "Alice B"})["user"]
    assert (u["phoneType"], u["extension"], u["displayName"]) == \
        ("softphone", None, "Alice B")
    assert err(c, "admin.users.update", {"username": "alice",
                                         "phoneType": "deskphone"}) == \
        -32602
    assert err(c, "admin.users.update", {"username": "zed",
                                         "displayName": "Z"}) == -32006
    made = c.call("admin.users.update", {"username": "alice",
                                         "password": "alice-secret-9",
                                         "mustChangePassword": False})
    assert made["oneTimePassword"] is None
    assert made["user"]["mustChangePassword"] is False
    assert c.call("session.login", {"username": "alice",
                                    "password": "alice-secret-9"})
    c.call("session.logout")
    # delete
    assert c.call("admin.users.delete", {"username": "bob"}) == {}
    assert err(c, "admin.users.delete", {"username": "bob"}) == -32006
    assert err(c, "admin.users.get", {"username": "bob"}) == -32006


def test_profiles_every_method_and_check(make_ccpd):
    d = make_ccpd()
    c = d.client()
    names = [p["name"] for p in c.call("admin.profiles.list")]
    assert names == ["Agent", "CallCenterManager", "Admin", "Supervisor"]
    admin = c.call("admin.profiles.get", {"name": "Admin"})
    assert len(admin["permissions"]) == 12 and admin["builtin"]
    p = c.call("admin.profiles.create", {
        "name": "Team Lead", "description": "leads",
        "permissions": ["ccp.use", "metrics.view", "ccp.use"]})
    assert p["permissions"] == ["ccp.use", "metrics.view"]
    assert p["builtin"] is False and p["users"] == 0
    assert err(c, "admin.profiles.create", {"name": "Team Lead",
                                            "permissions": []}) == -32003
    assert err(c, "admin.profiles.create", {"name": "X",
                                            "permissions": ["fly"]}) == \
        -32602
    assert err(c, "admin.profiles.create", {"name": "9x",
                                            "permissions": []}) == -32602
    assert err(c, "admin.profiles.create", {"name": "Y"}) == -32602
    c.call("admin.users.create", {"username": "tl", "profile": "Team Lead"})
    p = c.call("admin.profiles.update", {"name": "Team Lead",
                                         "newName": "Lead",
                                         "permissions": ["ccp.use"]})
    assert p["name"] == "Lead" and p["users"] == 1
    # the rename reached the user
    assert c.call("admin.users.get", {"username": "tl"})["profile"] == "Lead"
    assert err(c, "admin.profiles.delete", {"name": "Lead"}) == -32003
    assert err(c, "admin.profiles.update", {"name": "Admin",
                                            "description": "x"}) == -32003
    assert err(c, "admin.profiles.delete", {"name": "Admin"}) == -32003
    assert err(c, "admin.profiles.delete", {"name": "Agent"}) == -32003
    assert err(c, "admin.profiles.update", {"name": "Agent",
                                            "newName": "A2"}) == -32003
    # a built-in other than Admin may change its permissions
    c.call("admin.profiles.update", {"name": "Agent",
                                     "permissions": ["ccp.use"]})
    c.call("admin.users.delete", {"username": "tl"})
    assert c.call("admin.profiles.delete", {"name": "Lead"}) == {}
    assert err(c, "admin.profiles.get", {"name": "Lead"}) == -32006


def test_numbers_origins_quick_connects(make_ccpd):
    d = make_ccpd()
    c = d.client()
    c.call("admin.users.create", {"username": "alice", "profile": "Agent",
                                  "password": "alice-secret-1",
                                  "mustChangePassword": False})
    # numbers, and the caller ID they give a user
    n = c.call("admin.numbers.create", {"number": "+442071838750",
                                        "description": "main"})
    assert n == {"number": "+442071838750", "description": "main",
                 "username": None}
    for bad in ("442071838750", "+0442071838", "+123456", "+1234567890123456",
                "+44 20 7183"):
        assert err(c, "admin.numbers.create", {"number": bad}) == -32005
    assert err(c, "admin.numbers.create", {"number": "+442071838750"}) == \
        -32003
    assert err(c, "admin.numbers.create", {"number": "+442071838751",
                                           "username": "zed"}) == -32006
    c.call("admin.numbers.create", {"number": "+442071838751",
                                    "username": "alice"})
    c.call("session.login", {"username": "alice",
                             "password": "alice-secret-1"})
    assert c.call("session.whoami")["callerId"] == "+442071838751"
    c.call("session.logout")
    c.call("admin.numbers.update", {"number": "+442071838751",
                                    "username": None, "description": "spare"})
    assert c.call("admin.numbers.get", {"number": "+442071838751"}) == {
        "number": "+442071838751", "description": "spare", "username": None}
    assert len(c.call("admin.numbers.list")) == 2
    c.call("admin.numbers.delete", {"number": "+442071838750"})
    assert err(c, "admin.numbers.get", {"number": "+442071838750"}) == -32006

    # origins: scheme://host[:port], compared in lower case
    o = c.call("admin.origins.create", {"origin": "HTTPS://CRM.Example.com"})
    assert o["origin"] == "https://crm.example.com"
    for good in ("http://127.0.0.1:8080", "https://[::1]:443",
                 "http://localhost"):
        c.call("admin.origins.create", {"origin": good})
    for bad in ("crm.example.com", "ftp://x.example", "https://x/",
                "https://x.example/path", "https://x:0", "https://x:99999",
                "https://", "https://a b"):
        assert err(c, "admin.origins.create", {"origin": bad}) == -32602, bad
    assert err(c, "admin.origins.create",
               {"origin": "https://crm.example.com"}) == -32003
    o = c.call("admin.origins.update", {"origin": "https://crm.example.com",
                                        "newOrigin": "https://crm.example.com:8443",
                                        "description": "CRM"})
    assert o == {"origin": "https://crm.example.com:8443",
                 "description": "CRM"}
    assert len(c.call("admin.origins.list")) == 4
    c.call("admin.origins.delete", {"origin": "http://localhost"})
    assert err(c, "admin.origins.delete", {"origin": "http://localhost"}) \
        == -32006

    # quick connects
    q = c.call("admin.quickConnects.create", {"name": "Support",
                                              "endpoint": "+442071838752"})
    assert q == {"name": "Support", "endpoint": "+442071838752",
                 "description": None}
    assert err(c, "admin.quickConnects.create",
               {"name": "Bad", "endpoint": "support"}) == -32005
    assert err(c, "admin.quickConnects.create", {"name": "Bad"}) == -32602
    q = c.call("admin.quickConnects.update", {"name": "Support",
                                              "newName": "Help desk",
                                              "endpoint":
                                              "sip:help@127.0.0.1"})
    assert q["name"] == "Help desk" and q["endpoint"] == "sip:help@127.0.0.1"
    assert c.call("admin.quickConnects.get", {"name": "Help desk"})
    assert [x["name"] for x in c.call("admin.quickConnects.list")] == \
        ["Help desk"]
    c.call("admin.quickConnects.delete", {"name": "Help desk"})
    assert c.call("admin.quickConnects.list") == []

    # the same through ccpctl
    r = d.ctl("admin", "quick-connects", "add", "Sales", "+442071838753",
              "--description", "sales line")
    assert r.returncode == 0, r.stderr
    r = d.ctl("admin", "quick-connects")
    assert r.stdout == "Sales  +442071838753  sales line\n"
    r = d.ctl("admin", "numbers", "add", "+12015550123", "--user", "alice")
    assert r.returncode == 0, r.stderr
    r = d.ctl("admin", "numbers", "list")
    assert "+12015550123  alice  -\n" in r.stdout
    r = d.ctl("admin", "origins", "rename", "https://crm.example.com:8443",
              "https://crm2.example.com")
    assert r.returncode == 0, r.stderr
    r = d.ctl("admin", "profiles", "add", "Lead", "ccp.use", "metrics.view")
    assert r.returncode == 0, r.stderr
    r = d.ctl("admin", "profiles")
    assert "Lead  ccp.use,metrics.view\n" in r.stdout
    r = d.ctl("admin", "users", "del", "nobody-here")
    assert r.returncode == 1 and "no user 'nobody-here'" in r.stderr
    r = d.ctl("admin", "tables")
    assert r.returncode == 2


def test_statuses_change_while_ccpd_runs(make_ccpd, customer):
    d = make_ccpd(options={"statuses": "Break, Lunch"})
    c = d.client()
    c.call("events.subscribe")

    def names():
        return [s["name"] for s in c.call("agent.listStates")]

    assert [s["name"] for s in c.call("admin.statuses.list")] == \
        ["Available", "Offline", "Break", "Lunch"]
    s = c.call("admin.statuses.create", {"name": "Training"})
    assert s == {"name": "Training", "type": "not_routable",
                 "builtin": False, "applied": True}
    assert names() == ["Available", "Offline", "Break", "Lunch", "Training"]
    assert c.call("admin.statuses.get", {"name": "Offline"})["builtin"]
    for bad in ("Busy", "available", "9am", "a b", "x" * 33):
        assert err(c, "admin.statuses.create", {"name": bad}) == -32602, bad
    assert err(c, "admin.statuses.create", {"name": "Lunch"}) == -32003
    assert err(c, "admin.statuses.update", {"name": "Offline",
                                            "newName": "Away"}) == -32003
    assert err(c, "admin.statuses.delete", {"name": "Available"}) == -32003
    # a status in use cannot go
    c.call("agent.setState", {"state": "Training"})
    assert err(c, "admin.statuses.delete", {"name": "Training"}) == -32003
    assert err(c, "admin.statuses.update", {"name": "Training",
                                            "newName": "Coaching"}) == -32003
    c.call("agent.setState", {"state": "Available"})
    s = c.call("admin.statuses.update", {"name": "Training",
                                         "newName": "Coaching"})
    assert s["applied"] is True and "Coaching" in names()
    since = c.call("agent.getState")["since"]

    # during a call the change waits for the agent to be free
    customer.dial(d.sip_uri)
    cid = c.wait_event("contact.incoming")["data"]["contact"]["contactId"]
    c.call("contact.accept", {"contactId": cid})
    c.wait_event("contact.connected")
    s = c.call("admin.statuses.create", {"name": "Meeting"})
    assert s["applied"] is False and "Meeting" not in names()
    assert c.call("admin.statuses.delete", {"name": "Lunch"}) == \
        {"applied": False}
    # next status Break is in use
    c.call("agent.setState", {"state": "Break"})
    assert err(c, "admin.statuses.delete", {"name": "Break"}) == -32003
    c.call("agent.clearNextState")
    customer.hangup()
    c.wait_event("contact.acw")
    assert "Meeting" not in names()
    c.call("contact.clear", {"contactId": cid})
    c.wait_state("Available")
    assert names() == ["Available", "Offline", "Break", "Coaching",
                       "Meeting"]
    c.call("agent.setState", {"state": "Meeting"})
    assert c.call("agent.getState")["state"] == "Meeting"
    assert c.call("admin.statuses.delete", {"name": "Coaching"}) == \
        {"applied": True}
    # rebuilding the state machine keeps the state and when it began
    st = c.call("agent.getState")
    assert st["state"] == "Meeting" and st["since"] >= since
    r = d.ctl("admin", "statuses")
    assert r.stdout.splitlines() == [
        "Available  routable", "Offline  offline", "Break  not_routable",
        "Meeting  not_routable"]


def test_statuses_are_kept_and_the_setting_only_seeds(make_ccpd):
    d = make_ccpd(options={"statuses": "Break", "initial_status": "Break"})
    c = d.client()
    c.call("admin.statuses.create", {"name": "Lunch"})
    state_dir = d.options["state_dir"]
    d.stop()
    d2 = make_ccpd(options={"state_dir": state_dir,
                            "statuses": "Coffee, Tea",
                            "initial_status": "Tea"})
    c2 = d2.client()
    assert [s["name"] for s in c2.call("agent.listStates")] == \
        ["Available", "Offline", "Break", "Lunch"]
    # the initial status is not in the store's list: Offline
    assert c2.call("agent.getState")["status"] == "Offline"
    assert "initial_status 'Tea' is not among" in d2.log_text()


def refused_offer(d, c):
    uac = peers.Sipp("uac_expect_refusal", target=d.sip_port,
                     service="agent", from_user=CALLER, timeout=10)
    assert uac.run() == 0, uac.errors()
    return c.wait_event("contact.destroyed")["data"]["contact"]["contactId"]


def test_history_reads_contacts_the_memory_no_longer_holds(make_ccpd):
    d = make_ccpd(options={"history_size": "1"})
    c = d.client()
    inst = c.call("events.subscribe")["instance"]
    ids = [refused_offer(d, c) for _ in range(3)]
    hist = c.call("contact.history", {"limit": 10})
    assert [h["contactId"] for h in hist] == ids[::-1]
    # the newest is in memory, the older ones come from the store
    assert "instance" not in hist[0]
    assert [h.get("instance") for h in hist[1:]] == [inst, inst]
    assert all(h["state"] == "refused" for h in hist)
    old = c.call("contact.get", {"contactId": ids[0]})
    assert old["state"] == "refused" and old["instance"] == inst
    assert err(c, "contact.get", {"contactId": "c-99"}) == -32006
    assert len(c.call("contact.history", {"limit": 2})) == 2

    # another run of ccpd on the same state: the earlier contacts are
    # still there, marked with their run
    state_dir = d.options["state_dir"]
    d.stop()
    d2 = make_ccpd(options={"state_dir": state_dir, "history_size": "1"})
    c2 = d2.client()
    inst2 = c2.call("events.subscribe")["instance"]
    assert inst2 != inst
    new = refused_offer(d2, c2)
    hist = c2.call("contact.history", {"limit": 10})
    assert [(h["contactId"], h.get("instance")) for h in hist] == \
        [(new, None)] + [(i, inst) for i in ids[::-1]]
    r = d2.ctl("history", "10")
    assert r.returncode == 0 and len(r.stdout.splitlines()) == 4


# ---------------------------------------------------------------------------
# durability
# ---------------------------------------------------------------------------

def drain(c):
    """Every event the client has received so far, in order."""
    while True:
        try:
            c.seen.append(c.events.get_nowait())
        except Exception:
            return c.seen


def kill9(d, c):
    """SIGKILL ccpd (and then its baresip, which would outlive it)."""
    baresip = c.call("media.getStatus")["pid"]
    d.proc.send_signal(signal.SIGKILL)
    assert d.proc.wait(10) == -signal.SIGKILL
    peers._live.remove(d.proc)
    d.log.close()
    d.notify.close()
    if baresip:
        try:
            os.kill(baresip, signal.SIGKILL)
        except ProcessLookupError:
            pass
        deadline = time.monotonic() + 10
        while os.path.exists("/proc/%d" % baresip):
            with open("/proc/%d/stat" % baresip) as f:
                if f.read().split(") ")[1].startswith("Z"):
                    break
            assert time.monotonic() < deadline, "baresip outlived SIGKILL"
            time.sleep(0.05)


def open_db(state_dir):
    db = sqlite3.connect(os.path.join(state_dir, "ccpd.db"))
    assert db.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
    return db


def check_acknowledged(db, instance, events):
    """Every event the client saw is in the journal, with its time, type,
    sequence number and contact."""
    rows = {seq: (t, ty, cid) for seq, t, ty, cid in db.execute(
        "SELECT event_seq, time, type, contact_id FROM journal "
        "WHERE instance = ? AND event_seq IS NOT NULL", (instance,))}
    checked = 0
    for ev in events:
        if not (ev["type"].startswith("contact.") or
                ev["type"] == "agent.stateChange"):
            continue
        assert ev["seq"] in rows, ev
        t, ty, cid = rows[ev["seq"]]
        assert (t, ty) == (ev["time"], ev["type"]), (rows[ev["seq"]], ev)
        if ty.startswith("contact."):
            assert cid == ev["data"]["contact"]["contactId"]
        checked += 1
    return checked


def test_records_survive_sigkill_mid_call_and_after(customer):
    first = Ccpd(options={"ring_timeout": "30"})
    second = third = None
    try:
        c = first.client()
        inst = c.call("events.subscribe")["instance"]
        state_dir = first.options["state_dir"]
        c.call("agent.setState", {"state": "Available"})
        customer.dial(first.sip_uri)
        cid = c.wait_event("contact.incoming")["data"]["contact"][
            "contactId"]
        c.call("contact.accept", {"contactId": cid})
        c.wait_event("contact.connected")
        c.wait_state("Busy")
        customer.wait_event("CALL_ESTABLISHED", 10)
        # the last answer came after every event: the client has them all
        c.call("agent.getState")
        seen = list(drain(c))
        kill9(first, c)
        customer.hangup()

        db = open_db(state_dir)
        n = check_acknowledged(db, inst, seen)
        assert n >= 5
        state, connected, ended = db.execute(
            "SELECT state, connected, ended FROM contacts "
            "WHERE instance = ? AND contact_id = ?", (inst, cid)).fetchone()
        assert state == "connected" and connected and ended is None
        assert db.execute("SELECT COUNT(*) FROM journal WHERE instance = ? "
                          "AND type = 'daemon.stop'", (inst,)).fetchone() \
            == (0,)
        db.close()

        # ccpd comes back on the same state, a call runs to its end, and
        # ccpd is killed again once it has been cleared
        second = Ccpd(options={"state_dir": state_dir})
        c = second.client()
        inst2 = c.call("events.subscribe")["instance"]
        hist = c.call("contact.history")
        assert (hist[0]["contactId"], hist[0]["instance"],
                hist[0]["state"]) == (cid, inst, "connected")
        c.call("agent.setState", {"state": "Available"})
        customer.dial(second.sip_uri)
        cid2 = c.wait_event("contact.incoming")["data"]["contact"][
            "contactId"]
        c.call("contact.accept", {"contactId": cid2})
        c.wait_event("contact.connected")
        customer.wait_event("CALL_ESTABLISHED", 10)
        time.sleep(0.5)
        customer.hangup()
        c.wait_event("contact.ended")
        c.wait_event("contact.acw")
        time.sleep(0.3)
        c.call("contact.clear", {"contactId": cid2})
        gone = c.wait_event("contact.destroyed")["data"]["contact"]
        ts = gone["timestamps"]
        connected, ended, cleared = (ts["connected"], ts["ended"],
                                     ts["acwEnded"])
        c.wait_state("Available")
        c.call("agent.getState")
        seen2 = list(drain(c))
        kill9(second, c)

        db = open_db(state_dir)
        assert check_acknowledged(db, inst, seen) == n
        assert check_acknowledged(db, inst2, seen2) >= 9
        row = db.execute(
            "SELECT state, direction, caller, connected, ended, acw_ended, "
            "hold_ms, acw_ms, handle_ms, end_reason, disconnected_by, "
            "transfers, username FROM contacts WHERE instance = ? AND "
            "contact_id = ?", (inst2, cid2)).fetchone()
        assert row[:3] == ("destroyed", "inbound", row[2])
        assert row[2].startswith("sip:customer@127.0.0.1")
        assert row[3:6] == (connected, ended, cleared)
        assert row[6:9] == (0, cleared - ended, cleared - connected)
        assert row[9:] == ("customer_hangup", "customer", 0, "system")
        db.close()

        # and a third run still reads both
        third = Ccpd(options={"state_dir": state_dir})
        c = third.client()
        hist = c.call("contact.history")
        assert [(h["contactId"], h["instance"]) for h in hist[:2]] == \
            [(cid2, inst2), (cid, inst)]
        third.stop()
        third = None
    finally:
        for d in (first, second, third):
            if d is not None and d.proc.poll() is None:
                d.stop()


def test_a_database_readable_by_others_is_made_private(make_ccpd):
    """A file left readable by others (a copy, a restore, an older ccpd)
    holds password hashes: ccpd takes it back to its owner at start."""
    d = make_ccpd()
    d.client().call("admin.users.create", {"username": "alice",
                                           "profile": "Agent"})
    state = d.options["state_dir"]
    db = store_file(d)
    d.stop()
    os.chmod(db, 0o644)
    with open(db + "-wal", "ab"):
        pass
    os.chmod(db + "-wal", 0o666)
    d = make_ccpd(options={"state_dir": state})
    assert os.stat(db).st_mode & 0o777 == 0o600
    assert os.stat(db + "-wal").st_mode & 0o777 == 0o600
    assert "store: %s was mode 0644" % db in d.log_text()
    assert d.client().call("admin.users.get", {"username": "alice"})[
        "username"] == "alice"
