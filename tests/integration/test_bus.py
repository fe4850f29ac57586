"""The bus: every agent and contact event on NATS JetStream (stream
CCP_EVENTS), the agent's snapshot in the bucket CCP_AGENTS, the floor read
back from it, and delivery without loss or duplicates through outages of
nats-server and a kill -9 of ccpd.  Real nats-server, real ccpd."""

import json
import os
import signal
import subprocess
import time

import pytest

import ccpd as ccpd_mod
import peers
from nats import NatsServer, nats_server, nats_cluster, wait_for  # noqa: F401


def bus_opts(server, **more):
    o = {"bus": server if isinstance(server, str) else server.url,
         "bus_heartbeat": "1"}
    o.update(more)
    return o


def wait_connected(c, timeout=20):
    return wait_for("bus connected",
                    lambda: c.call("bus.getStatus")["connected"], timeout)


def agent_msgs(nc, agent="agent"):
    return [m for m in nc.stream_msgs()
            if m[0].startswith("ccp.agent.%s." % agent)]


def test_events_reach_the_stream(make_ccpd, nats_server):
    d = make_ccpd(options=bus_opts(nats_server))
    c = d.client()
    c.call("events.subscribe")
    wait_connected(c)
    desk = c.call("bus.getStatus")["desk"]
    c.call("agent.setState", {"state": "Available"})
    c.wait_state("Available")
    c.call("agent.setState", {"state": "Break"})
    c.wait_state("Break")
    nc = nats_server.client()
    msgs = wait_for("three stateChange events in the stream", lambda: [
        m for m in agent_msgs(nc)
        if m[0] == "ccp.agent.agent.agent.stateChange"
        and m[2]["data"]["newState"] in ("Available", "Break")] or None)
    states = [m[2]["data"]["newState"] for m in msgs]
    assert states[-2:] == ["Available", "Break"], states
    subject, hdrs, payload = msgs[-1]
    assert payload["type"] == "agent.stateChange"
    assert payload["agent"] == "agent"
    assert payload["desk"] == desk
    assert isinstance(payload["ts"], int) and isinstance(payload["seq"], int)
    assert hdrs["Nats-Msg-Id"].startswith(desk + ":")
    # ids are unique and increase in the stream's order
    ids = [int(m[1]["Nats-Msg-Id"].rsplit(":", 1)[1]) for m in agent_msgs(nc)]
    assert ids == sorted(set(ids)), ids
    # the snapshot in the bucket
    snap = wait_for("snapshot Break", lambda: (
        lambda s: s if s and s["state"] == "Break" else None)(
            nc.kv_get("agent")))
    assert snap["desk"] == desk and snap["agent"] == "agent"
    assert snap["heartbeat"] == 1000 and snap["contacts"] == []
    seen = snap["seen"]
    wait_for("heartbeat", lambda: nc.kv_get("agent")["seen"] > seen, 5)
    st = c.call("bus.getStatus")
    assert st["state"] == "connected" and st["server"].endswith(
        ":%d" % nats_server.port)
    wait_for("nothing waiting",
             lambda: c.call("bus.getStatus")["waiting"] == 0)
    out = d.ctl("status")
    assert "bus" in out.stdout and "connected" in out.stdout, out
