"""The media stack under failure: baresip killed mid-call, a takeover of
its control port by ccpd's own user (other users: test_takeover.py), and SIP registration with digest auth through kamailio
surviving a baresip restart."""

import os
import signal
import socket
import time

import peers
from ccpd import Ccpd


def test_baresip_killed_mid_call(agent, customer):
    c = agent.c
    c.call("agent.setState", {"state": "Available"})
    cid = c.answered_call(customer, agent.sip_uri)
    old = c.call("media.getStatus")
    assert old["state"] == "up" and old["restarts"] == 0

    os.kill(old["pid"], signal.SIGKILL)

    err = c.wait_event("contact.error")["data"]["contact"]
    assert err["contactId"] == cid
    assert err["endReason"] == "media_failure"
    assert err["disconnectedBy"] == "system"
    # Error while down, then back to the status the agent had chosen
    c.wait_event("agent.stateChange",
                 pred=lambda e: e["data"]["newState"] == "Error")
    c.wait_event("media.status", pred=lambda e: e["data"]["state"] == "down")
    assert "killed by signal 9" in c.call("media.getStatus")["lastExit"]
    c.wait_event("media.status", 15,
                 pred=lambda e: e["data"]["state"] == "up")
    c.wait_state("Available")
    new = c.call("media.getStatus")
    assert new["restarts"] == 1 and new["pid"] != old["pid"]
    assert c.call("contact.list") == []
    # a crash is not a takeover
    assert not [e for e in c.seen if e["type"] == "media.takeover"]
    hist = c.call("contact.history", {"limit": 1})[0]
    assert hist["contactId"] == cid and hist["state"] == "error"
    assert hist["endReason"] == "media_failure"

    # and it takes calls again (a SIGKILL sends no BYE: the customer's side
    # only learns by its own means, so it hangs up here)
    customer.hangup()
    customer.wait_event("CALL_CLOSED", 10)
    customer.dial(agent.sip_uri)
    cid2 = c.wait_event("contact.incoming")["data"]["contact"]["contactId"]
    assert cid2 != cid
    c.call("contact.reject", {"contactId": cid2})


def test_control_port_takeover_fails_closed(agent, customer):
    """A process of ccpd's own user gets past the guard (it could ptrace
    baresip anyway): ctrl_tcp hands it control, and ccpd kills baresip at
    once, with no grace, then starts it on a new port."""
    c = agent.c
    c.call("agent.setState", {"state": "Available"})
    c.answered_call(customer, agent.sip_uri)
    old = c.call("media.getStatus")

    # ctrl_tcp hands control to whoever connects last
    t0 = time.monotonic()
    intruder = socket.create_connection(("127.0.0.1", old["ctrlPort"]), 5)
    try:
        ev = c.wait_event("media.takeover")
        assert "takeover" in ev["data"]["reason"]
        err = c.event("contact.error")["data"]["contact"]
        assert err["endReason"] == "media_failure"
        c.event("media.status", 15,
                pred=lambda e: e["data"]["state"] == "down")
        # killed at once: no SIGTERM first, no grace
        assert time.monotonic() - t0 < 1.0
        c.wait_event("media.status", 15,
                     pred=lambda e: e["data"]["state"] == "up")
    finally:
        intruder.close()
    new = c.call("media.getStatus")
    assert "killed by signal 9" in new["lastExit"]
    assert new["pid"] != old["pid"]
    assert new["ctrlPort"] != old["ctrlPort"]
    c.wait_state("Available")
    # a SIGKILL sends no BYE: the customer hangs up on its own
    customer.hangup()
    customer.wait_event("CALL_CLOSED", 10)


def test_registration_with_digest_auth_survives_restart(make_ccpd):
    kam = peers.Kamailio(password="s3cret").start()
    try:
        d = make_ccpd(options={
            "sip_registrar": "sip:127.0.0.1:%d" % kam.port,
            "sip_password": "s3cret",
            "reg_interval": "60",
        }, wait_ready=True)
        c = d.client()
        snap = c.call("events.subscribe")["snapshot"]
        if snap["registration"]["state"] != "registered":
            c.wait_event("registration.status", 15,
                         pred=lambda e: e["data"]["state"] == "registered")
        reg = c.call("registration.getStatus")
        assert reg["mode"] == "registrar" and reg["state"] == "registered"
        assert reg["aor"] == "sip:agent@127.0.0.1:%d" % kam.port
        conf = c.call("agent.getConfiguration")
        assert conf["sipAddress"] == reg["aor"]

        os.kill(c.call("media.getStatus")["pid"], signal.SIGKILL)
        c.wait_event("registration.status", 10,
                     pred=lambda e: e["data"]["state"] != "registered")
        c.wait_event("registration.status", 30,
                     pred=lambda e: e["data"]["state"] == "registered")

        # a call routed through the registrar reaches the agent
        c.call("agent.setState", {"state": "Available"})
        caller = peers.BaresipPeer(name="caller").start()
        try:
            caller.dial("sip:agent@127.0.0.1:%d" % kam.port)
            ev = c.wait_event("contact.incoming", 15)
            c.call("contact.reject",
                   {"contactId": ev["data"]["contact"]["contactId"]})
            caller.wait_event("CALL_CLOSED", 10)
        finally:
            caller.stop()
    finally:
        kam.stop()


def test_registration_with_a_wrong_password_fails(make_ccpd):
    kam = peers.Kamailio(password="s3cret").start()
    try:
        d = make_ccpd(options={
            "sip_registrar": "sip:127.0.0.1:%d" % kam.port,
            "sip_password": "wrong",
            "reg_interval": "60",
        })
        c = d.client()
        snap = c.call("events.subscribe")["snapshot"]
        if snap["registration"]["state"] != "failed":
            c.wait_event("registration.status", 15,
                         pred=lambda e: e["data"]["state"] == "failed")
        reg = c.call("registration.getStatus")
        assert reg["state"] == "failed"
        assert "401" in reg["reason"], reg
    finally:
        kam.stop()


def test_baresip_does_not_outlive_a_killed_ccpd():
    """A ccpd killed with SIGKILL cleans nothing up; its baresip must still
    go, or it would keep the SIP port and the calls with nobody in
    control."""
    d = Ccpd()
    try:
        pid = d.client().call("media.getStatus")["pid"]
        d.proc.kill()
        assert d.proc.wait(10) == -signal.SIGKILL
        deadline = time.monotonic() + 5
        while os.path.exists("/proc/%d" % pid):
            with open("/proc/%d/stat" % pid) as f:
                if f.read().split(") ")[1].startswith("Z"):
                    break
            assert time.monotonic() < deadline, "baresip outlived ccpd"
            time.sleep(0.02)
    finally:
        if d.proc in peers._live:
            peers._live.remove(d.proc)
        for c in d.clients:
            c.close()
        d.log.close()
        d.notify.close()
