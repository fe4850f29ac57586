"""Users, sessions and permissions through the socket: a peer that is not
root really connects as another uid (nobody) and must log in; every method
is refused to whoever lacks its permission; failed logins are throttled
per user and peer, with growing delays; nobody grants what they do not
hold; sessions expire; a one-time password must be
changed first; the desk follows the user who logs in."""

import json
import os
import re
import time

import pytest

import peers
from ccpd import RpcError, TOP
from uidclient import UidClient, open_to_others

SCHEMA = os.path.join(TOP, "proto", "ccpd-protocol.schema.json")

# Each method and the permission it needs (PROTOCOL.md, "Permissions");
# None: public.
PERMISSION = {
    "agent.getState": "ccp.use",
    "agent.setState": "ccp.use",
    "agent.clearNextState": "ccp.use",
    "agent.listStates": "ccp.use",
    "agent.getConfiguration": "ccp.use",
    "agent.setConfiguration": "ccp.use",
    "agent.moveToDeskPhone": "ccp.use",
    "agent.connect": "outbound.call",
    "contact.list": "ccp.use",
    "contact.get": "ccp.use",
    "contact.history": "ccp.use",
    "contact.accept": "ccp.use",
    "contact.reject": "ccp.use",
    "contact.clear": "ccp.use",
    "connection.destroy": "ccp.use",
    "connection.hold": "ccp.use",
    "connection.resume": "ccp.use",
    "connection.sendDigits": "ccp.use",
    "contact.addConnection": "outbound.call",
    "contact.transfer": "outbound.call",
    "contact.toggleActiveConnections": "ccp.use",
    "contact.conferenceConnections": "ccp.use",
    "agent.mute": "ccp.use",
    "agent.unmute": "ccp.use",
    "agent.getEndpoints": "ccp.use",
    "phone.normalize": "ccp.use",
    "phone.format": "ccp.use",
    "events.subscribe": "ccp.use",
    "events.unsubscribe": None,
    "media.getStatus": "ccp.use",
    "registration.getStatus": "ccp.use",
    "store.getStatus": "ccp.use",
    "audio.listDevices": "ccp.use",
    "audio.setDevices": "ccp.use",
    "audio.test": "ccp.use",
    "network.check": "ccp.use",
    "daemon.getVersion": None,
    "daemon.listMethods": None,
    "session.login": None,
    "session.resume": None,
    "session.logout": None,
    "session.whoami": None,
    "session.changePassword": None,
    "metrics.get": "metrics.view",
    "metrics.getPrometheus": "metrics.viewAll",
    "report.agents": "metrics.viewAll",
    "floor.get": "floor.view",
    "floor.history": "floor.view",
    "bus.getStatus": "ccp.use",
}
for _t, _view, _manage in (
        ("users", "users.view", "users.manage"),
        ("profiles", "users.view", "profiles.manage"),
        ("statuses", "statuses.manage", "statuses.manage"),
        ("numbers", "numbers.manage", "numbers.manage"),
        ("origins", "origins.manage", "origins.manage"),
        ("quickConnects", "quickConnects.manage", "quickConnects.manage")):
    for _op in ("list", "get"):
        PERMISSION["admin.%s.%s" % (_t, _op)] = _view
    for _op in ("create", "update", "delete"):
        PERMISSION["admin.%s.%s" % (_t, _op)] = _manage

PROFILES = {
    "Agent": {"ccp.use", "outbound.call"},
    "CallCenterManager": {"ccp.use", "outbound.call", "metrics.view",
                          "metrics.viewAll", "users.view"},
    "Supervisor": {"ccp.use", "outbound.call", "floor.view"},
}

# params that would be valid, so that a refusal can only be the permission
PARAMS = {
    "agent.setState": {"state": "Available"},
    "agent.connect": {"endpoint": "sip:nobody@127.0.0.1:9"},
    "contact.get": {"contactId": "3f2b8c1e-9d4a-4e7b-a1c2-5d6e7f809a1b"},
    "contact.accept": {"contactId": "3f2b8c1e-9d4a-4e7b-a1c2-5d6e7f809a1b"},
    "contact.reject": {"contactId": "3f2b8c1e-9d4a-4e7b-a1c2-5d6e7f809a1b"},
    "contact.clear": {"contactId": "3f2b8c1e-9d4a-4e7b-a1c2-5d6e7f809a1b"},
    "connection.destroy": {"contactId": "3f2b8c1e-9d4a-4e7b-a1c2-5d6e7f809a1b"},
    "report.agents": {"from": 0, "to": 1},
}


def events_of(c):
    """Every event c has received so far."""
    while not c.events.empty():
        c.seen.append(c.events.get_nowait())
    return c.seen


def sees_no_more_events(root, c, state):
    """After root changes the state, c (no longer logged in) gets no
    event: its answer to a request comes after any event sent before."""
    root.call("agent.setState", {"state": state})
    c.error("agent.getState")
    assert not [e for e in events_of(c) if e["type"] ==
                "agent.stateChange" and e["data"]["newState"] == state]


def auth_daemon(make_ccpd, **options):
    opts = {"socket_mode": "0666"}
    opts.update({k: str(v) for k, v in options.items()})
    d = make_ccpd(options=opts)
    open_to_others(d)
    return d


def nobody(d):
    c = UidClient(d.socket)
    d.clients.append(c)
    return c


def add_user(root, name, profile="Agent", password=None, **kw):
    params = {"username": name, "profile": profile,
              "password": password or name + "-secret-1",
              "mustChangePassword": False}
    params.update(kw)
    return root.call("admin.users.create", params)


def login(c, name, password=None):
    return c.call("session.login", {"username": name,
                                    "password": password or
                                    name + "-secret-1"})


def test_the_method_table_is_the_documented_one():
    with open(SCHEMA) as f:
        doc = json.load(f)
    assert set(doc["methods"]) == set(PERMISSION)
    with open(os.path.join(TOP, "daemon", "rpc.c")) as f:
        rpc = f.read()
    table = dict(re.findall(
        r'\{\s*"([a-zA-Z.]+)",\s*m_\w+,\s*(PERM_\w+)\s*\}', rpc))
    assert set(table) == set(PERMISSION)
    for m, perm in PERMISSION.items():
        want = "PERM_PUBLIC" if perm is None else "PERM_" + re.sub(
            r"([a-z])([A-Z])", r"\1_\2", perm).replace(".", "_").upper()
        assert table[m] == want, (m, table[m], want)


def test_a_peer_that_is_not_root_must_log_in(make_ccpd):
    d = auth_daemon(make_ccpd)
    root = d.client()
    add_user(root, "alice")
    c = nobody(d)
    who = c.call("session.whoami")
    assert who["uid"] == 65534 and who["via"] == "none"
    assert who["administrator"] is False and who["permissions"] == []
    assert c.call("daemon.getVersion")["name"] == "ccpd"
    err = c.error("agent.getState")
    assert err["code"] == -32001 and "log in" in err["data"]["reason"]

    res = login(c, "alice")
    assert res["username"] == "alice" and len(res["token"]) == 64
    assert sorted(res["permissions"]) == ["ccp.use", "outbound.call"]
    assert c.call("agent.getState")["state"] == "Offline"
    who = c.call("session.whoami")
    assert who["via"] == "session" and who["deskUser"] == "alice"
    # alice is at the desk: the configuration says so
    cfg = c.call("agent.getConfiguration")
    assert cfg["username"] == "alice" and cfg["name"] == "alice"
    err = c.error("admin.users.list")
    assert err["code"] == -32002
    assert err["data"]["permission"] == "users.view"

    c.call("events.subscribe")
    c.call("session.logout")
    assert c.error("agent.getState")["code"] == -32001
    # the subscription went with the session
    sees_no_more_events(root, c, "Lunch")
    # root sees nobody at the desk any more
    assert root.call("session.whoami")["deskUser"] is None
    assert root.call("agent.getConfiguration")["username"] is None


def test_root_is_an_administrator_and_a_session_overrides_it(make_ccpd):
    d = auth_daemon(make_ccpd)
    root = d.client()
    who = root.call("session.whoami")
    assert who["via"] == "peerCredentials" and who["administrator"]
    assert who["uid"] == 0
    add_user(root, "alice")
    login(root, "alice")
    # the connection acts as alice now, whatever its credentials
    assert root.error("admin.users.list")["code"] == -32002
    root.call("session.logout")
    assert root.call("admin.users.list")[0]["username"] == "alice"


def test_every_method_is_refused_without_its_permission(make_ccpd):
    d = auth_daemon(make_ccpd)
    root = d.client()
    add_user(root, "agent1", "Agent")
    add_user(root, "boss1", "CallCenterManager")
    root.call("admin.profiles.create", {"name": "Nothing",
                                        "permissions": []})
    add_user(root, "none1", "Nothing")

    anon = nobody(d)
    refused = 0
    for method, perm in sorted(PERMISSION.items()):
        if perm is None:
            continue
        err = anon.error(method, PARAMS.get(method))
        assert err["code"] == -32001, (method, err)
        refused += 1

    for user, allowed in (("agent1", PROFILES["Agent"]),
                          ("boss1", PROFILES["CallCenterManager"]),
                          ("none1", set())):
        c = nobody(d)
        login(c, user)
        for method, perm in sorted(PERMISSION.items()):
            if perm is None or perm in allowed:
                continue
            err = c.error(method, PARAMS.get(method))
            assert err["code"] == -32002, (user, method, err)
            assert err["data"]["permission"] == perm, (user, method, err)
            assert perm in err["data"]["reason"]
            refused += 1
        c.call("session.logout")
    # an agent's own figures need metrics.view; another's, metrics.viewAll
    boss = nobody(d)
    login(boss, "boss1")
    figures = boss.call("metrics.get", {"agent": "agent1"})["agents"]
    assert [a["username"] for a in figures] == ["agent1"]
    root.call("admin.profiles.create", {"name": "Own",
                                        "permissions": ["metrics.view"]})
    add_user(root, "own1", "Own")
    own = nobody(d)
    login(own, "own1")
    assert own.call("metrics.get")["agents"] == []
    err = own.error("metrics.get", {"agent": "agent1"})
    assert err["code"] == -32002
    assert err["data"]["permission"] == "metrics.viewAll"
    assert refused > 80


def wait_retry(c, method, params, deadline=10):
    """Until c's request is no longer refused for being throttled: its
    answer."""
    end = time.monotonic() + deadline
    while True:
        ans = c.request(method, params)
        if "retryAfter" not in ans.get("error", {}).get("data", {}):
            return ans
        assert time.monotonic() < end, ans
        time.sleep(0.2)


def test_failed_logins_delay_only_that_user_from_that_peer(make_ccpd):
    """Wrong passwords for alice from one peer delay that peer's next
    tries, longer each time, but never alice from anywhere else, and
    never an administrator by its credentials."""
    d = auth_daemon(make_ccpd, login_failures=3, login_lockout=4)
    root = d.client()
    add_user(root, "alice")
    add_user(root, "bob")
    c = nobody(d)
    wrong = {"username": "alice", "password": "wrong-password"}
    for _ in range(2):
        err = c.error("session.login", wrong)
        assert err["code"] == -32001 and "retryAfter" not in err["data"]
    c.error("session.login", wrong)
    # the third failure costs this peer a second, even with the password
    err = c.error("session.login", {"username": "alice",
                                    "password": "alice-secret-1"})
    assert err["code"] == -32001 and err["data"]["retryAfter"] == 1
    assert "too many" in err["data"]["reason"]
    # alice herself, from another uid, is not kept out
    other = UidClient(d.socket, uid=65533)
    d.clients.append(other)
    assert login(other, "alice")["username"] == "alice"
    other.call("session.logout")
    # nor is root, on its credentials
    assert login(root, "alice")["username"] == "alice"
    root.call("session.logout")
    # each further failure doubles the wait, up to login_lockout
    for expect in (2, 4, 4):
        assert "error" in wait_retry(c, "session.login", wrong)
        err = c.error("session.login", wrong)
        assert err["data"]["retryAfter"] == expect, err
    # the wait over, the right password is taken, and forgives the rest
    assert "result" in wait_retry(c, "session.login", {
        "username": "alice", "password": "alice-secret-1"})
    c.call("session.logout")
    assert "retryAfter" not in c.error("session.login", wrong)["data"]
    # failures spread over several user names delay the peer as well
    d2 = UidClient(d.socket, uid=65532)
    d.clients.append(d2)
    for name in ("x1", "x2", "x3"):
        assert d2.error("session.login", {"username": name,
                                          "password": "nope-nope"})[
            "code"] == -32001
    err = d2.error("session.login", {"username": "bob",
                                     "password": "bob-secret-1"})
    assert "retryAfter" in err["data"]
    # and the journal names who tried
    assert "auth: failed login for 'alice' from uid:65534" in d.log_text()


def test_change_password_is_throttled_like_a_login(make_ccpd):
    d = auth_daemon(make_ccpd, login_failures=3, login_lockout=30)
    root = d.client()
    add_user(root, "alice")
    c, other = nobody(d), nobody(d)
    login(c, "alice")
    for _ in range(3):
        err = c.error("session.changePassword", {
            "oldPassword": "a-guess-%d" % _, "newPassword": "new-secret-2"})
        assert err["code"] == -32001
    # a held session does not make the old password cheap to guess
    err = c.error("session.changePassword", {
        "oldPassword": "alice-secret-1", "newPassword": "new-secret-2"})
    assert err["code"] == -32001 and err["data"]["retryAfter"] >= 1
    # ... nor a login from the same peer
    assert "retryAfter" in other.error("session.login", {
        "username": "alice", "password": "alice-secret-1"})["data"]


def test_grants_are_bounded_by_what_the_caller_holds(make_ccpd):
    d = auth_daemon(make_ccpd)
    root = d.client()
    root.call("admin.profiles.create", {
        "name": "TeamLead", "permissions": [
            "ccp.use", "outbound.call", "users.view", "users.manage"]})
    root.call("admin.profiles.create", {
        "name": "ProfileKeeper", "permissions": ["profiles.manage",
                                                 "users.view"]})
    add_user(root, "sue", profile="TeamLead")
    add_user(root, "pat", profile="ProfileKeeper")
    add_user(root, "boss", profile="Admin")
    c = nobody(d)
    login(c, "sue")
    # an agent, all of whose permissions sue holds: yes
    add_user(c, "alice")
    # Admin, for someone else or for herself: no
    err = c.error("admin.users.create", {"username": "eve",
                                         "profile": "Admin"})
    assert err["code"] == -32002 and "Admin" in err["data"]["reason"]
    err = c.error("admin.users.update", {"username": "sue",
                                         "profile": "Admin"})
    assert err["code"] == -32002
    # nor a new password for the administrator, or deleting them
    assert c.error("admin.users.update", {"username": "boss",
                                          "resetPassword": True})[
        "code"] == -32002
    assert c.error("admin.users.delete", {"username": "boss"})[
        "code"] == -32002
    assert root.call("admin.users.get", {"username": "boss"})[
        "profile"] == "Admin"
    assert root.call("admin.users.get", {"username": "sue"})[
        "profile"] == "TeamLead"
    c.call("session.logout")
    # a profile keeper cannot grow their own profile into more
    login(c, "pat")
    err = c.error("admin.profiles.update", {
        "name": "ProfileKeeper", "permissions": [
            "profiles.manage", "users.view", "users.manage"]})
    assert err["code"] == -32002 and "users.manage" in err["data"]["reason"]
    assert c.error("admin.profiles.create", {
        "name": "Mine", "permissions": ["users.manage"]})["code"] == -32002
    c.call("admin.profiles.create", {"name": "Viewers",
                                     "permissions": ["users.view"]})
    # root, by its credentials, holds everything
    root.call("admin.users.update", {"username": "sue", "profile": "Admin"})


def test_a_user_name_cannot_forge_a_log_line(make_ccpd):
    d = auth_daemon(make_ccpd)
    c = nobody(d)
    c.error("session.login", {"username": "x\n<3>auth: forged\r\x1b[2J",
                              "password": "nope-nope"})
    c.call("daemon.getVersion")
    lines = d.log_text().splitlines()
    assert not [ln for ln in lines if ln.startswith("<3>auth: forged")]
    assert [ln for ln in lines if "failed login for 'x\\x0a<3>auth: "
            "forged\\x0d\\x1b[2J' from uid:65534" in ln], lines[-20:]


def test_sessions_expire_and_release_the_desk(make_ccpd):
    d = auth_daemon(make_ccpd, session_timeout=2)
    root = d.client()
    root.call("events.subscribe")
    add_user(root, "alice")
    c = nobody(d)
    res = login(c, "alice")
    c.call("events.subscribe")
    c.call("agent.setState", {"state": "Available"})
    # each request moves the expiry ahead
    for _ in range(3):
        time.sleep(1.0)
        assert c.call("agent.getState")["status"] == "Available"
    time.sleep(2.6)
    err = c.error("agent.getState")
    assert err["code"] == -32001 and "expired" in err["data"]["reason"]
    # then the connection is what its credentials make it: nobody
    err = c.error("agent.getState")
    assert err["code"] == -32001 and "log in" in err["data"]["reason"]
    assert c.error("session.resume", {"token": res["token"]})[
        "code"] == -32001
    # with her last session gone, alice is not at the desk, and the agent
    # is not taking calls
    deadline = time.monotonic() + 5
    while root.call("session.whoami")["deskUser"] is not None:
        assert time.monotonic() < deadline
        time.sleep(0.1)
    root.wait_state("Offline")
    # alice's subscription ended with her session
    sees_no_more_events(root, c, "Break")


def test_a_session_is_resumed_on_another_connection(make_ccpd):
    d = auth_daemon(make_ccpd)
    root = d.client()
    add_user(root, "alice")
    a = nobody(d)
    token = login(a, "alice")["token"]
    b = nobody(d)
    assert b.error("agent.getState")["code"] == -32001
    assert b.call("session.resume", {"token": token})["username"] == "alice"
    assert b.call("agent.getState")["state"] == "Offline"
    assert b.error("session.resume", {"token": "0" * 64})["code"] == -32001
    # logging out ends the session for both
    a.call("session.logout")
    assert b.error("agent.getState")["code"] == -32001


def test_the_one_time_password_must_be_changed_first(make_ccpd):
    d = auth_daemon(make_ccpd, password_min_length=10,
                    ccp_url="https://ccp.example.com/agent/")
    r = d.ctl("admin", "users", "add", "bob", "--profile", "Agent",
              "--display-name", "Bob Builder")
    assert r.returncode == 0, r.stderr
    assert "user bob (Agent)" in r.stdout
    assert "CCP: https://ccp.example.com/agent/" in r.stdout
    otp = re.search(r"one-time password: (\S+)", r.stdout).group(1)
    assert len(otp) >= 12

    c = nobody(d)
    res = c.call("session.login", {"username": "bob", "password": otp})
    assert res["mustChangePassword"] is True
    assert res["displayName"] == "Bob Builder"
    err = c.error("agent.getState")
    assert err["code"] == -32001 and err["data"]["mustChangePassword"]
    assert c.call("session.whoami")["mustChangePassword"] is True
    err = c.error("session.changePassword", {"oldPassword": "wrong",
                                             "newPassword": "long-enough-1"})
    assert err["code"] == -32001
    err = c.error("session.changePassword", {"oldPassword": otp,
                                             "newPassword": "short"})
    assert err["code"] == -32602 and "10" in err["data"]["reason"]
    err = c.error("session.changePassword", {"oldPassword": otp,
                                             "newPassword": otp})
    assert err["code"] == -32602
    res = c.call("session.changePassword", {"oldPassword": otp,
                                            "newPassword": "bob-own-pass"})
    assert res["mustChangePassword"] is False
    assert c.call("agent.getState")["state"] == "Offline"
    # the one-time password is spent
    assert nobody(d).error("session.login", {"username": "bob",
                                             "password": otp})[
        "code"] == -32001

    # an administrator's reset: a new one-time password, old sessions end
    r = d.ctl("admin", "users", "set", "bob", "--reset-password")
    assert r.returncode == 0, r.stderr
    otp2 = re.search(r"one-time password: (\S+)", r.stdout).group(1)
    assert c.error("agent.getState")["code"] == -32001

    # the same through ccpctl: login prints the token, passwd changes it
    r = d.ctl("login", "bob", "--password", otp2)
    assert r.returncode == 0, r.stderr
    token = r.stdout.strip()
    assert re.fullmatch(r"[0-9a-f]{64}", token)
    assert "one-time password" in r.stderr
    r = d.ctl("--token", token, "status")
    assert r.returncode == 1 and "changed first" in r.stderr
    import subprocess
    from ccpd import CCPCTL
    p = subprocess.run([CCPCTL, "--socket", d.socket, "passwd"],
                       input="%s\nbob-newer-pass\n" % otp2,
                       env=dict(os.environ, CCPD_TOKEN=token),
                       capture_output=True, text=True, timeout=15)
    assert p.returncode == 0, p.stderr
    assert "password changed" in p.stdout
    r = d.ctl("--token", token, "whoami")
    assert r.returncode == 0 and r.stdout.startswith("bob (Agent)")
    assert "at the desk: bob" in r.stdout
    r = d.ctl("--token", token, "logout")
    assert r.returncode == 0, r.stderr
    r = d.ctl("--token", token, "status")
    assert r.returncode == 1 and "no such session" in r.stderr


def test_another_user_cannot_log_in_while_a_contact_is_live(make_ccpd,
                                                            customer):
    d = auth_daemon(make_ccpd)
    root = d.client()
    add_user(root, "alice")
    add_user(root, "bob")
    add_user(root, "carol", "CallCenterManager")
    root.call("admin.profiles.create", {"name": "Watcher",
                                        "permissions": ["metrics.view"]})
    add_user(root, "wendy", "Watcher")
    a = nobody(d)
    login(a, "alice")
    a.call("events.subscribe")
    a.call("agent.setState", {"state": "Available"})
    customer.dial(d.sip_uri)
    cid = a.wait_event("contact.incoming")["data"]["contact"]["contactId"]
    b = nobody(d)
    err = b.error("session.login", {"username": "bob",
                                    "password": "bob-secret-1"})
    assert err["code"] == -32003 and cid in err["data"]["reason"]
    # no session was left behind
    assert root.call("admin.users.get", {"username": "bob"})[
        "sessions"] == 0
    # alice may open a second session, and a user without ccp.use may log
    # in without taking the desk
    login(nobody(d), "alice")
    login(nobody(d), "wendy")
    a.call("contact.accept", {"contactId": cid})
    a.wait_event("contact.connected")
    customer.wait_event("CALL_ESTABLISHED", 10)
    assert b.error("session.login", {"username": "carol",
                                     "password": "carol-secret-1"})[
        "code"] == -32003
    customer.hangup()
    a.wait_event("contact.acw")
    # in after-contact work the contact is still at the desk
    assert b.error("session.login", {"username": "bob",
                                     "password": "bob-secret-1"})[
        "code"] == -32003
    a.call("contact.clear", {"contactId": cid})
    a.wait_event("contact.destroyed")
    # now bob takes the desk: alice is logged out, the agent is Offline
    login(b, "bob")
    assert root.call("session.whoami")["deskUser"] == "bob"
    assert a.error("agent.getState")["code"] == -32001
    assert b.call("agent.getState")["status"] == "Offline"
    rows = root.call("contact.history")
    assert rows[0]["contactId"] == cid


def test_the_desk_takes_the_users_phone_and_region(make_ccpd):
    """What the admin records for a user follows them to the desk: a desk
    phone and its extension, and the region their national numbers are
    read in; when they leave, the desk is a softphone again."""
    d = auth_daemon(make_ccpd, dial_template="sip:{e164}@127.0.0.1:9",
                    region="US")
    root = d.client()
    add_user(root, "gina", phoneType="deskphone",
             extension="+442071838751", region="GB")
    assert root.call("agent.getConfiguration")["softphoneEnabled"] is True
    c = nobody(d)
    login(c, "gina")
    conf = c.call("agent.getConfiguration")
    assert conf["softphoneEnabled"] is False
    assert conf["extension"] == "+442071838751"
    assert conf["region"] == "GB"
    # a national GB number is read in gina's region, not the instance's
    n = c.call("phone.normalize", {"number": "020 7183 8750"})
    assert n["e164"] == "+442071838750"
    c.call("session.logout")
    conf = root.call("agent.getConfiguration")
    assert conf["softphoneEnabled"] is True and conf["region"] == "US"


_HOLDER = r"""
import json, socket, sys
path, n = sys.argv[1], int(sys.argv[2])
held, refused = [], 0
for _ in range(n):
    s = socket.socket(socket.AF_UNIX)
    s.connect(path)
    s.settimeout(0.3)
    try:
        data = s.recv(4096)
    except socket.timeout:
        held.append(s)
        continue
    assert b"too many clients" in data, data
    refused += 1
print(len(held), refused, flush=True)
sys.stdin.readline()
closed = 0
for s in held:
    s.settimeout(0.1)
    try:
        closed += s.recv(1) == b""
    except socket.timeout:
        pass
print(closed, flush=True)
"""


def test_strangers_cannot_fill_the_socket(make_ccpd):
    """Clients of another uid that never log in: they cannot keep root
    out, they lose their slot after login_timeout, and the refusals do
    not flood the journal."""
    import subprocess
    import sys
    from uidclient import _drop
    d = auth_daemon(make_ccpd, max_clients=4, login_timeout=2)
    root = d.client()
    add_user(root, "alice")
    # a stranger who logs in keeps its slot
    c = nobody(d)
    login(c, "alice")
    holder = subprocess.Popen([sys.executable, "-c", _HOLDER, d.socket,
                               "40"], stdin=subprocess.PIPE,
                              stdout=subprocess.PIPE, text=True,
                              preexec_fn=_drop(65534))
    try:
        held, refused = map(int, holder.stdout.readline().split())
        assert (held, refused) == (3, 37)     # alice holds the fourth
        # root still gets in: administrators have slots of their own
        for r in [d.client() for _ in range(3)]:
            assert r.call("agent.getState")["state"] == "Offline"
        # the strangers who did not log in go
        time.sleep(3.5)
        holder.stdin.write("\n")
        holder.stdin.flush()
        assert int(holder.stdout.readline()) == 3
        assert c.call("agent.getState")["state"] == "Offline"
    finally:
        holder.kill()
        holder.wait()
    refusals = [ln for ln in d.log_text().splitlines()
                if "ipc: refusing a client" in ln]
    assert 1 <= len(refusals) <= 5, refusals


_BIND_SPY = r"""
#define _GNU_SOURCE
#include <dlfcn.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

/* the mode of a Unix socket's file the moment bind made it */
int bind(int fd, const struct sockaddr *a, socklen_t len)
{
	int (*real)(int, const struct sockaddr *, socklen_t) =
		(int (*)(int, const struct sockaddr *, socklen_t))
		dlsym(RTLD_NEXT, "bind");
	const struct sockaddr_un *u = (const void *)a;
	const char *out = getenv("BIND_SPY_OUT");
	struct stat st;
	int r = real(fd, a, len);
	FILE *f;

	if (r == 0 && out && a->sa_family == AF_UNIX && u->sun_path[0] &&
	    stat(u->sun_path, &st) == 0 && (f = fopen(out, "a"))) {
		fprintf(f, "%s %o\n", u->sun_path, st.st_mode & 0777);
		fclose(f);
	}
	return r;
}
"""


def test_the_socket_is_born_with_its_mode(make_ccpd, tmp_path):
    """No moment between bind and chmod in which anyone may connect:
    the file bind makes already has socket_mode, whatever the umask."""
    import subprocess
    src, lib = tmp_path / "spy.c", tmp_path / "spy.so"
    src.write_text(_BIND_SPY)
    subprocess.run(["cc", "-shared", "-fPIC", "-o", str(lib), str(src),
                    "-ldl"], check=True)
    out = tmp_path / "binds"
    asan = os.environ.get("ASAN_OPTIONS", "")
    old = os.umask(0o002)
    try:
        d = make_ccpd(options={"socket_mode": "0600"}, env={
            "LD_PRELOAD": str(lib), "BIND_SPY_OUT": str(out),
            "ASAN_OPTIONS": (asan + ":" if asan else "") +
            "verify_asan_link_order=0"})
    finally:
        os.umask(old)
    binds = dict(ln.split() for ln in out.read_text().splitlines())
    assert binds[d.socket] == "600", binds
    assert oct(os.stat(d.socket).st_mode & 0o777) == "0o600"
