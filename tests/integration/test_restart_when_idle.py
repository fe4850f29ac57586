"""The package's upgrade restarts ccpd only when no contact is live
(contrib/ccpd-restart-when-idle, run by the postinst).

The script asks the real ccpd with the real ccpctl; systemctl is a
stand-in on PATH that says the unit is active and records what it is
told, since systemd is not PID 1 here."""

import os
import stat
import subprocess
import time

import ccpd as ccpd_mod

SCRIPT = os.path.join(ccpd_mod.TOP, "contrib", "ccpd-restart-when-idle")


def fake_systemctl(tmp_path):
    bindir = tmp_path / "bin"
    bindir.mkdir()
    log = tmp_path / "systemctl.log"
    exe = bindir / "systemctl"
    exe.write_text("#!/bin/sh\n"
                   "echo \"$*\" >> '%s'\n"
                   "case \"$*\" in *is-active*) exit 0 ;; esac\n"
                   "exit 0\n" % log)
    exe.chmod(exe.stat().st_mode | stat.S_IXUSR)
    return bindir, log


def run_script(agent, bindir, *args, wait=False):
    env = dict(os.environ)
    env["PATH"] = "%s:%s" % (bindir, env["PATH"])
    env["CCPCTL"] = ccpd_mod.CCPCTL
    env["CCPD_SOCKET"] = agent.socket
    env["CCPD_IDLE_POLL"] = "0.2"
    cmd = [SCRIPT] + list(args)
    if wait:
        return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
    return subprocess.run(cmd, env=env, capture_output=True, text=True,
                          timeout=30)


def restarts(log):
    if not log.exists():
        return []
    return [ln for ln in log.read_text().splitlines()
            if ln.startswith("restart ")]


def test_an_idle_ccpd_is_restarted(agent, tmp_path):
    bindir, log = fake_systemctl(tmp_path)
    r = run_script(agent, bindir, "ccpd.service")
    assert r.returncode == 0, r.stdout + r.stderr
    assert restarts(log) == ["restart ccpd.service"]
    assert "no live contact" in r.stdout


def test_a_live_contact_defers_the_restart_until_it_is_over(
        agent, customer, tmp_path):
    bindir, log = fake_systemctl(tmp_path)
    agent.c.call("agent.setState", {"state": "Available"})
    agent.c.wait_state("Available")
    customer.dial(agent.sip_uri)
    cid = agent.c.wait_event("contact.incoming", 15)["data"]["contact"][
        "contactId"]

    # one pass: left alone, and it says why
    r = run_script(agent, bindir, "ccpd.service")
    assert r.returncode == 75, r.stdout + r.stderr
    assert "a contact is live; not restarted now" in r.stdout
    assert restarts(log) == []

    # waiting: still nothing while the contact is live, then the restart
    waiter = run_script(agent, bindir, "--wait", "ccpd.service", wait=True)
    try:
        time.sleep(1.0)
        assert waiter.poll() is None, waiter.stdout.read()
        assert restarts(log) == []
        agent.c.call("contact.reject", {"contactId": cid})
        agent.c.wait_event("contact.destroyed", 10)
        assert waiter.wait(15) == 0
    finally:
        if waiter.poll() is None:
            waiter.kill()
            waiter.wait()
    assert restarts(log) == ["restart ccpd.service"]
