"""Metrics from the journal, end to end: an agent logs in and works through
a scripted stretch of statuses and real calls with a real baresip customer
(answered, missed, rejected, and one dialed out to a baresip that answers
by itself). The figures metrics.get gives are checked, to the millisecond,
against the times of the events the client saw, which are the times the
journal holds."""

import re
import time

import peers


def stamp(ev):
    return ev["time"]


def test_metrics_of_a_scripted_stretch(make_ccpd, customer):
    d = make_ccpd(options={"ring_timeout": "2"})
    c = d.client()
    c.call("admin.users.create", {"username": "alice", "profile": "Agent",
                                  "password": "alice-secret-1",
                                  "mustChangePassword": False})
    c.call("events.subscribe")
    c.call("session.login", {"username": "alice",
                             "password": "alice-secret-1"})
    callee = peers.BaresipPeer(name="callee", tone=660,
                               answermode="auto").start()
    try:
        start = c.call("agent.setState", {"state": "Available"})["since"]
        time.sleep(0.3)
        c.call("agent.setState", {"state": "Break"})
        time.sleep(0.4)
        c.call("agent.setState", {"state": "Available"})
        time.sleep(0.2)

        # answered, talked, wrapped up
        customer.dial(d.sip_uri)
        cid = c.wait_event("contact.incoming")["data"]["contact"][
            "contactId"]
        time.sleep(0.3)
        c.call("contact.accept", {"contactId": cid})
        c.wait_event("contact.connected")
        customer.wait_event("CALL_ESTABLISHED", 10)
        time.sleep(1.0)
        customer.hangup()
        c.wait_event("contact.acw")
        time.sleep(0.5)
        c.call("contact.clear", {"contactId": cid})
        c.wait_event("contact.destroyed")
        customer.wait_event("CALL_CLOSED", 10)

        # missed: rings out after ring_timeout
        customer.dial(d.sip_uri)
        c.wait_event("contact.incoming")
        c.wait_event("contact.missed", 10)
        customer.wait_event("CALL_CLOSED", 10)
        c.wait_state("MissedCallAgent")
        time.sleep(0.2)
        c.call("agent.setState", {"state": "Available"})

        # rejected
        customer.dial(d.sip_uri)
        cid = c.wait_event("contact.incoming")["data"]["contact"][
            "contactId"]
        time.sleep(0.2)
        c.call("contact.reject", {"contactId": cid})
        c.wait_event("contact.destroyed")
        customer.wait_event("CALL_CLOSED", 10)
        time.sleep(0.5)

        # dialed out, answered, the agent hangs up
        cid = c.call("agent.connect", {"endpoint": callee.uri})["contactId"]
        c.wait_event("contact.connected")
        callee.wait_event("CALL_ESTABLISHED", 10)
        time.sleep(0.5)
        c.call("connection.destroy", {"contactId": cid})
        c.wait_event("contact.acw")
        time.sleep(0.3)
        c.call("contact.clear", {"contactId": cid})
        c.wait_event("contact.destroyed")
        c.wait_state("Available")
        time.sleep(0.2)
        end = c.call("agent.setState", {"state": "Offline"})["since"]
        c.call("agent.getState")
    finally:
        callee.stop()

    # every event, in order
    while not c.events.empty():
        c.seen.append(c.events.get_nowait())
    events = [e for e in c.seen if e["time"] >= start]

    # expected time in each state: from each change to the next
    changes = [(stamp(e), e["data"]["newState"]) for e in events
               if e["type"] == "agent.stateChange"]
    want = {}
    for (t, st), (t2, _) in zip(changes, changes[1:] + [(end, None)]):
        want[st] = want.get(st, 0) + (t2 - t)
    want = {k: v for k, v in want.items() if v}
    # expected contact figures, from the contact events' times
    by = {}
    for e in events:
        if e["type"].startswith("contact."):
            cid = e["data"]["contact"]["contactId"]
            by.setdefault(cid, {})[e["type"][8:]] = stamp(e)
    handled = [t for t in by.values() if "connected" in t]
    handle = sorted(t["destroyed"] - t["connected"] for t in handled)
    acw = sorted(t["destroyed"] - t["ended"] for t in handled)

    # alice may not see figures; root (an administrator) may
    assert c.error("metrics.get")["data"]["permission"] == "metrics.view"
    root = d.client()
    res = root.call("metrics.get", {"from": start, "to": end,
                                    "agent": "alice"})
    assert (res["from"], res["to"]) == (start, end)
    [a] = res["agents"]
    assert a["username"] == "alice"
    assert a["timeInStateMs"] == want
    for st in ("Available", "Break", "PendingBusy", "Busy",
               "AfterContactWork", "MissedCallAgent", "CallingCustomer"):
        assert st in want, want
    # the script's sleeps, to the second
    assert abs(want["Break"] - 400) < 1000
    assert 2000 <= want["MissedCallAgent"] + want["PendingBusy"]
    assert a["contacts"] == {"offered": 3, "handled": 2, "missed": 1,
                             "rejected": 1, "refused": 0, "abandoned": 0,
                             "transferred": 0, "outbound": 1, "failed": 0}
    assert a["handleTime"] == {
        "count": 2, "totalMs": sum(handle), "maxMs": handle[-1],
        "averageMs": (sum(handle) + 1) // 2}
    assert a["acwTime"]["totalMs"] == sum(acw)
    assert a["acwTime"]["maxMs"] == acw[-1]
    assert a["holdTime"] == {"count": 2, "totalMs": 0, "averageMs": 0,
                             "maxMs": 0}
    assert abs(a["talkTime"]["maxMs"] - 1000) < 1000
    # the history is every change of the effective state
    hist = [(h["time"], h["newState"]) for h in a["history"]]
    expected, last = [], None
    for t, st in changes:
        if st != last and t < end:
            expected.append((t, st))
        last = st
    assert hist == expected

    # every user's figures: alice's and nobody else's in this range
    everyone = root.call("metrics.get", {"from": start, "to": end})
    assert [x["username"] for x in everyone["agents"]] == ["alice"]

    # the live figures, for Prometheus, since ccpd started
    text = root.call("metrics.getPrometheus")["text"]
    assert 'ccpd_agent_state{agent="alice",state="Offline"} 1\n' in text
    assert 'ccpd_contacts_total{agent="alice",outcome="handled"} 2\n' in text
    assert 'ccpd_contacts_total{agent="alice",outcome="missed"} 1\n' in text
    m = re.search(r'ccpd_contact_handle_seconds_sum\{agent="alice"\} '
                  r'([0-9.]+)\n', text)
    assert m and abs(float(m.group(1)) * 1000 - sum(handle)) < 1.5

    # and through ccpctl
    r = d.ctl("metrics", "--agent", "alice", "--from", str(start),
              "--to", str(end))
    assert r.returncode == 0, r.stderr
    assert r.stdout.startswith("alice\n")
    assert "offered 3 handled 2 missed 1 rejected 1" in r.stdout
    r = d.ctl("metrics", "--prometheus")
    assert r.returncode == 0 and "# TYPE ccpd_agent_state gauge" in r.stdout
    r = d.ctl("metrics", "--from", "yesterday")
    assert r.returncode == 2
