"""The protocol's JSON Schema (proto/ccpd-protocol.schema.json) against
what ccpd really sends.

A real ccpd in direct mode and a second one registering with kamailio are
driven through every method and every event the foundation can produce,
with real baresip peers and SIPp on 127.0.0.1.  Every line ccpd writes is
checked: results against methods[name].result, error objects against the
error schema (and their codes against the method's list), events' data
against events[type], and each whole message against the top-level schema.
At the end every method in the schema must have answered with a result
and every event type must have been seen, unless listed in
UNEXERCISED_METHODS / UNSEEN_EVENTS with a reason.

Needs Debian's python3-jsonschema (4.10: Draft202012Validator).
"""

import json
import os
import re
import signal
import socket

import jsonschema
from jsonschema import Draft202012Validator, RefResolver
from jsonschema.exceptions import best_match

import peers
from ccpd import Client, RpcError, TOP

SCHEMA_PATH = os.path.join(TOP, "proto", "ccpd-protocol.schema.json")
PROTOCOL_MD = os.path.join(TOP, "proto", "PROTOCOL.md")

# Methods that may stay without a validated result, and event types that
# may stay unseen, each with the reason.  Empty: the session below reaches
# them all.
UNEXERCISED_METHODS = {
    m: "call control: exercised with real parties in test_callcontrol.py"
    for m in ("connection.hold", "connection.resume",
              "connection.sendDigits", "contact.addConnection",
              "contact.toggleActiveConnections",
              "contact.conferenceConnections", "contact.transfer",
              "agent.mute", "agent.unmute", "agent.getEndpoints")}
UNEXERCISED_METHODS.update({
    m: "audio: exercised with the test sound card in test_audio.py"
    for m in ("audio.listDevices", "audio.setDevices", "audio.test")})
UNEXERCISED_METHODS["agent.moveToDeskPhone"] = (
    "desk phone fallback: exercised with a desk phone in test_fallback.py")
UNSEEN_EVENTS = {
    e: "call control: exercised with real parties in test_callcontrol.py"
    for e in ("agent.muteToggle",
              "contact.transferred", "contact.transferFailed")}
UNSEEN_EVENTS.update({
    e: "audio: exercised with the test sound card in test_audio.py"
    for e in ("audio.level", "audio.microphoneSilent",
              "audio.microphoneActive", "audio.error", "audio.testResult")})
UNSEEN_EVENTS.update({
    e: "desk phone fallback: exercised in test_fallback.py"
    for e in ("agent.softphoneError", "agent.deskPhoneMove")})
UNSEEN_EVENTS.update({
    e: "the PostgreSQL instance: exercised in test_instance.py"
    for e in ("store.status", "session.ended")})

# Error codes any method may return (the schema's top-level description):
# -32602 only when params is not an object.
GENERIC_ERRORS = {-32700, -32600, -32601, -32603}

CALLER = "+442071838750"

ABSENT = object()       # a request sent without params


def load_schema():
    with open(SCHEMA_PATH) as f:
        return json.load(f)


def _refs(node, path=""):
    """Every $ref in the schema document, with where it is."""
    if isinstance(node, dict):
        for k, v in node.items():
            if k == "$ref" and isinstance(v, str):
                yield path, v
            else:
                yield from _refs(v, path + "/" + k)
    elif isinstance(node, list):
        for i, v in enumerate(node):
            yield from _refs(v, "%s/%d" % (path, i))


class Schema:
    """Validators for parts of the schema, by JSON pointer."""

    def __init__(self, doc):
        self.doc = doc
        self.resolver = RefResolver.from_schema(doc)
        self._validators = {}

    def validator(self, pointer):
        v = self._validators.get(pointer)
        if v is None:
            if pointer:
                sub = {"$ref": "%s#%s" % (self.doc["$id"], pointer)}
            else:
                sub = self.doc
            v = Draft202012Validator(sub, resolver=self.resolver)
            self._validators[pointer] = v
        return v

    def problems(self, pointer, instance):
        """What is wrong with instance under #pointer, in words."""
        out = []
        for err in self.validator(pointer).iter_errors(instance):
            e = best_match([err])
            where = "/".join(str(p) for p in e.absolute_path) or "(top)"
            out.append("at %s: %s" % (where, e.message[:300]))
        return out


class CheckedClient(Client):
    """ccpd's test client that also keeps every message it receives, in
    order, and the method and params of every request it sends, so that
    all of them can be checked against the schema."""

    def __init__(self, path, timeout=10):
        self.wire = []          # every message received, in order
        self.sent = {}          # id -> (method, params)
        self.checked = 0        # how much of wire has been checked
        super().__init__(path, timeout)

    def on_message(self, msg):
        self.wire.append(msg)
        super().on_message(msg)

    def request(self, method, params=ABSENT, timeout=10):
        """As Client.request, but params=None sends "params": null; leave
        params out to send none."""
        self.next_id += 1
        msg = {"jsonrpc": "2.0", "id": self.next_id, "method": method}
        if params is not ABSENT:
            msg["params"] = params
        self.sent[self.next_id] = (method, params)
        self.sock.sendall((json.dumps(msg) + "\n").encode())
        ans = self.answer(timeout)
        assert ans.get("id") == self.next_id, ans
        return ans

    def call(self, method, params=ABSENT, timeout=10):
        ans = self.request(method, params, timeout)
        if "error" in ans:
            raise RpcError(ans["error"])
        return ans["result"]


class Checker:
    """Checks messages against the schema and counts what was covered."""

    def __init__(self, schema):
        self.schema = schema
        self.doc = schema.doc
        self.problems = []
        self.methods = {}       # method -> results checked
        self.events = {}        # event type -> events checked
        self.errors = {}        # error code -> errors checked

    def _add(self, what, msg, problems):
        for p in problems:
            self.problems.append("%s: %s\n    in %s" % (
                what, p, json.dumps(msg)[:600]))

    def check_client(self, c):
        """Check every message c received since the last check."""
        while c.checked < len(c.wire):
            msg = c.wire[c.checked]
            c.checked += 1
            self.check_message(c, msg)

    def check_message(self, c, msg):
        self._add("message", msg, self.schema.problems("", msg))
        if not isinstance(msg, dict):
            return
        if msg.get("method") == "event":
            self.check_event(msg)
        elif "result" in msg:
            self.check_result(c, msg)
        elif "error" in msg:
            self.check_error(c, msg)
        else:
            self._add("message", msg, ["neither result, error nor event"])

    def check_event(self, msg):
        params = msg.get("params") or {}
        etype = params.get("type")
        if etype not in self.doc["events"]:
            self._add("event", msg, ["type %r is not in the schema's "
                                     "events" % etype])
            return
        self._add("event %s" % etype, msg, self.schema.problems(
            "/events/%s" % etype, params.get("data")))
        self.events[etype] = self.events.get(etype, 0) + 1

    def check_result(self, c, msg):
        sent = c.sent.get(msg.get("id"))
        if sent is None:
            self._add("result", msg, ["answers no request this test sent"])
            return
        method, params = sent
        if method not in self.doc["methods"]:
            self._add("result", msg, ["method %r is not in the schema's "
                                      "methods" % method])
            return
        self._add("result of %s" % method, msg, self.schema.problems(
            "/methods/%s/result" % method, msg["result"]))
        # what ccpd accepted, the schema must accept too
        if params is not ABSENT:
                self._add("params of %s (accepted by ccpd)" % method,
                      {"params": params},
                      self.schema.problems("/methods/%s/params" % method,
                                           params))
        self.methods[method] = self.methods.get(method, 0) + 1

    def check_error(self, c, msg):
        err = msg.get("error")
        self._add("error", msg, self.schema.problems("/$defs/error", err))
        code = err.get("code") if isinstance(err, dict) else None
        self.errors[code] = self.errors.get(code, 0) + 1
        sent = c.sent.get(msg.get("id"))
        if sent is None or sent[0] not in self.doc["methods"]:
            return
        method, params = sent
        allowed = GENERIC_ERRORS | set(self.doc["methods"][method]["errors"])
        if params is not ABSENT and not isinstance(params, dict):
            allowed.add(-32602)
        if code not in allowed:
            self._add("error of %s" % method, msg,
                      ["code %s is not in methods.%s.errors %s nor generic"
                       % (code, method, sorted(allowed))])


# ---------------------------------------------------------------------------
# the schema itself, and the names it shares with the code
# ---------------------------------------------------------------------------

def test_schema_is_a_valid_2020_12_schema():
    doc = load_schema()
    assert doc["$schema"] == "https://json-schema.org/draft/2020-12/schema"
    Draft202012Validator.check_schema(doc)
    # every $ref resolves (a validator only finds a broken one when an
    # instance reaches it)
    resolver = RefResolver.from_schema(doc)
    broken = []
    for where, ref in _refs(doc):
        try:
            resolver.resolve(ref if not ref.startswith("#")
                             else doc["$id"] + ref)
        except jsonschema.RefResolutionError as e:
            broken.append("%s: %s (%s)" % (where, ref, e))
    assert not broken, "\n".join(broken)
    # methods and events are what the description promises
    for name, m in doc["methods"].items():
        assert set(m) >= {"params", "result", "errors"}, name
        for part in ("params", "result"):
            Draft202012Validator.check_schema(m[part])
        assert set(m["errors"]) <= set(doc["$defs"]["errorCode"]["enum"]), \
            name
    for etype, e in doc["events"].items():
        Draft202012Validator.check_schema(e)
    enum = doc["$defs"]["eventNotification"]["properties"]["params"][
        "properties"]["type"]["enum"]
    assert sorted(enum) == sorted(doc["events"])
    branches = doc["$defs"]["eventNotification"]["properties"]["params"][
        "allOf"]
    dispatched = {b["if"]["properties"]["type"]["const"]:
                  b["then"]["properties"]["data"]["$ref"] for b in branches}
    assert dispatched == {t: e["$ref"] for t, e in doc["events"].items()}


def _read(path):
    with open(path) as f:
        return f.read()


def _md_table_names(text, heading):
    """The backquoted names in the first column of the table under a
    '## heading' of PROTOCOL.md."""
    section = text.split("\n## %s\n" % heading, 1)[1].split("\n## ", 1)[0]
    return set(re.findall(r"^\| `([^`]+)` \|", section, re.M))


def test_schema_names_match_the_code_and_protocol_md():
    doc = load_schema()
    rpc = _read(os.path.join(TOP, "daemon", "rpc.c"))
    code_methods = set(re.findall(
        r'\{\s*"([a-zA-Z]+(?:\.[a-zA-Z]+)+)",\s*m_', rpc))
    assert code_methods, "no method table found in daemon/rpc.c"
    assert set(doc["methods"]) == code_methods

    emitted = set()
    for name in os.listdir(os.path.join(TOP, "daemon")):
        if name.endswith(".c"):
            text = _read(os.path.join(TOP, "daemon", name))
            emitted |= set(re.findall(
                r'(?:events_emit(?:_at)?\([^,]+|publish(?:_data)?\(d),\s*"([a-z]+\.[a-zA-Z]+)"',
                text))
            # the contacts' table of endings names the event each sends
            emitted |= set(re.findall(
                r'\.event = "([a-z]+\.[a-zA-Z]+)"', text))
    assert emitted, "no events_emit/publish calls found in daemon/"
    assert set(doc["events"]) == emitted

    md = _read(PROTOCOL_MD)
    assert _md_table_names(md, "Methods") == set(doc["methods"])
    assert _md_table_names(md, "Events") == set(doc["events"])


# ---------------------------------------------------------------------------
# a real session
# ---------------------------------------------------------------------------

def _client(d):
    c = CheckedClient(d.socket)
    d.clients.append(c)
    return c


def _of(cid):
    return lambda e: e["data"]["contact"]["contactId"] == cid


def _expect_error(c, code, method, params=ABSENT):
    ans = c.request(method, params)
    assert "error" in ans and ans["error"]["code"] == code, \
        (method, params, ans)
    return ans["error"]


def _queries(c, params=ABSENT):
    """The read-only methods, whatever the state."""
    for m in ("agent.getState", "agent.listStates", "agent.getConfiguration",
              "contact.list", "contact.history", "media.getStatus",
              "registration.getStatus", "daemon.getVersion",
              "daemon.listMethods", "store.getStatus"):
        c.call(m, params)


def _direct_daemon(d, customer, callee):
    """Daemon A, direct mode (no registrar), initially Offline."""
    c = _client(d)
    # before subscribing: every query, without params, with null and {}
    for params in (ABSENT, None, {}):
        _queries(c, params)
    assert c.call("registration.getStatus")["mode"] == "direct"
    assert c.call("daemon.getVersion")["name"] == "ccpd"
    # the phone: the softphone again (desk phones: test_deskphone.py)
    assert c.call("agent.setConfiguration",
                  {"softphoneEnabled": True})["softphoneEnabled"] is True
    sub = c.call("events.subscribe")
    assert sub["resync"] is False and sub["replayed"] == 0
    first_seq = sub["seq"]

    # errors of several kinds, on a connection that keeps working
    _expect_error(c, -32006, "contact.get", {"contactId": "c-999"})
    _expect_error(c, -32006, "agent.setState", {"state": "Nap"})
    _expect_error(c, -32005, "agent.connect", {"endpoint": "hello"})
    # phone numbers, in several forms, and refusals of each kind
    c.call("phone.normalize", {"number": "+44 20 7183 8750"})
    c.call("phone.normalize", {"number": "020 7183 8750", "region": "GB"})
    c.call("phone.format", {"number": "+1 201 555 0123",
                            "format": "NATIONAL"})
    c.call("phone.format", {"number": "tel:+1-201-555-0123"})
    _expect_error(c, -32005, "phone.normalize", {"number": "+44 20"})
    _expect_error(c, -32005, "phone.format", {"number": "020 7183 8750"})
    _expect_error(c, -32602, "phone.format",
                  {"number": "+44 20 7183 8750", "format": "x"})
    _expect_error(c, -32602, "phone.normalize", {"region": "GB"})
    _expect_error(c, -32003, "agent.connect",
                  {"endpoint": "sip:nobody@127.0.0.1:9"})   # Offline
    _expect_error(c, -32602, "contact.history", {"limit": 0})
    _expect_error(c, -32602, "agent.getState", [1])
    _expect_error(c, -32601, "agent.fly")
    c.send_raw(b"this is not json\n")
    assert c.answer()["error"]["code"] == -32700
    c.send_raw(b'{"jsonrpc":"1.0","id":"x","method":"agent.getState"}\n')
    assert c.answer()["error"]["code"] == -32600

    # an offer to an Offline agent is refused
    uac = peers.Sipp("uac_expect_refusal", target=d.sip_port,
                     service="agent", from_user=CALLER, from_name="Alice",
                     timeout=10)
    assert uac.run() == 0, uac.errors()
    refused = c.wait_event("contact.refused")["data"]["contact"]
    assert refused["customer"]["e164"] == CALLER
    c.wait_event("contact.destroyed", pred=_of(refused["contactId"]))
    c.call("contact.get", {"contactId": refused["contactId"]})

    c.call("agent.setState", {"state": "Available"})
    c.wait_state("Available")

    # inbound: offered, accepted, next status set and withdrawn, the
    # customer hangs up, after-contact work, cleared
    customer.dial(d.sip_uri)
    cid = c.wait_event("contact.incoming")["data"]["contact"]["contactId"]
    c.call("contact.get", {"contactId": cid})
    _expect_error(c, -32003, "contact.clear", {"contactId": cid})
    c.call("contact.accept", {"contactId": cid})
    c.wait_event("contact.connecting", pred=_of(cid))
    c.wait_event("contact.connected", pred=_of(cid))
    customer.wait_event("CALL_ESTABLISHED", 10)
    c.wait_state("Busy")
    _expect_error(c, -32003, "contact.accept", {"contactId": cid})
    assert c.call("agent.setState", {"state": "Lunch"})["next"] == "Lunch"
    assert c.call("agent.clearNextState")["next"] is None
    assert len(c.call("contact.list")) == 1
    customer.hangup()
    customer.wait_event("CALL_CLOSED", 10)
    ended = c.wait_event("contact.ended", pred=_of(cid))["data"]["contact"]
    assert ended["endReason"] == "customer_hangup"
    c.wait_event("contact.acw", pred=_of(cid))
    c.call("contact.get", {"contactId": cid})
    c.call("contact.clear", {"contactId": cid})
    c.wait_event("contact.destroyed", pred=_of(cid))
    _expect_error(c, -32003, "contact.clear", {"contactId": cid})
    c.wait_state("Available")

    # inbound, rejected
    customer.dial(d.sip_uri)
    cid = c.wait_event("contact.incoming")["data"]["contact"]["contactId"]
    c.call("contact.reject", {"contactId": cid})
    c.wait_event("contact.rejected", pred=_of(cid))
    c.wait_event("contact.destroyed", pred=_of(cid))
    customer.wait_event("CALL_CLOSED", 10)
    c.wait_state("Available")

    # inbound, the caller gives up while it rings (contact.ended with the
    # contact still incoming)
    uac = peers.Sipp("uac_cancel", target=d.sip_port, service="agent",
                     timeout=15).start()
    cid = c.wait_event("contact.incoming")["data"]["contact"]["contactId"]
    ended = c.wait_event("contact.ended", pred=_of(cid))["data"]["contact"]
    assert ended["endReason"] == "abandoned"
    c.wait_event("contact.destroyed", pred=_of(cid))
    assert uac.wait(20) == 0, uac.errors()
    c.wait_state("Available")

    # outbound, refused with 486 by SIPp.  Before the answered dial on
    # purpose: ccpd ends an agent's hangup at once, and baresip's
    # CALL_CLOSED for that call can come after the contact was cleared; a
    # dial made meanwhile takes that stale event as its own failure
    # (find_for_event binds any unknown outgoing Call-ID to the unbound
    # dial), so a dial right after an agent hangup is racy in ccpd.
    uas = peers.Sipp("uas_busy", timeout=20).start()
    uas.wait_listening()
    cid = c.call("agent.connect", {"endpoint": uas.uri})["contactId"]
    err = c.wait_event("contact.error", pred=_of(cid))["data"]["contact"]
    assert err["endReason"] == "failed" and "486" in err["sipCause"], err
    c.wait_state("FailedConnectCustomer")
    c.call("contact.get", {"contactId": cid})
    c.call("contact.clear", {"contactId": cid})
    c.wait_event("contact.destroyed", pred=_of(cid))
    assert uas.wait(20) == 0, uas.errors()
    c.wait_state("Available")

    # outbound, answered by a baresip in auto-answer mode, agent hangs up
    cid = c.call("agent.connect", {"endpoint": callee.uri})["contactId"]
    c.wait_event("contact.connecting", pred=_of(cid))
    c.wait_event("contact.connected", pred=_of(cid))
    callee.wait_event("CALL_ESTABLISHED", 10)
    c.call("contact.get", {"contactId": cid})
    c.call("connection.destroy",
           {"contactId": cid, "connectionId": cid + "-1"})
    callee.wait_event("CALL_CLOSED", 10)
    c.wait_event("contact.ended", pred=_of(cid))
    c.wait_event("contact.acw", pred=_of(cid))
    c.call("contact.clear", {"contactId": cid})
    c.wait_event("contact.destroyed", pred=_of(cid))
    c.wait_state("Available")
    c.call("contact.history", {"limit": 50})

    # subscribing with since: a replay of everything from the start, a
    # resync for another run's instance, and unsubscribing
    r = _client(d)
    r.call("events.subscribe", None)
    r.call("events.unsubscribe", {})
    res = r.call("events.subscribe", {"since": 0})
    assert res["resync"] is False and res["replayed"] == res["seq"] > 0
    res2 = r.call("events.subscribe", {"since": first_seq,
                                      "instance": res["instance"]})
    assert res2["replayed"] == res2["seq"] - first_seq
    res3 = r.call("events.subscribe", {"since": 1,
                                      "instance": "0123456789abcdef"})
    if res3["instance"] != "0123456789abcdef":
        assert res3["resync"] is True and res3["replayed"] == 0
    r.call("events.unsubscribe")
    r.call("agent.getState")    # the replays have arrived before this
    return c


def _kill_baresip(d, c):
    """baresip killed with SIGKILL while idle: media.status down, starting
    and up; a dial meanwhile is refused, never made."""
    c.call("agent.setState", {"state": "Offline"})
    c.wait_state("Offline")
    old = c.call("media.getStatus")
    assert old["state"] == "up"
    os.kill(old["pid"], signal.SIGKILL)
    c.wait_event("media.status", pred=lambda e: e["data"]["state"] == "down")
    # ccpd checks media before the agent's status: while baresip is down
    # this is -32004, once it is back -32003 (Offline), never a dial
    ans = c.request("agent.connect", {"endpoint": "sip:nobody@127.0.0.1:9"})
    assert ans["error"]["code"] in (-32004, -32003), ans
    c.call("media.getStatus")
    c.wait_event("media.status", 15,
                 pred=lambda e: e["data"]["state"] == "up")
    new = c.call("media.getStatus")
    assert new["restarts"] == old["restarts"] + 1
    assert "signal 9" in new["lastExit"], new
    c.wait_state("Offline")


def _takeover(d, c, customer):
    """Someone connects to baresip's control port mid-call: media.takeover,
    the call fails (contact.error, media_failure) and baresip restarts."""
    c.call("agent.setState", {"state": "Available"})
    c.wait_state("Available")
    customer.dial(d.sip_uri)
    cid = c.wait_event("contact.incoming")["data"]["contact"]["contactId"]
    c.call("contact.accept", {"contactId": cid})
    c.wait_event("contact.connected", pred=_of(cid))
    old = c.call("media.getStatus")
    intruder = socket.create_connection(("127.0.0.1", old["ctrlPort"]), 5)
    try:
        c.wait_event("media.takeover")
        err = c.event("contact.error", pred=_of(cid))["data"]["contact"]
        assert err["endReason"] == "media_failure"
        c.event("contact.destroyed", pred=_of(cid))
        c.wait_event("media.status", 15,
                     pred=lambda e: e["data"]["state"] == "up")
    finally:
        intruder.close()
    assert c.call("media.getStatus")["ctrlPort"] != old["ctrlPort"]
    c.wait_state("Available")


def _registrar_daemon(d, kam, caller):
    """Daemon B registers with kamailio (registration.status) and lets an
    offer ring out (ring_timeout=1: contact.missed)."""
    b = _client(d)
    # since 0 replays the registration events sent before this client came
    res = b.call("events.subscribe", {"since": 0})
    if res["snapshot"]["registration"]["state"] != "registered":
        b.wait_event("registration.status", 15,
                     pred=lambda e: e["data"]["state"] == "registered")
    reg = b.call("registration.getStatus")
    assert reg["mode"] == "registrar" and reg["state"] == "registered"
    assert "registrar" in reg
    _queries(b)
    # network.check: OPTIONS to the registrar, STUN and TURN skipped
    check = b.call("network.check")["checkId"]
    done = b.wait_event("network.checkDone", 10,
                        pred=lambda e: e["data"]["checkId"] == check)
    assert {i["name"]: i["ok"] for i in done["data"]["items"]}["sip"]

    b.wait_state("Available")
    caller.dial("sip:agent@127.0.0.1:%d" % kam.port)
    cid = b.wait_event("contact.incoming")["data"]["contact"]["contactId"]
    missed = b.wait_event("contact.missed", 5, pred=_of(cid))
    assert missed["data"]["contact"]["endReason"] == "missed"
    b.wait_event("contact.destroyed", pred=_of(cid))
    b.wait_state("MissedCallAgent")
    caller.wait_event("CALL_CLOSED", 10)
    b.call("agent.setState", {"state": "Available"})
    return b


def _instance(d):
    """Sessions, metrics and every admin method on daemon A, as root (an
    administrator by its credentials) and as users logged in on the same
    connection; test_auth.py and test_store.py go deeper."""
    c = _client(d)
    c.call("session.whoami")
    _expect_error(c, -32001, "session.changePassword",
                  {"oldPassword": "x", "newPassword": "y"})
    # statuses
    c.call("admin.statuses.list")
    c.call("admin.statuses.create", {"name": "Training"})
    c.call("admin.statuses.get", {"name": "Training"})
    c.call("admin.statuses.update", {"name": "Training",
                                     "newName": "Coaching"})
    _expect_error(c, -32602, "admin.statuses.create", {"name": "Busy"})
    _expect_error(c, -32006, "admin.statuses.get", {"name": "Nap"})
    c.call("admin.statuses.delete", {"name": "Coaching"})
    # profiles
    c.call("admin.profiles.list")
    c.call("admin.profiles.get", {"name": "Agent"})
    c.call("admin.profiles.create", {"name": "TeamLead",
                                     "permissions": ["metrics.view"],
                                     "description": "sees figures"})
    c.call("admin.profiles.update", {"name": "TeamLead",
                                     "permissions": ["metrics.view",
                                                     "metrics.viewAll"]})
    _expect_error(c, -32003, "admin.profiles.update",
                  {"name": "Admin", "permissions": []})
    # users
    c.call("admin.users.list")
    made = c.call("admin.users.create", {"username": "sam",
                                         "profile": "TeamLead"})
    otp = made["oneTimePassword"]
    c.call("admin.users.create", {"username": "ann", "profile": "Agent",
                                  "password": "ann-secret-1",
                                  "mustChangePassword": False,
                                  "displayName": "Ann Agent",
                                  "region": "GB"})
    _expect_error(c, -32003, "admin.users.create",
                  {"username": "ann", "profile": "Agent"})
    _expect_error(c, -32005, "admin.users.update",
                  {"username": "ann", "extension": "12345"})
    c.call("admin.users.get", {"username": "ann"})
    c.call("admin.users.update", {"username": "ann",
                                  "sipAccount": "sip:ann@127.0.0.1"})
    _expect_error(c, -32003, "admin.profiles.delete",
                  {"name": "TeamLead"})
    # numbers, origins, quick connects
    c.call("admin.numbers.create", {"number": "+442071838750",
                                    "username": "ann"})
    c.call("admin.numbers.create", {"number": "+442071838751",
                                    "description": "main line"})
    _expect_error(c, -32005, "admin.numbers.create", {"number": "0207"})
    c.call("admin.numbers.get", {"number": "+442071838751"})
    c.call("admin.numbers.update", {"number": "+442071838751",
                                    "description": None})
    c.call("admin.numbers.list")
    c.call("admin.origins.create", {"origin": "https://crm.example.com"})
    c.call("admin.origins.get", {"origin": "https://crm.example.com"})
    c.call("admin.origins.update", {"origin": "https://crm.example.com",
                                    "newOrigin":
                                    "https://crm.example.com:8443"})
    c.call("admin.origins.list")
    _expect_error(c, -32602, "admin.origins.create",
                  {"origin": "https://crm.example.com/path"})
    c.call("admin.origins.delete", {"origin": "https://crm.example.com:8443"})
    c.call("admin.quickConnects.create", {"name": "Support",
                                          "endpoint": "+442071838752"})
    c.call("admin.quickConnects.get", {"name": "Support"})
    c.call("admin.quickConnects.update", {"name": "Support",
                                          "endpoint": "sip:support@127.0.0.1"})
    c.call("admin.quickConnects.list")
    c.call("admin.quickConnects.delete", {"name": "Support"})
    # metrics, as root
    c.call("metrics.get")
    c.call("metrics.get", {"from": 0, "agent": "system"})
    c.call("metrics.getPrometheus")
    _expect_error(c, -32602, "metrics.get", {"from": 10, "to": 5})
    c.call("report.agents", {"from": 0, "to": 2 ** 52})
    _expect_error(c, -32602, "report.agents", {"from": 10})
    # the same connection logs in as ann: her permissions now
    c.call("session.login", {"username": "ann", "password": "ann-secret-1"})
    c.call("session.whoami")
    c.call("agent.getConfiguration")
    _expect_error(c, -32002, "admin.users.list")
    _expect_error(c, -32002, "metrics.get")
    _expect_error(c, -32002, "report.agents", {"from": 0, "to": 1})
    c.call("session.changePassword", {"oldPassword": "ann-secret-1",
                                      "newPassword": "ann-secret-2"})
    c.call("session.logout")
    _expect_error(c, -32001, "session.login",
                  {"username": "ann", "password": "wrong-password"})
    # sam: a one-time password, then his own; a session resumed on a
    # second connection
    c.call("session.login", {"username": "sam", "password": otp})
    _expect_error(c, -32001, "metrics.get")
    c.call("session.changePassword", {"oldPassword": otp,
                                      "newPassword": "sam-secret-1"})
    c.call("metrics.get", {"agent": "ann"})
    token = c.call("session.login", {"username": "sam",
                                     "password": "sam-secret-1"})["token"]
    c2 = _client(d)
    c2.call("session.resume", {"token": token})
    _expect_error(c2, -32002, "admin.numbers.list")
    c2.call("session.logout")
    c.call("session.logout")
    # removing what was made
    c.call("admin.numbers.delete", {"number": "+442071838750"})
    c.call("admin.users.delete", {"username": "sam"})
    c.call("admin.users.delete", {"username": "ann"})
    c.call("admin.profiles.delete", {"name": "TeamLead"})
    return c


def _bus_daemon(make_ccpd, server):
    """A daemon on the bus: its status, the floor, its history."""
    from nats import wait_for
    d = make_ccpd(options={"bus": server.url, "bus_heartbeat": "1"})
    c = _client(d)
    c.call("events.subscribe")
    wait_for("connected", lambda: c.call("bus.getStatus")["connected"])
    c.call("agent.setState", {"state": "Available"})
    wait_for("floor", lambda: c.call("floor.get")["ready"])
    c.wait_event("floor.changed", 10)
    wait_for("history", lambda: c.call("floor.history")["ready"])
    _expect_error(c, -32602, "floor.get", {"watch": 1})
    server.kill()
    c.wait_event("bus.status", 10,
                 lambda e: e["data"]["state"] == "disconnected")
    return d


def test_everything_ccpd_sends_matches_the_schema(make_ccpd):
    from nats import NatsServer
    schema = Schema(load_schema())
    checker = Checker(schema)
    kam = peers.Kamailio(password="s3cret").start()
    nats = NatsServer().start()
    customer = callee = caller = None
    try:
        # both daemons start at once; each must then be ready
        a = make_ccpd(wait_ready=False)
        b = make_ccpd(options={
            "sip_registrar": "sip:127.0.0.1:%d" % kam.port,
            "sip_password": "s3cret",
            "reg_interval": "60",
            "ring_timeout": "1",
            "initial_status": "Available",
        }, wait_ready=False)
        customer = peers.BaresipPeer(name="customer", tone=440).start()
        callee = peers.BaresipPeer(name="callee", tone=660,
                                   answermode="auto").start()
        caller = peers.BaresipPeer(name="caller", tone=550).start()
        a.wait_notify("READY=1", 20)
        b.wait_notify("READY=1", 20)

        clients = []
        try:
            bc = _registrar_daemon(b, kam, caller)
            clients.append(bc)
            ac = _direct_daemon(a, customer, callee)
            clients.append(ac)
            _kill_baresip(a, ac)
            _takeover(a, ac, customer)
            clients.append(_instance(a))
            e = _bus_daemon(make_ccpd, nats)
        finally:
            # an answer comes after every event sent before it: once these
            # are in, each client has received all it will be checked on
            for d in (a, b) + ((e,) if "e" in dir() else ()):
                for c in d.clients:
                    if isinstance(c, CheckedClient):
                        try:
                            c.call("agent.getState")
                        except Exception:
                            pass
                        checker.check_client(c)
    finally:
        for p in (customer, callee, caller):
            if p is not None:
                p.stop()
        kam.stop()
        nats.stop()

    assert not checker.problems, \
        "%d messages differ from the schema:\n%s" % (
            len(checker.problems), "\n".join(checker.problems[:40]))

    doc = schema.doc
    print("results:", checker.methods, "\nevents:", checker.events,
          "\nerrors:", checker.errors)
    missing = sorted(set(doc["methods"]) - set(checker.methods)
                     - set(UNEXERCISED_METHODS))
    assert not missing, "methods never answered with a result: %s" % missing
    unseen = sorted(set(doc["events"]) - set(checker.events)
                    - set(UNSEEN_EVENTS))
    assert not unseen, "event types never seen: %s" % unseen
    stale = sorted((set(UNEXERCISED_METHODS) & set(checker.methods)) |
                   (set(UNSEEN_EVENTS) & set(checker.events)))
    assert not stale, "listed as not covered, but covered: %s" % stale


def assert_events_match_schema(c):
    """Every event a test client received, checked against the schema:
    for suites that want their whole session checked at the end."""
    schema = Schema(load_schema())
    while not c.events.empty():
        c.seen.append(c.events.get())
    problems = []
    for ev in c.seen:
        problems += ["%s: %s" % (ev["type"], p) for p in schema.problems(
            "/events/%s" % ev["type"], ev["data"])]
    assert not problems, "\n".join(problems[:10])
