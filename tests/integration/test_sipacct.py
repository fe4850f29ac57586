"""Per-user SIP accounts: the agent's SIP identity follows the agent.

Real parts: kamailio as the registrar with digest authentication (a
password of alice's own), two ccpd desks with their own baresip and their
own SQLite store, and a baresip customer who calls alice's address through
kamailio.
"""
import os
import signal
import sqlite3
import subprocess
import time

import pytest

import ccpd as ccpd_mod
from peers import BaresipPeer, Kamailio, LOOPBACK
from test_schema import Schema, assert_events_match_schema, load_schema

ALICE_SIP_PW = "alice-sip-Pw-7"
DESK_PW = "desk-secret"


def key_file(tmp_path, mode=0o600, name="sip.key"):
    path = os.path.join(str(tmp_path), name)
    with open(path, "w") as f:
        f.write(os.urandom(32).hex() + "\n")
    os.chmod(path, mode)
    return path


def desk(make_ccpd, kam, user, key=None, **extra):
    opts = {"sip_registrar": kam.uri, "sip_user": user,
            "sip_password": DESK_PW, "reg_interval": "60"}
    if key:
        opts["sip_secret_key_file"] = key
    opts.update(extra)
    return make_ccpd(options=opts)


def alice_aor(kam):
    return "sip:alice@%s:%d" % (LOOPBACK, kam.port)


def add_alice(root, kam, password=ALICE_SIP_PW, **kw):
    params = {"username": "alice", "profile": "Agent",
              "password": "alice-login-1", "mustChangePassword": False,
              "sipAccount": alice_aor(kam), "sipPassword": password}
    params.update(kw)
    return root.call("admin.users.create", params)


def subscribed(d):
    c = d.client()
    c.call("events.subscribe")
    return c


def login(c):
    return c.call("session.login", {"username": "alice",
                                    "password": "alice-login-1"})


def wait_reg(c, state, account="user", timeout=15):
    return c.wait_event("registration.status", timeout, pred=lambda e:
                        e["data"]["state"] == state and
                        e["data"].get("account") == account)


def contact_port(contacts):
    """The SIP ports of kamailio's contacts for a user."""
    ports = []
    for uri in contacts:
        hostport = uri.split("@", 1)[1].split(";")[0].split(">")[0]
        ports.append(int(hostport.rsplit(":", 1)[1]))
    return ports


def wait_contacts(kam, user, n, timeout=10):
    deadline = time.monotonic() + timeout
    while True:
        got = kam.registered(user)
        if len(got) == n:
            return got
        if time.monotonic() > deadline:
            raise AssertionError("kamailio holds %r for %s, not %d contact(s)"
                                 % (got, user, n))
        time.sleep(0.05)


@pytest.fixture
def kam():
    with Kamailio(password=DESK_PW, passwords={"alice": ALICE_SIP_PW}) as k:
        yield k


@pytest.fixture
def caller():
    with BaresipPeer(name="caller") as p:
        yield p


def no_offer(c, seconds=1.0):
    """No contact.incoming reached client c within seconds."""
    try:
        c.wait_event("contact.incoming", seconds)
    except AssertionError:
        return True
    return False


def test_alice_moves_from_desk_a_to_desk_b(make_ccpd, kam, caller, tmp_path):
    key = key_file(tmp_path)
    a = desk(make_ccpd, kam, "deska", key)
    b = desk(make_ccpd, kam, "deskb", key)
    # each desk has its own store, with alice and the same SIP account
    for d in (a, b):
        user = add_alice(d.client(), kam)["user"]
        assert user["sipAccount"] == alice_aor(kam)
        assert user["sipPasswordSet"] is True
        assert user["sipAccountFrom"] == "user"
        assert ALICE_SIP_PW not in repr(user)
        assert not Schema(load_schema()).problems("/$defs/user", user)
    wait_contacts(kam, "deska", 1)
    wait_contacts(kam, "deskb", 1)
    assert kam.registered("alice") == []

    # alice logs in at A: A registers as alice, and a call to alice rings A
    ca, cb = subscribed(a), subscribed(b)
    login(ca)
    reg = wait_reg(ca, "registered")["data"]
    assert reg["aor"] == alice_aor(kam) and reg["mode"] == "registrar"
    assert ca.call("registration.getStatus")["aor"] == alice_aor(kam)
    assert ca.call("agent.getConfiguration")["sipAddress"] == alice_aor(kam)
    shown = a.ctl("registration")
    assert shown.returncode == 0, shown.stderr
    assert shown.stdout.startswith("registered (registrar) %s (the user's "
                                   "own account)" % alice_aor(kam)), shown.stdout
    assert contact_port(wait_contacts(kam, "alice", 1)) == [a.sip_port]
    ca.call("agent.setState", {"state": "Available"})
    cb_admin = b.client()
    caller.dial(alice_aor(kam))
    ca.wait_event("contact.incoming", 15)
    caller.wait_event("CALL_RINGING", 10)
    caller.hangup()
    caller.wait_event("CALL_CLOSED", 10)
    assert no_offer(cb, 0.5)

    # alice logs out at A: A unregisters alice (Expires: 0) and says so
    ca2 = subscribed(a)
    t0 = time.monotonic()
    ca.call("session.logout")
    rel = ca2.wait_event("registration.released", 10,
                         pred=lambda e: e["data"]["aor"] == alice_aor(kam))
    print("logout to registration.released: %.0f ms"
          % ((time.monotonic() - t0) * 1000))
    assert rel["data"]["username"] == "alice"
    assert rel["data"]["unregistered"] is True
    # the unregistration is done by then: kamailio holds no contact
    assert kam.registered("alice") == []
    assert [x for x in kam.registers("alice") if x[1] == "0"], \
        kam.registers("alice")
    st = ca2.call("registration.getStatus")
    assert st["account"] == "desk" and st["aor"].startswith("sip:deska@")
    # the desk's own account stayed registered all along
    assert contact_port(kam.registered("deska")) == [a.sip_port]

    # alice logs in at B: the call rings B, and kamailio has one contact
    login(cb)
    wait_reg(cb, "registered")
    assert contact_port(wait_contacts(kam, "alice", 1)) == [b.sip_port]
    cb.call("agent.setState", {"state": "Available"})
    caller.dial(alice_aor(kam))
    cb.wait_event("contact.incoming", 15)
    caller.wait_event("CALL_RINGING", 10)
    assert no_offer(ca2, 0.5)
    caller.hangup()
    caller.wait_event("CALL_CLOSED", 10)
    assert contact_port(kam.registered("alice")) == [b.sip_port]

    # alice logs out at B: a call to her gets a failure from the registrar
    cb2 = subscribed(b)
    cb.call("session.logout")
    cb2.wait_event("registration.released", 10)
    assert kam.registered("alice") == []
    caller.drain_events()
    caller.dial(alice_aor(kam))
    closed = caller.wait_event("CALL_CLOSED", 10)
    assert "404" in (closed.get("param") or ""), closed
    assert no_offer(cb2, 0.3)
    del cb_admin
    for c in (ca2, cb2):
        assert_events_match_schema(c)


def test_a_wrong_sip_password_fails_clearly_without_a_storm(make_ccpd, kam,
                                                            tmp_path):
    key = key_file(tmp_path)
    a = desk(make_ccpd, kam, "deska", key)
    add_alice(a.client(), kam, password="not-alices")
    c = subscribed(a)
    login(c)
    t0 = time.monotonic()
    failed = wait_reg(c, "failed")["data"]
    assert failed["aor"] == alice_aor(kam)
    assert "401" in failed["reason"] or "403" in failed["reason"], failed
    assert c.call("registration.getStatus")["state"] == "failed"
    # One try is a burst (libre answers each fresh challenge of kamailio's
    # until it gives up); then baresip waits 30 to 60 s before the next,
    # doubling up to 30 min. Over 8 s: that one burst and nothing after.
    burst = len(kam.registers("alice"))
    time.sleep(max(0.0, 8.0 - (time.monotonic() - t0)))
    tries = kam.registers("alice")
    print("REGISTERs for alice with a wrong password: %d in the first try, "
          "%d in 8 s" % (burst, len(tries)))
    assert 1 <= len(tries) <= 20 and len(tries) == burst, tries
    assert kam.registered("alice") == []
    assert "not-alices" not in a.log_text()
    # the right password, set by the admin, registers her at once
    a.client().call("admin.users.update", {"username": "alice",
                                           "sipPassword": ALICE_SIP_PW})
    wait_reg(c, "registered")
    wait_contacts(kam, "alice", 1)


def test_passwords_are_sealed_and_never_shown(make_ccpd, kam, tmp_path):
    key = key_file(tmp_path)
    a = desk(make_ccpd, kam, "deska", key)
    root = a.client()
    add_alice(root, kam, sipAuthUser="alice", sipRegistrar=kam.uri)
    got = root.call("admin.users.get", {"username": "alice"})
    assert got["sipAuthUser"] == "alice" and got["sipRegistrar"] == kam.uri
    listed = root.call("admin.users.list")
    for text in (repr(got), repr(listed)):
        assert ALICE_SIP_PW not in text and "gcm1:" not in text
    c = subscribed(a)
    login(c)
    wait_reg(c, "registered")
    # the database holds the password sealed: not in clear, anywhere
    db = os.path.join(a.options["state_dir"], "ccpd.db")
    with sqlite3.connect(db) as con:
        stored = con.execute("SELECT sip_account FROM users WHERE "
                             "username='alice'").fetchone()[0]
    assert "gcm1:" in stored and ALICE_SIP_PW not in stored
    for name in os.listdir(a.options["state_dir"]):
        with open(os.path.join(a.options["state_dir"], name), "rb") as f:
            assert ALICE_SIP_PW.encode() not in f.read(), name
    # nor in the log (baresip's answer to uanew repeats the line), nor in
    # --dump-config
    assert ALICE_SIP_PW not in a.log_text()
    dump = subprocess.run([ccpd_mod.CCPD, "--dump-config", "-o",
                           "sip_secret_key_file=" + key],
                          capture_output=True, text=True, timeout=10)
    assert "sip_secret_key_file = " + key in dump.stdout
    assert "sip_account_template = " in dump.stdout
    # removing the password, then the account
    root.call("admin.users.update", {"username": "alice",
                                     "sipPassword": None})
    assert root.call("admin.users.get", {"username": "alice"})[
        "sipPasswordSet"] is False
    root.call("admin.users.update", {"username": "alice",
                                     "sipAccount": None})
    got = root.call("admin.users.get", {"username": "alice"})
    assert got["sipAccount"] is None and got["sipAccountFrom"] is None
    # at the desk, alice is on the desk's account again, and unregistered
    c.wait_event("registration.released", 10)
    assert c.call("registration.getStatus")["account"] == "desk"
    assert kam.registered("alice") == []


def test_no_key_no_stored_sip_password(make_ccpd, kam, tmp_path):
    a = desk(make_ccpd, kam, "deska")
    err = a.client().error("admin.users.create", {
        "username": "alice", "profile": "Agent", "password": "alice-login-1",
        "sipAccount": alice_aor(kam), "sipPassword": ALICE_SIP_PW})
    assert "sip_secret_key_file" in err["data"]["reason"]
    # an account without a password is fine, as is the old string form
    add_alice(a.client(), kam, password=None)
    err = a.client().error("admin.users.update", {
        "username": "alice", "sipAccount": "sip:bad;x@host"})
    assert "sipAccount" in err["data"]["reason"]


@pytest.mark.parametrize("mode", [0o640, 0o604])
def test_a_key_file_others_may_read_is_refused(make_ccpd, kam, tmp_path,
                                               mode):
    key = key_file(tmp_path, mode)
    d = ccpd_mod.Ccpd(options={"sip_secret_key_file": key},
                      wait_ready=False)
    rc = d.wait_refused(15)
    assert rc != 0
    assert "readable by ccpd's user only" in d.log_text(), d.log_tail()


def test_template_restart_and_clean_stop(make_ccpd, kam, tmp_path):
    key = key_file(tmp_path)
    tmpl = "sip:{username}@%s:%d" % (LOOPBACK, kam.port)
    a = desk(make_ccpd, kam, "deska", key, sip_account_template=tmpl)
    root = a.client()
    # alice has only her password: her address is the template's
    root.call("admin.users.create", {
        "username": "alice", "profile": "Agent", "password": "alice-login-1",
        "mustChangePassword": False, "sipPassword": ALICE_SIP_PW})
    got = root.call("admin.users.get", {"username": "alice"})
    assert got["sipAccount"] == alice_aor(kam)
    assert got["sipAccountFrom"] == "template"
    c = subscribed(a)
    login(c)
    wait_reg(c, "registered")
    assert contact_port(wait_contacts(kam, "alice", 1)) == [a.sip_port]

    # baresip dies: the restarted one adds and registers alice again, and
    # a call to her rings this desk. (The dead baresip's binding stays at
    # the registrar until it expires: nobody is left to remove it, and
    # baresip 1.0.0 names each run's contact anew.)
    before = set(kam.registered("alice"))
    pid = a.baresip_pid(root)
    os.kill(pid, signal.SIGKILL)
    c.wait_event("media.status", 15,
                 pred=lambda e: e["data"]["state"] == "up" and
                 e["data"]["pid"] != pid)
    wait_reg(c, "registered", timeout=20)
    assert c.call("registration.getStatus")["aor"] == alice_aor(kam)
    deadline = time.monotonic() + 10
    while not set(kam.registered("alice")) - before:
        assert time.monotonic() < deadline, kam.registered("alice")
        time.sleep(0.05)
    fresh = set(kam.registered("alice")) - before
    assert contact_port(fresh) == [a.sip_port]
    c.call("agent.setState", {"state": "Available"})
    with BaresipPeer(name="caller") as caller:
        caller.dial(alice_aor(kam))
        c.wait_event("contact.incoming", 15)
        caller.hangup()
        caller.wait_event("CALL_CLOSED", 10)
    c.wait_event("contact.destroyed", 15)

    # a clean stop unregisters her
    unreg = len([x for x in kam.registers("alice") if x[1] == "0"])
    a.stop()
    deadline = time.monotonic() + 5
    while fresh & set(kam.registered("alice")):
        assert time.monotonic() < deadline, kam.registered("alice")
        time.sleep(0.05)
    assert len([x for x in kam.registers("alice") if x[1] == "0"]) > unreg


def test_ccpctl_sets_and_imports_sip_accounts(make_ccpd, kam, tmp_path):
    key = key_file(tmp_path)
    a = desk(make_ccpd, kam, "deska", key)
    root = a.client()
    for name in ("alice", "bob"):
        root.call("admin.users.create", {
            "username": name, "profile": "Agent",
            "password": name + "-login-1", "mustChangePassword": False})
    pwfile = os.path.join(str(tmp_path), "pw")
    with open(pwfile, "w") as f:
        f.write(ALICE_SIP_PW + "\n")
    r = a.ctl("admin", "users", "set", "alice", "--sip-account",
              alice_aor(kam), "--sip-auth-user", "alice-auth",
              "--sip-password-file", pwfile)
    assert r.returncode == 0, r.stderr
    got = root.call("admin.users.get", {"username": "alice"})
    assert got["sipAuthUser"] == "alice-auth" and got["sipPasswordSet"]
    r = a.ctl("admin", "users", "set", "alice", "--sip-auth-user", "none")
    assert r.returncode == 0, r.stderr
    assert root.call("admin.users.get",
                     {"username": "alice"})["sipAuthUser"] is None

    # a PBX's export: header names as the PBX gives them, quotes and all;
    # a user ccpd does not know is reported, and the others go in
    csv = os.path.join(str(tmp_path), "pbx.csv")
    with open(csv, "w") as f:
        f.write('Extension,Username,SIP_URI,Secret,Proxy\n'
                '201,bob,"sip:bob@127.0.0.1:%d",bob-Sip-2,%s\n'
                '202,carol,sip:carol@127.0.0.1:%d,carol-Sip-3,\n'
                % (kam.port, kam.uri, kam.port))
    r = a.ctl("admin", "users", "import-sip", csv)
    assert r.returncode == 1, r.stdout + r.stderr
    assert "1 imported, 1 not" in r.stdout, r.stdout
    assert "carol" in r.stderr
    bob = root.call("admin.users.get", {"username": "bob"})
    assert bob["sipAccount"] == "sip:bob@127.0.0.1:%d" % kam.port
    assert bob["sipAuthUser"] == "201" and bob["sipRegistrar"] == kam.uri
    assert bob["sipPasswordSet"] is True
    assert "bob-Sip-2" not in a.log_text()


def test_expiry_and_another_user_taking_the_desk_unregister(make_ccpd, kam,
                                                            tmp_path):
    key = key_file(tmp_path)
    a = desk(make_ccpd, kam, "deska", key, session_timeout="3")
    root = a.client()
    add_alice(root, kam)
    root.call("admin.users.create", {
        "username": "bob", "profile": "Agent", "password": "bob-login-1",
        "mustChangePassword": False})
    watch = subscribed(a)

    # alice's session expires: her account leaves the desk
    login(a.client())
    wait_reg(watch, "registered")
    wait_contacts(kam, "alice", 1)
    rel = watch.wait_event("registration.released", 15)
    assert rel["data"]["username"] == "alice"
    assert rel["data"]["unregistered"] is True
    assert kam.registered("alice") == []

    # bob (no SIP account of his own) takes the desk from alice: hers is
    # unregistered, and the desk's own account is the agent's
    login(a.client())
    wait_reg(watch, "registered")
    wait_contacts(kam, "alice", 1)
    a.client().call("session.login", {"username": "bob",
                                      "password": "bob-login-1"})
    rel = watch.wait_event("registration.released", 10)
    assert rel["data"]["username"] == "alice"
    assert kam.registered("alice") == []
    # it was bob taking the desk, not her session running out
    assert "'bob' took the desk from 'alice'" in a.log_text()
    st = root.call("registration.getStatus")
    assert st["account"] == "desk" and st["state"] == "registered", st


def test_logging_out_during_a_call_keeps_the_call(make_ccpd, kam, caller,
                                                  tmp_path):
    key = key_file(tmp_path)
    a = desk(make_ccpd, kam, "deska", key)
    add_alice(a.client(), kam)
    watch = subscribed(a)
    c = subscribed(a)
    login(c)
    wait_reg(c, "registered")
    c.call("agent.setState", {"state": "Available"})
    caller.dial(alice_aor(kam))
    offer = c.wait_event("contact.incoming", 15)["data"]["contact"]
    c.call("contact.accept", {"contactId": offer["contactId"]})
    caller.wait_event("CALL_ESTABLISHED", 10)

    # she logs out on the call: the call goes on, and so does her account
    c.call("session.logout")
    with pytest.raises(AssertionError):
        watch.wait_event("registration.released", 1.5)
    assert len(kam.registered("alice")) == 1
    assert watch.call("registration.getStatus")["aor"] == alice_aor(kam)
    assert not [e for e in caller.drain_events()
                if e.get("type") == "CALL_CLOSED"], "the call was cut"

    # the call ends: only now is her account unregistered
    caller.hangup()
    caller.wait_event("CALL_CLOSED", 10)
    rel = watch.wait_event("registration.released", 10)
    assert rel["data"]["username"] == "alice"
    assert rel["data"]["unregistered"] is True
    assert kam.registered("alice") == []
