import os
import sys

import pytest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

import ccpd as ccpd_mod  # noqa: E402
import peers  # noqa: E402


@pytest.fixture
def make_ccpd():
    """Start ccpd instances; each is stopped, and checked for a clean exit,
    at the end of the test."""
    started = []

    def make(**kw):
        d = ccpd_mod.Ccpd(**kw)
        started.append(d)
        return d

    yield make
    errors = []
    for d in started:
        try:
            d.stop()
        except AssertionError as e:
            errors.append(str(e))
    assert not errors, "\n".join(errors)


@pytest.fixture
def agent(make_ccpd):
    """A ccpd whose agent talks with an 880 Hz tone and records what it
    hears, with a subscribed client."""
    snd = peers._mkdtemp("ccpd-snd-")
    d = make_ccpd(options={"audio_source": "ausine,880", "snd_path": snd})
    d.snd_dir = snd
    c = d.client()
    c.call("events.subscribe")
    d.c = c
    return d


@pytest.fixture
def customer():
    p = peers.BaresipPeer(name="customer", tone=440).start()
    yield p
    p.stop()
