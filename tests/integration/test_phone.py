"""Phone numbers end to end: phone.normalize and phone.format over the
socket, numbers in several written forms dialed through the dial plan (the
Request-URI a SIPp UAS receives), dialable-country and blocked-prefix
refusals that dial nothing, the caller ID the far end sees, inbound callers
in E.164, the settings checked at start, and ccpctl's phone commands.

The numbers here are libphonenumber's example numbers for US and GB
(+1 201-555-0123, +44 20 7183 8750 ...); all traffic stays on 127.0.0.1.
"""

import subprocess

import pytest

import peers
from ccpd import CCPD, RpcError

US = "+12015550123"
US2 = "+12015550124"
GB = "+442071838750"
GB_INTL = "+44 20 7183 8750"


def phone_ccpd(make_ccpd, **options):
    opts = {"initial_status": "Available"}
    opts.update(options)
    d = make_ccpd(options=opts)
    c = d.client()
    c.call("events.subscribe")
    d.c = c
    return d


# ---- phone.normalize and phone.format ----

def test_normalize_written_forms(make_ccpd):
    d = phone_ccpd(make_ccpd, region="US")
    c = d.c
    for text, region in (("(201) 555-0123", None), ("201.555.0123", None),
                         ("+1 201 555 0123", None), ("tel:+1-201-555-0123",
                                                      None),
                         ("1-201-555-0123", None),
                         ("sip:+12015550123@carrier.example", None),
                         ("00 1 201 555 0123", "GB")):
        params = {"number": text}
        if region:
            params["region"] = region
        r = c.call("phone.normalize", params)
        assert r == {"e164": US, "international": "+1 201-555-0123",
                     "national": "(201) 555-0123", "region": "US",
                     "type": "FIXED_LINE_OR_MOBILE"}, (text, r)
    r = c.call("phone.normalize", {"number": "020 7183 8750",
                                   "region": "gb"})
    assert r["e164"] == GB and r["international"] == GB_INTL
    assert r["national"] == "020 7183 8750" and r["region"] == "GB"
    assert r["type"] == "FIXED_LINE"
    r = c.call("phone.normalize", {"number": "011 44 7400 123456"})
    assert r["e164"] == "+447400123456" and r["type"] == "MOBILE"


def test_normalize_region_defaults(make_ccpd):
    # the agent's region wins over the instance's
    d = phone_ccpd(make_ccpd, region="US", agent_region="GB")
    r = d.c.call("phone.normalize", {"number": "020 7183 8750"})
    assert r["e164"] == GB
    cfg = d.c.call("agent.getConfiguration")
    assert cfg["region"] == "GB"
    # no region anywhere: only international forms can be read
    d2 = phone_ccpd(make_ccpd)
    ans = d2.c.request("phone.normalize", {"number": "020 7183 8750"})
    assert ans["error"]["code"] == -32005
    assert "no region" in ans["error"]["data"]["reason"]
    assert d2.c.call("phone.normalize", {"number": GB_INTL})["e164"] == GB
    assert d2.c.call("agent.getConfiguration")["region"] is None


def test_normalize_refusals_say_why(make_ccpd):
    d = phone_ccpd(make_ccpd, region="US")
    c = d.c
    for text, words in (("hello", "not a number"),
                        ("+999 1234 5678", "invalid country calling code"),
                        ("+44 20", "too short"),
                        ("12", "too short"),
                        ("+44 20 7183 8750 1234 5678 9", "too long"),
                        ("+1 123 456 7890", "not valid for the region"),
                        ("+44 20 7183 8750 ext 2", "extension")):
        ans = c.request("phone.normalize", {"number": text})
        err = ans.get("error")
        assert err and err["code"] == -32005, (text, ans)
        assert err["message"] == "Invalid phone number"
        assert words in err["data"]["reason"], (text, err)
        assert text in err["data"]["reason"]
    for params in ({}, {"number": 5}, {"number": ""},
                   {"number": US, "region": "XX"},
                   {"number": US, "region": 1}):
        ans = c.request("phone.normalize", params)
        assert ans["error"]["code"] == -32602, (params, ans)


def test_format(make_ccpd):
    d = phone_ccpd(make_ccpd, region="GB")
    c = d.c
    want = {"E164": GB, "INTERNATIONAL": GB_INTL,
            "NATIONAL": "020 7183 8750", "RFC3966": "tel:+44-20-7183-8750"}
    for fmt, out in want.items():
        r = c.call("phone.format", {"number": "020 7183 8750",
                                    "format": fmt})
        assert r == {"formatted": out, "e164": GB}, (fmt, r)
    # E.164 unless told, any input form, any region
    assert c.call("phone.format", {"number": "(201) 555-0123",
                                   "region": "US"})["formatted"] == US
    ans = c.request("phone.format", {"number": GB, "format": "pretty"})
    assert ans["error"]["code"] == -32602
    ans = c.request("phone.format", {"number": "0", "format": "E164"})
    assert ans["error"]["code"] == -32005


# ---- dialing ----

def dial_and_hang_up(d, uas, endpoint):
    """Dial; return the contact and what the UAS logged about the INVITE."""
    c = d.c
    cid = c.call("agent.connect", {"endpoint": endpoint})["contactId"]
    c.wait_event("contact.connected",
                 pred=lambda e: e["data"]["contact"]["contactId"] == cid)
    c.call("connection.destroy", {"contactId": cid})
    assert uas.wait(20) == 0, uas.describe()
    contact = c.call("contact.get", {"contactId": cid})
    c.call("contact.clear", {"contactId": cid})
    c.wait_state("Available")
    return contact, uas.log_fields()


def test_written_forms_dial_e164_through_the_dial_plan(make_ccpd):
    port = peers.free_port("udp")
    d = phone_ccpd(make_ccpd, region="US",
                   dial_template="sip:{e164}@127.0.0.1:%d;user=phone" % port)
    forms = {
        "(201) 555-0123": US,                    # national, default region
        "1 201 555 0123": US,                    # with the trunk prefix
        "+1 (201) 555-0123": US,                 # international, punctuated
        "011 44 20 7183 8750": GB,               # US international prefix
        "tel:+44-20-7183-8750": GB,              # tel: URI
        "sip:+442071838750@elsewhere.example": GB,   # sip: URI of a number
    }
    for endpoint, e164 in forms.items():
        uas = peers.Sipp("uas_answer", port=port, timeout=20).start()
        uas.wait_listening()
        contact, f = dial_and_hang_up(d, uas, endpoint)
        assert f["ruri"] == "sip:%s@127.0.0.1:%d;user=phone" % (e164, port), \
            (endpoint, f)
        assert "<sip:%s@127.0.0.1:%d;user=phone>" % (e164, port) in f["to"]
        assert contact["customer"]["e164"] == e164, contact
        assert contact["customer"]["international"].startswith(
            "+" + e164[1:2]), contact
        assert contact["callerId"] is None


def test_number_template_and_national_form_of_another_region(make_ccpd):
    port = peers.free_port("udp")
    d = phone_ccpd(make_ccpd, region="US", agent_region="GB",
                   dial_template="sip:{number}@127.0.0.1:%d" % port)
    for endpoint in ("020 7183 8750", "00 44 20 7183 8750"):
        uas = peers.Sipp("uas_answer", port=port, timeout=20).start()
        uas.wait_listening()
        contact, f = dial_and_hang_up(d, uas, endpoint)
        assert f["ruri"] == "sip:442071838750@127.0.0.1:%d" % port, f
        assert contact["customer"]["e164"] == GB
        assert contact["customer"]["international"] == GB_INTL


def assert_nothing_dialed(d, uas):
    c = d.c
    assert c.call("contact.list") == []
    assert c.call("contact.history") == []
    assert not [e for e in c.seen if e["type"].startswith("contact.")]
    assert c.call("agent.getState")["state"] == "Available"
    uas.stop()
    assert "INVITE" not in uas.messages()
    assert uas.log_fields() == {}


def test_dialable_countries_and_blocked_prefixes_refuse_before_dialing(
        make_ccpd):
    uas = peers.Sipp("uas_answer", timeout=30).start()
    uas.wait_listening()
    d = phone_ccpd(make_ccpd, region="US", dialable_countries="us, CA",
                   blocked_prefixes="+1900,+1809",
                   dial_template="sip:{e164}@127.0.0.1:%d" % uas.port)
    c = d.c
    refusals = {
        GB_INTL: "not one of the dialable countries",
        "011 44 20 7183 8750": "not one of the dialable countries",
        "sip:+442071838750@127.0.0.1:%d" % uas.port:
            "not one of the dialable countries",
        "1-900-200-1234": "starts with +1900, a blocked prefix",
        "+1 809 234 5678": "not one of the dialable countries",
        "+1 123 456 7890": "not valid for the region",
        "12345": "too short",
        "hello": "not a number",
    }
    for endpoint, words in refusals.items():
        ans = c.request("agent.connect", {"endpoint": endpoint})
        err = ans.get("error")
        assert err and err["code"] == -32005, (endpoint, ans)
        assert words in err["data"]["reason"], (endpoint, err)
    assert "GB" in c.request("agent.connect", {"endpoint": GB})[
        "error"]["data"]["reason"]
    assert c.call("agent.getConfiguration")["dialableCountries"] == \
        ["US", "CA"]
    assert_nothing_dialed(d, uas)


def test_blocked_prefix_in_a_dialable_country(make_ccpd):
    uas = peers.Sipp("uas_answer", timeout=30).start()
    uas.wait_listening()
    d = phone_ccpd(make_ccpd, blocked_prefixes="+44207",
                   dial_template="sip:{e164}@127.0.0.1:%d" % uas.port)
    ans = d.c.request("agent.connect", {"endpoint": GB_INTL})
    assert ans["error"]["code"] == -32005
    assert ans["error"]["data"]["reason"] == \
        "+442071838750 starts with +44207, a blocked prefix"
    assert_nothing_dialed(d, uas)


def test_plain_sip_uris_need_allow_sip_uris(make_ccpd):
    uas = peers.Sipp("uas_answer", timeout=30).start()
    uas.wait_listening()
    d = phone_ccpd(make_ccpd, allow_sip_uris="false", region="US",
                   dial_template="sip:{e164}@127.0.0.1:%d" % uas.port)
    for uri in (uas.uri, "sip:1001@127.0.0.1:%d" % uas.port):
        ans = d.c.request("agent.connect", {"endpoint": uri})
        assert ans["error"]["code"] == -32002, ans
        assert "allow_sip_uris" in ans["error"]["data"]["reason"]
    assert_nothing_dialed(d, uas)
    # a number written as a SIP URI is still a number
    uas = peers.Sipp("uas_answer", port=uas.port, timeout=20).start()
    uas.wait_listening()
    _, f = dial_and_hang_up(d, uas, "sip:+12015550123@127.0.0.1;user=phone")
    assert f["ruri"] == "sip:%s@127.0.0.1:%d" % (US, uas.port)


def test_no_dial_plan_still_dials_sip_uris_of_numbers(make_ccpd):
    uas = peers.Sipp("uas_answer", timeout=20).start()
    uas.wait_listening()
    d = phone_ccpd(make_ccpd)
    ans = d.c.request("agent.connect", {"endpoint": GB_INTL})
    assert ans["error"]["code"] == -32005
    assert "dial_template" in ans["error"]["data"]["reason"]
    uri = "sip:+442071838750@127.0.0.1:%d" % uas.port
    contact, f = dial_and_hang_up(d, uas, uri)
    assert f["ruri"] == uri
    assert contact["customer"]["e164"] == GB


# ---- caller ID ----

def test_caller_id_reaches_the_far_end(make_ccpd):
    uas = peers.Sipp("uas_answer", timeout=20).start()
    uas.wait_listening()
    d = phone_ccpd(make_ccpd, phone_numbers="%s, %s" % (US, US2),
                   caller_id="(201) 555-0123", region="US",
                   sip_display_name="Support",
                   dial_template="sip:{e164}@127.0.0.1:%d" % uas.port)
    assert d.c.call("agent.getConfiguration")["callerId"] == US
    contact, f = dial_and_hang_up(d, uas, GB_INTL)
    assert "<sip:%s@127.0.0.1:%d>" % (US, d.sip_port) in f["from"], f
    assert '"Support"' in f["from"], f
    # baresip 1.0.0 cannot add P-Asserted-Identity (see the admin guide)
    assert f["pai"] == ""
    assert contact["callerId"] == US
    assert contact["customer"]["e164"] == GB


def test_agent_caller_id_wins_and_calls_on_both_accounts_work(
        make_ccpd, customer):
    uas = peers.Sipp("uas_answer", timeout=30).start()
    uas.wait_listening()
    d = phone_ccpd(make_ccpd, phone_numbers="%s,%s" % (US, US2),
                   caller_id=US, agent_caller_id=US2,
                   dial_template="sip:{e164}@127.0.0.1:%d" % uas.port)
    c = d.c
    cid = c.call("agent.connect", {"endpoint": GB})["contactId"]
    c.wait_event("contact.connected")
    # an inbound call meanwhile is refused through the agent's account
    uac = peers.Sipp("uac_expect_refusal", target=d.sip_port,
                     service="agent", timeout=10)
    assert uac.run() == 0, uac.errors()
    c.wait_event("contact.refused")
    # and the call on the caller-ID account still hangs up
    c.call("connection.destroy", {"contactId": cid})
    assert uas.wait(20) == 0, uas.describe()
    f = uas.log_fields()
    assert "<sip:%s@127.0.0.1:%d>" % (US2, d.sip_port) in f["from"], f
    assert c.call("contact.get", {"contactId": cid})["callerId"] == US2
    c.call("contact.clear", {"contactId": cid})
    c.wait_state("Available")
    # inbound calls to the agent are answered and hung up by the agent
    customer.dial(d.sip_uri)
    inc = c.wait_event("contact.incoming")["data"]["contact"]
    assert inc["callerId"] is None
    c.call("contact.accept", {"contactId": inc["contactId"]})
    c.wait_event("contact.connected")
    customer.wait_event("CALL_ESTABLISHED", 10)
    c.call("connection.destroy", {"contactId": inc["contactId"]})
    customer.wait_event("CALL_CLOSED", 10)
    c.wait_event("contact.acw")


# ---- inbound callers ----

def test_inbound_callers_in_e164_and_international(make_ccpd):
    d = phone_ccpd(make_ccpd, initial_status="Offline", region="GB")
    for user, e164, intl in (("02071838750", GB, GB_INTL),
                             ("+12015550123", US, "+1 201-555-0123"),
                             ("sipp", None, None),
                             ("1001", None, None)):
        uac = peers.Sipp("uac_expect_refusal", target=d.sip_port,
                         service="agent", from_user=user, timeout=10)
        assert uac.run() == 0, uac.errors()
        ev = d.c.wait_event("contact.refused")["data"]["contact"]
        assert ev["customer"]["e164"] == e164, (user, ev)
        assert ev["customer"]["international"] == intl, (user, ev)
        assert ev["customer"]["uri"].startswith("sip:%s@" % user)


# ---- settings ----

@pytest.mark.parametrize("option,words", [
    ("caller_id=12345", "caller_id"),
    ("agent_caller_id=+1 123 456 7890", "not valid for the region"),
    ("phone_numbers=+12015550123,hello", "not a number"),
    ("region=XX", "region"),
    ("agent_region=Britain", "agent_region"),
    ("dialable_countries=US,ZZ", "dialable_countries"),
    ("blocked_prefixes=1900", "blocked_prefixes"),
    ("allow_sip_uris=maybe", "allow_sip_uris"),
])
def test_bad_phone_settings_are_usage_errors(option, words):
    p = subprocess.run([CCPD, "-o", option, "--dump-config"],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 2, (option, p.stdout, p.stderr)
    assert words in p.stderr, p.stderr


def test_caller_id_must_be_one_of_the_numbers():
    p = subprocess.run([CCPD, "-o", "phone_numbers=" + US, "-o",
                        "caller_id=" + US2, "--dump-config"],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 2
    assert "not one of phone_numbers" in p.stderr
    p = subprocess.run([CCPD, "-o", "region=gb", "-o",
                        "phone_numbers=020 7183 8750, +1 201 555 0123",
                        "-o", "agent_caller_id=+1 (201) 555-0123",
                        "--dump-config"],
                       capture_output=True, text=True, timeout=10)
    assert p.returncode == 0, p.stderr
    assert "phone_numbers = %s,%s\n" % (GB, US) in p.stdout
    assert "agent_caller_id = %s\n" % US in p.stdout
    assert "region = GB\n" in p.stdout


# ---- ccpctl ----

def test_ccpctl_phone(make_ccpd):
    d = phone_ccpd(make_ccpd, region="GB")
    p = d.ctl("phone", "normalize", "020 7183 8750")
    assert p.returncode == 0, p.stderr
    lines = dict(line.split(None, 1) for line in p.stdout.splitlines())
    assert lines == {"e164": GB, "international": GB_INTL,
                     "national": "020 7183 8750", "region": "GB",
                     "type": "FIXED_LINE"}
    p = d.ctl("phone", "normalize", "(201) 555-0123", "US")
    assert p.returncode == 0 and US in p.stdout
    p = d.ctl("phone", "format", "020 7183 8750", "rfc3966")
    assert p.returncode == 0 and p.stdout == "tel:+44-20-7183-8750\n"
    p = d.ctl("--json", "phone", "format", "2015550123", "international",
              "US")
    assert p.returncode == 0
    assert '"formatted":"+1 201-555-0123"' in p.stdout.replace(" :", ":")
    p = d.ctl("phone", "normalize", "+44 20")
    assert p.returncode == 1 and "too short" in p.stderr
    for args in (("phone", "dial", GB), ("phone", "format", GB),
                 ("phone", "format", GB, "pretty"),
                 ("phone", "normalize", GB, "GB", "extra")):
        p = d.ctl(*args)
        assert p.returncode == 2, (args, p.stdout, p.stderr)


def test_caller_id_from_the_instance_numbers(make_ccpd):
    """Numbers the admin keeps in the store win over the settings: the
    instance's unassigned number is the default, a number assigned to the
    user at the desk is theirs."""
    d = phone_ccpd(make_ccpd, caller_id=US, region="US")
    c = d.c
    c.call("admin.numbers.create", {"number": US2})
    assert c.call("agent.getConfiguration")["callerId"] == US2
    # an invalid number is refused by libphonenumber, not only by its form
    err = c.request("admin.numbers.create", {"number": "+15550100000"})
    assert err["error"]["code"] == -32005, err
    uas = peers.Sipp("uas_answer", timeout=20).start()
    uas.wait_listening()
    c.call("agent.setState", {"state": "Available"})
    ans = c.call("agent.connect", {"endpoint": "sip:%s@127.0.0.1:%d" % (
        GB, uas.port)})
    c.wait_event("contact.connected",
                 pred=lambda e: e["data"]["contact"]["contactId"] ==
                 ans["contactId"])
    c.call("connection.destroy", {"contactId": ans["contactId"]})
    assert uas.wait(20) == 0, uas.describe()
    f = uas.log_fields()
    assert "<sip:%s@127.0.0.1:%d>" % (US2, d.sip_port) in f["from"], f
