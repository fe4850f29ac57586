"""Audio devices without a sound card: a HOME whose ~/.asoundrc defines
named virtual devices of the paced test card (tests/alsa/pcm_ccpdtest.c),
given to ccpd and so to its baresip. Each device records what it plays,
so a test can tell which one got the ring and which the call's audio."""

import glob
import os
import time

import pytest

import ccpd as ccpd_mod
import peers

PLUGIN = os.path.join(os.path.dirname(ccpd_mod.CCPD), "tests", "alsa",
                      "libasound_module_pcm_ccpdtest.so")

pytestmark = pytest.mark.skipif(not os.path.exists(PLUGIN),
                                reason="test sound card not built")


def write_asoundrc(home, rec, devices):
    with open(os.path.join(home, ".asoundrc"), "w") as f:
        f.write('pcm_type.ccpdtest { lib "%s" }\n' % PLUGIN)
        for name, tone in devices:
            f.write('pcm.%s { type ccpdtest record "%s/%s" tone %d '
                    'hint { show on description "Test %s" } }\n'
                    % (name, rec, name, tone, name))


def played(rec, name):
    """Bytes of non-silent audio the device has played so far."""
    n = 0
    for path in glob.glob(os.path.join(rec, name + ".*.raw")):
        with open(path, "rb") as f:
            data = f.read()
        n += sum(1 for i in range(0, len(data) - 1, 2)
                 if data[i:i + 2] != b"\0\0")
    return n


def wait_played(rec, name, timeout=10):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if played(rec, name) > 4800:
            return
        time.sleep(0.2)
    raise AssertionError("%s played nothing within %ss" % (name, timeout))


@pytest.fixture
def sound(make_ccpd):
    home = peers._mkdtemp("ccpd-home-")
    rec = peers._mkdtemp("ccpd-rec-")
    write_asoundrc(home, rec, [("headset", 880), ("speakers", 0),
                               ("bell", 0), ("deadmic", 0)])
    d = make_ccpd(options={"audio_check_interval": "1",
                           "mic_silence_timeout": "2",
                           "vu_interval": "300"},
                  env={"HOME": home})
    d.home, d.rec = home, rec
    c = d.client()
    c.call("events.subscribe")
    d.c = c
    return d


def test_list_choose_and_ring_apart(sound, customer):
    c = sound.c
    devs = c.call("audio.listDevices")
    ids = {(x["id"], x["direction"]) for x in devs["devices"]}
    assert ("headset", "capture") in ids and ("bell", "playback") in ids
    assert devs["soundCard"] is False
    res = c.call("audio.setDevices", {"microphone": "headset",
                                      "speaker": "headset",
                                      "ringer": "bell"})
    assert res["active"] == {"microphone": "headset", "speaker": "headset",
                             "ringer": "bell"}
    err = c.error("audio.setDevices", {"speaker": "nosuch"})
    assert "nosuch" in err["data"]["reason"]
    c.call("agent.setState", {"state": "Available"})
    customer.dial(sound.sip_uri)
    ev = c.wait_event("contact.incoming")
    wait_played(sound.rec, "bell")
    assert played(sound.rec, "headset") == 0, "the ring went to the headset"
    c.call("contact.accept", {"contactId": ev["data"]["contact"]["contactId"]})
    c.wait_event("contact.connected")
    wait_played(sound.rec, "headset")
    bell = played(sound.rec, "bell")
    # the level meter
    lv = c.wait_event("audio.level", 10)
    assert lv["data"]["direction"] in ("microphone", "speaker")
    # switch the speaker mid-call: the call's audio moves
    c.call("audio.setDevices", {"speaker": "speakers"})
    wait_played(sound.rec, "speakers")
    time.sleep(1)
    assert played(sound.rec, "bell") <= bell + 9600, "call audio on bell"


def test_fallback_and_return(sound):
    c = sound.c
    c.call("audio.setDevices", {"speaker": "speakers"})
    write_asoundrc(sound.home, sound.rec, [("headset", 880)])
    ev = c.wait_event("audio.devices", 10,
                      lambda e: e["data"]["fallback"])
    assert ev["data"]["active"]["speaker"] is None
    assert ev["data"]["chosen"]["speaker"] == "speakers"
    write_asoundrc(sound.home, sound.rec, [("headset", 880),
                                           ("speakers", 0)])
    ev = c.wait_event("audio.devices", 10,
                      lambda e: e["data"]["active"]["speaker"] == "speakers")


def test_microphone_check(sound):
    c = sound.c
    c.call("audio.setDevices", {"microphone": "headset",
                                "speaker": "speakers"})
    res = c.call("audio.test")
    ev = c.wait_event("audio.testResult", res["durationMs"] / 1000 + 10)
    assert ev["data"]["ok"] and not ev["data"]["silent"]
    assert ev["data"]["peak"] > -20, ev["data"]
    assert len(ev["data"]["levels"]) >= 20
    wait_played(sound.rec, "speakers")
    c.call("audio.setDevices", {"microphone": "deadmic"})
    c.call("audio.test")
    ev = c.wait_event("audio.testResult", 15)
    assert ev["data"]["silent"], ev["data"]


def test_silent_microphone_in_a_call(sound, customer):
    c = sound.c
    c.call("audio.setDevices", {"microphone": "deadmic",
                                "speaker": "speakers"})
    c.call("agent.setState", {"state": "Available"})
    c.answered_call(customer, sound.sip_uri)
    ev = c.wait_event("audio.microphoneSilent", 15)
    assert ev["data"]["microphone"] == "deadmic"


def test_no_sound_card_is_reported(make_ccpd):
    home = peers._mkdtemp("ccpd-home-")
    d = make_ccpd(env={"HOME": home})
    c = d.client()
    res = c.call("audio.listDevices")
    assert res["soundCard"] is False and res["devices"] == []
    err = c.error("audio.test")
    assert "no sound card" in err["data"]["reason"]


def test_ccpctl_audio_devices_set_and_test(sound):
    r = sound.ctl("audio", "devices")
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == "no sound card"
    assert lines[1].split() == ["DEVICE", "DIRECTION", "DESCRIPTION"]
    rows = {(ln.split()[0], ln.split()[1]) for ln in lines[2:]
            if ln.split()[1] in ("capture", "playback")}
    assert ("headset", "capture") in rows and ("bell", "playback") in rows
    assert "speaker    chosen default, active default" in lines

    r = sound.ctl("audio", "set", "microphone=headset", "speaker=speakers",
                  "ringer=bell")
    assert r.returncode == 0, r.stderr
    assert "microphone chosen headset, active headset" in r.stdout
    assert "speaker    chosen speakers, active speakers" in r.stdout
    assert "ringer     chosen bell, active bell" in r.stdout
    assert sound.c.call("audio.listDevices")["active"]["ringer"] == "bell"

    r = sound.ctl("audio", "set", "speaker=nosuch")
    assert r.returncode != 0 and "nosuch" in r.stderr, (r.stdout, r.stderr)
    r = sound.ctl("audio", "set", "volume=3")
    assert r.returncode == 2, (r.stdout, r.stderr)

    r = sound.ctl("--timeout", "20", "audio", "test", timeout=30)
    assert r.returncode == 0, (r.stdout, r.stderr)
    out = dict(ln.split(None, 1) for ln in r.stdout.splitlines())
    assert out["result"] == "ok" and out["silent"] == "no", r.stdout
    assert out["microphone"] == "headset"
    assert out["peak"].endswith("dBFS") and float(out["peak"].split()[0]) > -20
    assert len(out["levels"].split()) >= 20

    sound.c.call("audio.setDevices", {"microphone": "deadmic"})
    r = sound.ctl("--timeout", "20", "--json", "audio", "test", timeout=30)
    import json
    res = json.loads(r.stdout)
    assert res["silent"], res
    assert r.returncode == (0 if res["ok"] else 1)
