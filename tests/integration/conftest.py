import os
import subprocess
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
def wire():
    """wire(peer): start capturing the RTP that reaches a BaresipPeer (an
    rtpwire.Capture); every capture is stopped at the end of the test."""
    import rtpwire
    caps = []

    def start(peer):
        caps.append(rtpwire.capture(peer))
        return caps[-1]

    yield start
    for cap in caps:
        cap.stop()


@pytest.fixture
def customer():
    p = peers.BaresipPeer(name="customer", tone=440).start()
    yield p
    p.stop()


NETNS_ENV = "CCPD_TEST_IN_NETNS"
NETNS_ADDRESS = "10.99.0.1"


def _can_unshare():
    try:
        return subprocess.run(["unshare", "-n", "true"], timeout=10,
                              capture_output=True).returncode == 0
    except (OSError, subprocess.TimeoutExpired):
        return False


@pytest.fixture
def own_netns(request):
    """Runs the test in a network namespace of its own, where lo also
    holds NETNS_ADDRESS: baresip 1.0.0's ice gathers no loopback
    candidate, and tests send traffic only to loopback or to namespaces
    they make. Outside, the fixture runs the test again in the namespace
    (a second pytest), checks that it passed and yields False: the test
    body then returns. Inside, it yields True."""
    if os.environ.get(NETNS_ENV):
        yield True
        return
    if not _can_unshare():
        pytest.skip("cannot make a network namespace (unshare -n)")
    here = os.path.dirname(os.path.abspath(__file__))
    cmd = ["unshare", "-n", "--", "sh", "-c",
           'ip link set lo up && ip addr add %s/32 dev lo && exec "$@"'
           % NETNS_ADDRESS, "sh", sys.executable, "-m", "pytest", "-q",
           "-p", "no:cacheprovider", request.node.nodeid.split("/")[-1]]
    r = subprocess.run(cmd, cwd=here, env=dict(os.environ,
                                               **{NETNS_ENV: "1"}),
                       capture_output=True, text=True, timeout=300)
    print(r.stdout[-2000:])
    assert r.returncode == 0 and " passed" in r.stdout, \
        "in a network namespace of its own:\n%s\n%s" % (
            r.stdout[-6000:], r.stderr[-2000:])
    yield False


@pytest.fixture(scope="session")
def pg_server():
    """One real PostgreSQL 15 for the session (tests/integration/pg.py);
    each test takes a fresh database with pg_server.new_database()."""
    import pg
    if not pg.available():
        pytest.skip("PostgreSQL 15 is not installed")
    srv = pg.session_server()
    yield srv
    srv.stop("fast")
