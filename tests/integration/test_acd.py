"""The loopback contact center: ccpd publishes its agent's presence to
contrib/kamailio/acd.cfg (kamailio 5.6, presence on db_text), which
routes calls to its queue only to agents whose presence is open, moves
on after a refusal or no answer, answers 480 with Retry-After when nobody
is open, and hands the screen pop's attributes to ccpd."""

import json
import os
import signal
import sqlite3
import time

import pytest

import acd
import peers
from acd import AcdKamailio, RawInvite, header, wait_presence
from test_schema import assert_events_match_schema


def registered(c):
    snap = c.call("events.subscribe")["snapshot"]
    if snap["registration"]["state"] != "registered":
        c.wait_event("registration.status", 15,
                     pred=lambda e: e["data"]["state"] == "registered")


def start_agents(make_ccpd, k, users, **extra):
    """One ccpd per user, registered and published (closed), each with a
    subscribed client as d.c."""
    desks = []
    for u in users:
        d = make_ccpd(options=k.agent_options(u, **extra))
        d.c = d.client()
        desks.append(d)
    for d in desks:
        registered(d.c)
        d.mark = wait_presence(d, "closed")
    return desks


def stop_desks(*desks):
    """Stop the desks while their ACD still runs, so that their closing
    PUBLISH is answered."""
    for d in desks:
        d.stop()


def available(d):
    d.c.call("agent.setState", {"state": "Available"})
    d.mark = wait_presence(d, "open", d.mark)


def test_queue_routes_only_to_open_agents_with_attributes(make_ccpd):
    with AcdKamailio({"agent1": "pw-one", "agent2": "pw-two"},
                     ring_ms=3000, retry_after=17) as k:
        a1, a2 = start_agents(make_ccpd, k, ["agent1", "agent2"])

        # nobody is open: 480 at once, with Retry-After, and no desk saw
        # an offer
        inv = RawInvite(k.port, k.queue_uri)
        code, text = inv.final()
        inv.close()
        assert code == 480, text
        assert header(text, "Retry-After") == "17", text
        for d in (a1, a2):
            assert not [e for e in d.c.seen
                        if e["type"] == "contact.incoming"]

        # agent2 alone is open: the call rings there, with the screen
        # pop's attributes (markup is only text), and the customer's URI
        # without them
        available(a2)
        inv = RawInvite(k.port, k.queue_uri, from_user="+442079460000",
                        headers=[
            ("X-CCP-CustomerId", "C-1042"),
            ("X-CCP-Queue", "billing & care"),
            ("X-CCP-Note", "<img src=x onerror=alert(1)>"),
            ("User-to-User", "56a390f3d2b7310023a2;encoding=hex"),
        ])
        ev = a2.c.wait_event("contact.incoming", 10)
        contact = ev["data"]["contact"]
        assert contact["attributes"] == {
            "CustomerId": "C-1042",
            "Queue": "billing & care",
            "Note": "<img src=x onerror=alert(1)>",
            "uui": "56a390f3d2b7310023a2;encoding=hex",
        }, contact
        assert "x-ccp" not in contact["customer"]["uri"].lower(), contact
        assert contact["customer"]["e164"] == "+442079460000", contact

        # agent2 refuses; agent1 is closed: 480 to the caller
        a2.c.call("contact.reject", {"contactId": contact["contactId"]})
        code, text = inv.final()
        inv.close()
        assert code == 480 and header(text, "Retry-After") == "17", text
        assert not [e for e in a1.c.seen
                    if e["type"] == "contact.incoming"]

        # the contact record keeps the attributes
        rec = a2.c.call("contact.history", {"limit": 1})
        assert rec[0]["attributes"]["CustomerId"] == "C-1042", rec
        db = sqlite3.connect(os.path.join(a2.options["state_dir"],
                                          "ccpd.db"))
        data = [json.loads(r[0]) for r in db.execute(
            "SELECT data FROM contacts WHERE contact_id = ?",
            (contact["contactId"],))]
        db.close()
        assert data and data[-1]["attributes"]["uui"] == \
            "56a390f3d2b7310023a2;encoding=hex", data
        assert_events_match_schema(a2.c)

        # baresip 1.0.0 formats the caller's URI as a format string: the
        # ACD refuses a '%' in From, and the agent's softphone lives on
        pid = a2.c.call("media.getStatus")["pid"]
        inv = RawInvite(k.port, k.queue_uri, from_user="%n%n%s%s")
        code, text = inv.final()
        inv.close()
        assert code == 400, text
        assert a2.c.call("media.getStatus")["pid"] == pid
        stop_desks(a1, a2)


def test_next_agent_on_no_answer_then_round_robin(make_ccpd):
    ring_ms = 1500
    with AcdKamailio({"agent1": "pw-one", "agent2": "pw-two"},
                     ring_ms=ring_ms) as k:
        desks = start_agents(make_ccpd, k, ["agent1", "agent2"])
        for d in desks:
            available(d)

        # the first agent does not answer: after ring_ms the call rings
        # the other one, who refuses; nobody is left: 480
        inv = RawInvite(k.port, k.queue_uri)
        first = None
        t_first = None
        deadline = time.monotonic() + 10
        while first is None:
            for d in desks:
                try:
                    ev = d.c.wait_event("contact.incoming", 0.05)
                except AssertionError:
                    continue
                first, t_first = d, time.monotonic()
            assert time.monotonic() < deadline, "no agent rang"
        second = desks[1] if first is desks[0] else desks[0]
        ev2 = second.c.wait_event("contact.incoming", 10)
        waited = time.monotonic() - t_first
        assert ring_ms / 1000 - 0.3 <= waited <= ring_ms / 1000 + 2, waited
        # the first one's ring ended (the ACD cancelled it): that agent
        # is Available again, not charged with a missed call
        first.c.wait_event("contact.ended", 5)
        assert first.c.call("agent.getState")["state"] == "Available"
        second.c.call("contact.reject",
                      {"contactId": ev2["data"]["contact"]["contactId"]})
        code, text = inv.final()
        inv.close()
        assert code == 480, text

        # round robin: each agent takes its turn first (once both are
        # open again: the one who refused publishes open a moment later)
        for d in desks:
            wait_presence(d, "open", d.mark)
        firsts = []
        for _ in range(4):
            for d in desks:
                d.mark = len(d.log_text())
            inv = RawInvite(k.port, k.queue_uri)
            got = None
            deadline = time.monotonic() + 5
            while got is None:
                for d in desks:
                    try:
                        ev = d.c.wait_event("contact.incoming", 0.05)
                    except AssertionError:
                        continue
                    got = d
                    break
                assert time.monotonic() < deadline, "no agent rang"
            firsts.append(got.options["sip_user"])
            # the caller gives up: CANCEL, the agent's ring ends
            inv.cancel()
            code, _ = inv.final()
            inv.close()
            assert code == 487
            got.c.wait_event("contact.ended", 5)
            wait_presence(got, "open", got.mark)
        assert firsts[0] != firsts[1] and firsts[1] != firsts[2] and \
            firsts[2] != firsts[3], (firsts, [
                ln for ln in k.log_text().splitlines() if "acd:" in ln][-12:])
        stop_desks(*desks)


def test_clean_stop_closes_and_restart_republishes(make_ccpd):
    with AcdKamailio({"agent1": "pw-one"}) as k:
        (d,) = start_agents(make_ccpd, k, ["agent1"])
        available(d)

        # baresip dies and comes back: ccpd registers and publishes again
        pid = d.c.call("media.getStatus")["pid"]
        os.kill(pid, signal.SIGKILL)
        d.mark = wait_presence(d, "closed", d.mark)
        d.c.wait_event("registration.status", 30,
                       pred=lambda e: e["data"]["state"] == "registered")
        d.mark = wait_presence(d, "open", d.mark, timeout=15)
        inv = RawInvite(k.port, k.queue_uri)
        ev = d.c.wait_event("contact.incoming", 10)
        d.c.call("contact.reject",
                 {"contactId": ev["data"]["contact"]["contactId"]})
        assert inv.final()[0] == 480
        inv.close()

        # a clean stop publishes closed before it ends, and the queue
        # then answers 480 without trying the agent
        mark = len(d.log_text())
        d.stop()
        tail = d.log_text()[mark:]
        assert "presence: sip:agent1@" in tail and " is closed" in tail, tail
        inv = RawInvite(k.port, k.queue_uri)
        code, text = inv.final()
        inv.close()
        assert code == 480 and header(text, "Retry-After"), text
        assert "no agent open" in k.log_text().splitlines()[-1] or \
            "no agent open" in k.log_text()


def test_published_document_says_why_on_the_wire(make_ccpd):
    """What ccpd PUBLISHes, read off the wire: basic open only when
    Available; the RPID activity and the state's name otherwise."""
    with AcdKamailio({"agent1": "pw-one"}) as k:
        cap = acd.SipCapture(k.port).start()
        try:
            def doc(basic, activity, note):
                def pred(text):
                    if not text.startswith("PUBLISH ") or \
                            "Authorization:" not in text:
                        return False
                    body = text.split("\r\n\r\n", 1)[1]
                    return "<basic>%s</basic>" % basic in body and \
                        "<note>%s</note>" % note in body and \
                        (("<rpid:%s/>" % activity in body) if activity
                         else "<rpid:activities></rpid:activities>" in body)
                return pred

            (d,) = start_agents(make_ccpd, k, ["agent1"])
            i, text = cap.wait_for(doc("closed", "away", "Offline"))
            assert "Content-Type: application/pidf+xml" in text
            assert "Event: presence" in text
            assert "sip:agent1@127.0.0.1" in text.split("\r\n", 1)[0]
            available(d)
            i, _ = cap.wait_for(doc("open", None, "Available"), i + 1)
            inv = RawInvite(k.port, k.queue_uri)
            ev = d.c.wait_event("contact.incoming", 10)
            i, _ = cap.wait_for(doc("closed", "on-the-phone",
                                    "PendingBusy"), i + 1)
            d.c.call("contact.reject",
                     {"contactId": ev["data"]["contact"]["contactId"]})
            inv.final()
            inv.close()
            i, _ = cap.wait_for(doc("open", None, "Available"), i + 1)
            d.c.call("agent.setState", {"state": "Break"})
            i, _ = cap.wait_for(doc("closed", "away", "Break"), i + 1)
            d.stop()
            # a clean stop: closed, whatever the agent was
            cap.wait_for(doc("closed", "away", "Offline"), i + 1)
        finally:
            cap.stop()


def test_publication_is_refreshed_before_it_expires(make_ccpd):
    expires = 10
    with AcdKamailio({"agent1": "pw-one"}) as k:
        cap = acd.SipCapture(k.port).start()
        try:
            (d,) = start_agents(make_ccpd, k, ["agent1"],
                                presence_expires=str(expires))
            available(d)
            t_open = time.monotonic()
            # a refresh: the entity tag kamailio gave, and the document
            # again (kamailio 5.6 loses it on a bare refresh)
            i, text = cap.wait_for(
                lambda t: t.startswith("PUBLISH ") and
                "SIP-If-Match:" in t and "Authorization:" in t and
                "<basic>open</basic>" in t, timeout=expires + 5)
            assert "Expires: %d" % expires in text
            # past the first publication's expiry, the agent is still
            # open at the ACD: a call rings
            while time.monotonic() < t_open + expires + 1:
                time.sleep(0.1)
            inv = RawInvite(k.port, k.queue_uri)
            ev = d.c.wait_event("contact.incoming", 10)
            d.c.call("contact.reject",
                     {"contactId": ev["data"]["contact"]["contactId"]})
            inv.final()
            inv.close()
            assert not [ln for ln in d.log_text().splitlines()
                        if ln.startswith("<4>presence:")], d.log_tail()
            stop_desks(d)
        finally:
            cap.stop()


@pytest.mark.parametrize("opt, why", [
    ("presence_uri=mailto:agent@example.com", "is not a sip: URI"),
    ("presence_uri=sip:a<b>@example.com", "is not a sip: URI"),
    ("presence_expires=5", "10..86400"),
    ("presence=maybe", "neither true nor false"),
])
def test_presence_settings_are_checked(opt, why):
    import subprocess
    from ccpd import CCPD
    r = subprocess.run([CCPD, "-o", opt, "--dump-config"],
                       stdin=subprocess.DEVNULL, capture_output=True,
                       text=True, timeout=10)
    assert r.returncode != 0 and why in r.stderr, (r.returncode, r.stderr)


def test_an_agent_cannot_open_another_agents_presence(make_ccpd):
    """Only the agent may publish their own presentity: agent2's desk
    pointed at agent1's presentity is refused, and agent1 (registered,
    Offline) gets no call."""
    with AcdKamailio({"agent1": "pw-one", "agent2": "pw-two"}) as k:
        (a1,) = start_agents(make_ccpd, k, ["agent1"])
        rogue = make_ccpd(options=k.agent_options(
            "agent2", presence_uri="sip:agent1@127.0.0.1:%d" % k.port))
        rc = rogue.client()
        registered(rc)
        rc.call("agent.setState", {"state": "Available"})
        deadline = time.monotonic() + 10
        while "presence: PUBLISH of sip:agent1@" not in rogue.log_text():
            assert time.monotonic() < deadline, rogue.log_tail()
            time.sleep(0.05)
        assert "failed: 403 Publish only your own presence" in \
            rogue.log_text(), rogue.log_tail()
        inv = RawInvite(k.port, k.queue_uri)
        code, text = inv.final()
        inv.close()
        assert code == 480, text
        assert not [e for e in a1.c.seen if e["type"] == "contact.incoming"]
        stop_desks(a1, rogue)


def test_a_restarted_presence_server_gets_the_document_again(make_ccpd):
    """kamailio restarted has forgotten the publication: the next PUBLISH
    (with the old entity tag) gets 412, and ccpd publishes afresh."""
    with AcdKamailio({"agent1": "pw-one"}) as k:
        (d,) = start_agents(make_ccpd, k, ["agent1"])
        k.stop()
        k.start()
        cap = acd.SipCapture(k.port).start()
        try:
            available(d)
            i, _ = cap.wait_for(lambda t: t.startswith("PUBLISH ") and
                                "SIP-If-Match:" in t)
            cap.wait_for(lambda t: t.startswith("PUBLISH ") and
                         "SIP-If-Match:" not in t and
                         "Authorization:" in t and
                         "<basic>open</basic>" in t, i + 1)
            assert not [ln for ln in d.log_text().splitlines()
                        if ln.startswith("<4>presence:")], d.log_tail()
            stop_desks(d)
        finally:
            cap.stop()


def test_presence_follows_the_users_own_account(make_ccpd, tmp_path):
    """A user with a SIP account of their own (issue: the agent's SIP
    identity follows the agent) is the presentity while logged in: the
    queue routes to alice at this desk while she is Available; her logout
    publishes her closed, and the queue has nobody open again."""
    key = os.path.join(str(tmp_path), "sip.key")
    with open(key, "w") as f:
        f.write(os.urandom(32).hex() + "\n")
    os.chmod(key, 0o600)
    with AcdKamailio({"alice": "alice-sip-pw", "desk1": "pw-desk"},
                     ring_ms=3000, retry_after=9) as k:
        d = make_ccpd(options=k.agent_options("desk1",
                                              sip_secret_key_file=key))
        d.c = d.client()
        registered(d.c)
        mark = wait_presence(d, "closed")
        aor = "sip:alice@%s:%d" % (peers.LOOPBACK, k.port)
        d.c.call("admin.users.create", {
            "username": "alice", "profile": "Agent",
            "password": "alice-login-1", "mustChangePassword": False,
            "sipAccount": aor, "sipPassword": "alice-sip-pw"})
        a = d.client()
        a.call("events.subscribe")
        a.call("session.login", {"username": "alice",
                                 "password": "alice-login-1"})
        a.wait_event("registration.status", 15, pred=lambda e:
                     e["data"]["state"] == "registered" and
                     e["data"].get("account") == "user")
        a.call("agent.setState", {"state": "Available"})
        mark = wait_presence(d, "open", mark)
        assert "presence: publishing %s" % aor in d.log_text()

        # the queue rings alice, at this desk
        inv = RawInvite(k.port, k.queue_uri)
        offer = a.wait_event("contact.incoming", 10)
        assert offer["data"]["contact"]["state"] in ("incoming",
                                                     "connecting")
        a.call("contact.reject", {"contactId":
                                  offer["data"]["contact"]["contactId"]})
        inv.close()
        a.call("agent.setState", {"state": "Offline"})
        mark = wait_presence(d, "closed", mark)

        # she logs out: her presentity is closed, the desk's own takes
        # over (closed: nobody is Available), the queue has nobody open
        a.call("agent.setState", {"state": "Available"})
        mark = wait_presence(d, "open", mark)
        a.call("session.logout")
        wait_presence(d, "closed", mark)
        deadline = time.monotonic() + 10
        while True:
            inv = RawInvite(k.port, k.queue_uri)
            code, text = inv.final()
            inv.close()
            if code == 480 or time.monotonic() > deadline:
                break
            time.sleep(0.2)
        assert code == 480, text
        stop_desks(d)
