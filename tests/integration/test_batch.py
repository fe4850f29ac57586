"""JSON-RPC 2.0 batches, on the Unix socket and over WebSocket: the 14
examples of the specification's "Examples" section, adapted to ccpd's
methods, and the bound on a batch's size (proto/PROTOCOL.md, Transport).

The specification's subtract/update/sum/get_data become methods ccpd has
(phone.normalize, agent.setState, agent.getState, daemon.getVersion);
foobar, foo.get, notify_hello and notify_sum stay names it does not have.
ccpd's params are named, never positional: the examples with positional
params are answered with Invalid params, which the specification allows.
"""

import json
import time

import pytest

from wsconn import WebSocket
from test_ws import PASSWORD, USER, add_agent

NUMBER = "+1 202-555-0143"
E164 = "+12025550143"
MAX_BATCH = 32


@pytest.fixture(params=["unix", "ws"])
def client(request, make_ccpd):
    """A client allowed to use the CCP: root on the Unix socket, an agent
    logged in over WebSocket."""
    d = make_ccpd()
    if request.param == "unix":
        c = d.client()
    else:
        add_agent(d)
        c = WebSocket(d.http_port).start_reader()
        c.login(USER, PASSWORD)
    yield c
    c.close()


def exchange(c, text):
    """Send one message as it is; the next message back."""
    c.send_message(text)
    return c.answer()


def nothing_came_back(c):
    """No answer to what was sent: the next one is a request's of its own
    (answers come in order on a connection)."""
    time.sleep(0.2)
    assert c.answers.empty(), c.answers.get()
    return c.call("agent.getState")


def error(code, id_=None):
    """The parts of an error answer that the specification fixes."""
    return {"jsonrpc": "2.0", "id": id_, "code": code}


def shape(ans):
    """An answer reduced to what the examples compare: error or result."""
    assert ans["jsonrpc"] == "2.0"
    if "error" in ans:
        assert ans["error"]["message"] and ans["error"]["data"]["reason"]
        return {"jsonrpc": "2.0", "id": ans["id"],
                "code": ans["error"]["code"]}
    return {"jsonrpc": "2.0", "id": ans["id"], "result": ans["result"]}


def by_id(answers):
    return sorted((shape(a) for a in answers),
                  key=lambda a: json.dumps(a["id"]))


def normalized(ans):
    assert ans["result"]["e164"] == E164, ans
    return ans


def test_positional_params(client):
    """Examples 1 and 2: positional params; ccpd's are named."""
    for id_, params in ((1, [NUMBER, "US"]), (2, ["US", NUMBER])):
        ans = exchange(client, json.dumps({
            "jsonrpc": "2.0", "method": "phone.normalize", "params": params,
            "id": id_}))
        assert shape(ans) == error(-32602, id_)


def test_named_params(client):
    """Examples 3 and 4: named params, in either order."""
    normalized(exchange(client, json.dumps({
        "jsonrpc": "2.0", "method": "phone.normalize",
        "params": {"number": NUMBER, "region": "US"}, "id": 3})))
    ans = normalized(exchange(client, json.dumps({
        "jsonrpc": "2.0", "method": "phone.normalize",
        "params": {"region": "US", "number": NUMBER}, "id": 4})))
    assert ans["id"] == 4


def test_notifications(client):
    """Example 5: notifications, one of a method ccpd has and one not."""
    client.send_message('{"jsonrpc": "2.0", "method": "agent.setState", '
                        '"params": {"state": "Lunch"}}')
    client.send_message('{"jsonrpc": "2.0", "method": "foobar"}')
    assert nothing_came_back(client)["status"] == "Lunch"


def test_non_existent_method(client):
    """Example 6."""
    ans = exchange(client, '{"jsonrpc": "2.0", "method": "foobar", '
                           '"id": "1"}')
    assert shape(ans) == error(-32601, "1")


def test_invalid_json(client):
    """Example 7."""
    ans = exchange(client, '{"jsonrpc": "2.0", "method": "foobar, '
                           '"params": "bar", "baz]')
    assert shape(ans) == error(-32700)


def test_invalid_request_object(client):
    """Example 8."""
    ans = exchange(client, '{"jsonrpc": "2.0", "method": 1, '
                           '"params": "bar"}')
    assert shape(ans) == error(-32600)


def test_batch_invalid_json(client):
    """Example 9: one Parse error, not an array."""
    ans = exchange(client, '[{"jsonrpc": "2.0", "method": "phone.normalize",'
                           ' "params": {"number": "%s"}, "id": "1"},'
                           '{"jsonrpc": "2.0", "method"]' % NUMBER)
    assert shape(ans) == error(-32700)


def test_empty_array(client):
    """Example 10: one Invalid Request, not an array."""
    ans = exchange(client, "[]")
    assert shape(ans) == error(-32600)
    assert "batch" in ans["error"]["data"]["reason"]


def test_invalid_batch_not_empty(client):
    """Example 11."""
    ans = exchange(client, "[1]")
    assert isinstance(ans, list), ans
    assert [shape(a) for a in ans] == [error(-32600)]


def test_invalid_batch(client):
    """Example 12: one error for each entry."""
    ans = exchange(client, "[1,2,3]")
    assert isinstance(ans, list), ans
    assert [shape(a) for a in ans] == [error(-32600)] * 3


def test_batch(client):
    """Example 13: requests, notifications and errors mixed; one answer
    for each but the notifications, in one array."""
    ans = exchange(client, json.dumps([
        {"jsonrpc": "2.0", "method": "phone.normalize",
         "params": {"number": NUMBER, "region": "US"}, "id": "1"},
        {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]},
        {"jsonrpc": "2.0", "method": "agent.getState", "id": "2"},
        {"foo": "boo"},
        {"jsonrpc": "2.0", "method": "foo.get",
         "params": {"name": "myself"}, "id": "5"},
        {"jsonrpc": "2.0", "method": "daemon.getVersion", "id": "9"},
    ]))
    assert isinstance(ans, list), ans
    assert len(ans) == 5, ans
    got = {json.dumps(a["id"]): a for a in ans}
    assert normalized(got['"1"'])
    assert got['"2"']["result"]["state"] == "Offline"
    assert shape(got["null"]) == error(-32600)
    assert shape(got['"5"']) == error(-32601, "5")
    assert got['"9"']["result"]["name"] == "ccpd"
    # ccpd answers in the order of the batch
    assert [a["id"] for a in ans] == ["1", "2", None, "5", "9"]


def test_batch_all_notifications(client):
    """Example 14: nothing at all comes back; what the notifications
    asked for is done, in order."""
    client.send_message(json.dumps([
        {"jsonrpc": "2.0", "method": "notify_sum", "params": [1, 2, 4]},
        {"jsonrpc": "2.0", "method": "notify_hello", "params": [7]},
        {"jsonrpc": "2.0", "method": "agent.setState",
         "params": {"state": "Lunch"}},
        {"jsonrpc": "2.0", "method": "agent.setState",
         "params": {"state": "Break"}},
    ]))
    assert nothing_came_back(client)["status"] == "Break"


def test_batch_bound(client):
    """At most 32 requests in a batch; past that the whole batch is one
    Invalid Request that says so, and none of it is carried out."""
    full = [{"jsonrpc": "2.0", "method": "agent.getState", "id": i}
            for i in range(MAX_BATCH)]
    ans = exchange(client, json.dumps(full))
    assert [a["id"] for a in ans] == list(range(MAX_BATCH))
    assert all(a["result"]["state"] == "Offline" for a in ans)

    over = [{"jsonrpc": "2.0", "method": "agent.setState",
             "params": {"state": "Lunch"}, "id": i}
            for i in range(MAX_BATCH + 1)]
    ans = exchange(client, json.dumps(over))
    assert shape(ans) == error(-32600)
    assert "1 to %d" % MAX_BATCH in ans["error"]["data"]["reason"]
    assert client.call("agent.getState")["status"] == "Offline"


def test_batch_answers_follow_each_other(client):
    """A batch's entries run in order, each as if sent alone: one's
    effect is seen by the next, and a failed one stops nothing."""
    ans = exchange(client, json.dumps([
        {"jsonrpc": "2.0", "method": "agent.setState",
         "params": {"state": "Lunch"}, "id": 1},
        {"jsonrpc": "2.0", "method": "agent.setState",
         "params": {"state": 5}, "id": 2},
        {"jsonrpc": "2.0", "method": "agent.getState", "id": 3},
    ]))
    assert [shape(a)["id"] for a in ans] == [1, 2, 3]
    assert shape(ans[1]) == error(-32602, 2)
    assert ans[2]["result"]["status"] == "Lunch"
