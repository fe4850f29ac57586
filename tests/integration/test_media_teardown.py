"""Tearing the control connection down from inside its own handlers.

baresip's answers arrive as netstrings that ccpd decodes in a loop; the
answer that refuses the agent's account stops baresip, which closes the
connection and used to free the decoder while the loop was still walking
its buffer (a heap use-after-free: ASan's report, or a crash on the
release build). A stand-in baresip that refuses every account plays it
again and again; ccpd must keep running, restart it with back-off, and
exit cleanly (ccpd.stop() fails on any sanitizer report)."""

import json
import os
import time

import peers

HERE = os.path.dirname(os.path.abspath(__file__))
FAKE = os.path.join(HERE, "fake_baresip.py")


def _log(path):
    try:
        with open(path) as f:
            return [json.loads(line) for line in f]
    except FileNotFoundError:
        return []


def test_refused_account_tears_down_outside_the_feed(make_ccpd):
    dir_ = peers._mkdtemp("ccpd-fake-")
    path = os.path.join(dir_, "fake.log")
    d = make_ccpd(options={"baresip": FAKE}, wait_ready=False,
                  env={"FAKE_BARESIP_LOG": path})
    # the first refusal, a restart after the back-off (0.5 s), a second
    deadline = time.monotonic() + 20
    while sum(1 for e in _log(path) if "start" in e) < 2 or \
            not [e for e in _log(path) if e.get("ok") is False][1:]:
        assert d.proc.poll() is None, \
            "ccpd died (%s):\n%s" % (d.proc.returncode, d.log_tail(80))
        assert time.monotonic() < deadline, \
            "the stand-in did not run twice:\n%s" % d.log_tail(40)
        time.sleep(0.1)
    assert d.proc.poll() is None, d.log_tail(80)
    c = d.client()
    st = c.call("media.getStatus")
    assert st["state"] != "up", st
    assert "refused the account" in d.log_text()
    refusals = [e for e in _log(path) if e.get("ok") is False]
    print("\nstand-in runs: %d, accounts refused: %d, ccpd alive"
          % (sum(1 for e in _log(path) if "start" in e), len(refusals)))
