"""The control protocol on the Unix socket: bad input gets the right error
and the daemon keeps serving; events replay by sequence number."""

import json
import socket
import time

import peers
from ccpd import Client


def test_malformed_input_gets_errors_and_the_connection_survives(make_ccpd):
    d = make_ccpd()
    c = d.client()
    cases = [
        (b"this is not json\n", -32700),
        (b'{"jsonrpc":"2.0","id":1,"method":"agent.getState"} trailing\n',
         -32700),
        (b'[]\n', -32600),
        (b'"a string"\n', -32600),
        (b'{"id":1,"method":"agent.getState"}\n', -32600),
        (b'{"jsonrpc":"1.0","id":1,"method":"agent.getState"}\n', -32600),
        (b'{"jsonrpc":"2.0","id":1,"method":42}\n', -32600),
        (b'{"jsonrpc":"2.0","id":{},"method":"agent.getState"}\n', -32600),
        (b'{"jsonrpc":"2.0","id":1,"method":"agent.getState","params":[1]}\n',
         -32602),
        (b'{"jsonrpc":"2.0","id":1,"method":"agent.fly"}\n', -32601),
        (b'{"jsonrpc":"2.0","id":1,"method":"x","params":' + b'[' * 20 +
         b']' * 20 + b'}\n', -32600),
    ]
    for data, code in cases:
        c.send_raw(data)
        ans = c.answer()
        assert ans["error"]["code"] == code, (data, ans)
        assert ans["error"]["data"]["reason"], ans
        assert ans["error"]["message"]
    # the same connection still works
    assert c.call("agent.getState")["state"] == "Offline"


def test_a_line_over_64k_is_refused_and_the_next_one_served(make_ccpd):
    d = make_ccpd()
    c = d.client()
    big = b'{"jsonrpc":"2.0","id":1,"method":"agent.setState","params":' \
          b'{"state":"' + b"x" * 70000 + b'"}}\n'
    c.send_raw(big)
    ans = c.answer()
    assert ans["error"]["code"] == -32600
    assert "65536" in ans["error"]["data"]["reason"]
    # nothing of the long line was acted on, and the next line is served
    assert c.call("agent.getState")["status"] == "Offline"
    # a line of exactly the limit is still read as one message
    pad = 65536 - 1 - len(b'{"jsonrpc":"2.0","id":2,"method":"agent.getState",'
                          b'"x":""}')
    line = (b'{"jsonrpc":"2.0","id":2,"method":"agent.getState","x":"' +
            b"y" * pad + b'"}\n')
    assert len(line) == 65536
    c.send_raw(line)
    assert c.answer()["result"]["state"] == "Offline"


def test_wrong_params(make_ccpd):
    d = make_ccpd()
    c = d.client()
    for method, params in [
        ("agent.setState", None),
        ("agent.setState", {"state": 5}),
        ("agent.setState", {"state": ""}),
        ("contact.accept", {}),
        ("contact.accept", {"contactId": ["c-1"]}),
        ("agent.connect", {"endpoint": None}),
        ("agent.connect", {"endpoint": "x" * 300}),
        ("contact.history", {"limit": 0}),
        ("contact.history", {"limit": 1.5}),
        ("events.subscribe", {"since": -1}),
    ]:
        ans = c.request(method, params)
        assert ans["error"]["code"] == -32602, (method, params, ans)
        assert ans["error"]["data"]["reason"]
    assert c.call("agent.getState")["state"] == "Offline"


def test_notifications_are_not_answered(make_ccpd):
    d = make_ccpd()
    c = d.client()
    c.send_raw(b'{"jsonrpc":"2.0","method":"agent.setState",'
               b'"params":{"state":"Lunch"}}\n')
    # the next answer is for the next request, not for the notification
    assert c.call("agent.getState")["status"] == "Lunch"


def test_ids_are_echoed_exactly(make_ccpd):
    d = make_ccpd()
    c = d.client()
    for raw, want in [(b'9007199254740991', 9007199254740991),
                      (b'"abc"', "abc"), (b'null', None), (b'-3', -3)]:
        c.send_raw(b'{"jsonrpc":"2.0","id":' + raw +
                   b',"method":"agent.getState"}\n')
        assert c.answer()["id"] == want


def test_many_clients_and_abrupt_disconnects(make_ccpd):
    d = make_ccpd(options={"max_clients": "8"})
    socks = []
    for _ in range(8):
        s = socket.socket(socket.AF_UNIX)
        s.connect(d.socket)
        socks.append(s)
    extra = socket.socket(socket.AF_UNIX)
    extra.connect(d.socket)
    extra.settimeout(5)
    msg = json.loads(extra.recv(4096).split(b"\n")[0])
    assert "too many clients" in msg["error"]["data"]["reason"]
    extra.close()
    # half a request, then gone
    for s in socks:
        s.sendall(b'{"jsonrpc":"2.0","id":1,"meth')
        s.close()
    # the slots free up as ccpd sees the closes
    deadline = time.monotonic() + 5
    while True:
        c = Client(d.socket)
        try:
            ans = c.request("agent.getState", timeout=2)
        except (OSError, AssertionError):
            # refused with "too many clients" (an answer with id null),
            # or closed: the slots are not free yet
            ans = None
        c.close()
        if ans and "result" in ans:
            assert ans["result"]["state"] == "Offline"
            break
        assert time.monotonic() < deadline, ans
        time.sleep(0.05)


def test_subscribe_replays_missed_events_by_sequence(make_ccpd):
    d = make_ccpd(options={"event_buffer": "16"})
    a = d.client()
    first = a.call("events.subscribe")
    seq0 = first["seq"]
    assert first["resync"] is False and first["replayed"] == 0
    for state in ("Available", "Lunch", "Break"):
        a.call("agent.setState", {"state": state})
    got = [a.wait_event("agent.stateChange")["seq"] for _ in range(3)]
    assert got == sorted(got) and got[0] > seq0

    # a client that missed them asks with since
    b = d.client()
    res = b.call("events.subscribe", {"since": seq0})
    assert res["resync"] is False and res["replayed"] == 3
    replayed = [b.wait_event("agent.stateChange") for _ in range(3)]
    assert [e["seq"] for e in replayed] == got
    assert [e["data"]["newState"] for e in replayed] == [
        "Available", "Lunch", "Break"]
    assert res["snapshot"]["agent"]["status"] == "Break"

    # more events than the buffer holds: the client must resync
    for i in range(20):
        a.call("agent.setState", {"state": "Lunch" if i % 2 else "Break"})
    cl = d.client()
    res = cl.call("events.subscribe", {"since": seq0})
    assert res["resync"] is True and res["replayed"] == 0
    # a since from the future (a restarted daemon) also means resync
    res = cl.call("events.subscribe", {"since": res["seq"] + 1000})
    assert res["resync"] is True
    # and so does a since from another run, named by its instance
    inst = res["instance"]
    assert len(inst) == 16
    res = cl.call("events.subscribe", {"since": res["seq"],
                                       "instance": inst})
    assert res["resync"] is False
    res = cl.call("events.subscribe", {"since": 1,
                                       "instance": "0" * 16})
    assert res["resync"] is True and res["replayed"] == 0


def test_state_changes_carry_old_and_new(make_ccpd):
    d = make_ccpd()
    c = d.client()
    c.call("events.subscribe")
    before = c.call("agent.getState")
    c.call("agent.setState", {"state": "Available"})
    ev = c.wait_event("agent.stateChange")["data"]
    assert ev["oldState"] == "Offline" and ev["newState"] == "Available"
    assert ev["agent"]["type"] == "routable"
    assert ev["agent"]["since"] >= before["since"]
    states = {s["name"]: s["type"] for s in c.call("agent.listStates")}
    assert states == {"Available": "routable", "Offline": "offline",
                      "Break": "not_routable", "Lunch": "not_routable"}


def test_configuration_reports_the_sip_address(make_ccpd):
    d = make_ccpd(options={"statuses": "Training, Meeting",
                           "ring_timeout": "12"})
    c = d.client()
    conf = c.call("agent.getConfiguration")
    assert conf["sipAddress"] == d.sip_uri
    assert conf["ringTimeout"] == 12
    assert conf["softphoneEnabled"] is True
    names = [s["name"] for s in c.call("agent.listStates")]
    assert names == ["Available", "Offline", "Training", "Meeting"]
    v = c.call("daemon.getVersion")
    assert v["name"] == "ccpd" and v["protocol"] == 1


def test_events_reach_every_subscriber_during_a_call(agent, customer):
    other = agent.client()
    other.call("events.subscribe")
    agent.c.call("agent.setState", {"state": "Available"})
    customer.dial(agent.sip_uri)
    for cl in (agent.c, other):
        ev = cl.wait_event("contact.incoming")
        assert ev["data"]["contact"]["state"] == "incoming"
    # a client that disconnects mid-call changes nothing
    other.close()
    cid = ev["data"]["contact"]["contactId"]
    agent.c.call("contact.accept", {"contactId": cid})
    agent.c.wait_event("contact.connected")
    customer.hangup()
    agent.c.wait_event("contact.acw")
    peers.HarnessError  # noqa: B018 (the harness is imported for fixtures)
