"""systemd integration without a running systemd: readiness and the
watchdog through NOTIFY_SOCKET, socket activation through
systemd-socket-activate, and the configuration file and -o."""

import ctypes
import ctypes.util
import os
import re
import shutil
import signal
import socket
import subprocess
import tempfile
import time

import pytest

import peers
from ccpd import CCPD, TOP, Client


def test_ready_only_once_baresip_answers_and_the_socket_listens(make_ccpd):
    d = make_ccpd()          # waits for READY=1 on NOTIFY_SOCKET
    c = d.client()           # so the socket must accept now
    assert c.call("media.getStatus")["state"] == "up"
    assert c.call("agent.getState")["state"] == "Offline"
    assert any("READY=1" in n for n in d.notices)


def test_watchdog_is_pinged_from_the_loop(make_ccpd, monkeypatch):
    monkeypatch.setenv("WATCHDOG_USEC", "200000")
    monkeypatch.delenv("WATCHDOG_PID", raising=False)
    d = make_ccpd()
    deadline = time.monotonic() + 5
    while sum("WATCHDOG=1" in n for n in d.notices) < 3:
        assert time.monotonic() < deadline, d.notices
        d.notify.settimeout(1)
        try:
            d.notices.append(d.notify.recv(4096).decode())
        except socket.timeout:
            pass


def test_socket_activation(tmp_path):
    sock = str(tmp_path / "activated.sock")
    sip = peers.free_port("sip")
    proc = subprocess.Popen(
        ["systemd-socket-activate", "-l", sock, CCPD,
         "-o", "runtime_dir=%s" % (tmp_path / "run"),
         "-o", "state_dir=%s" % (tmp_path / "state"),
         "-o", "socket=%s" % sock,
         "-o", "sip_listen=127.0.0.1:%d" % sip,
         "-o", "http_listen=off",
         "-o", "rtp_ports=%d-%d" % peers.rtp_port_block()],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "log", "wb"))
    peers._live.append(proc)
    try:
        deadline = time.monotonic() + 10
        while not os.path.exists(sock):
            assert time.monotonic() < deadline, "no socket"
            time.sleep(0.02)
        # the first connection starts ccpd, which serves it on the
        # inherited socket
        c = Client(sock)
        assert c.call("agent.getState", timeout=15)["status"] == "Offline"
        deadline = time.monotonic() + 15
        while c.call("media.getStatus")["state"] != "up":
            assert time.monotonic() < deadline
            time.sleep(0.05)
        c.close()
        log = (tmp_path / "log").read_text()
        assert "inherited socket" in log, log
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0
        # the socket belongs to the activator: ccpd must not remove it
        assert os.path.exists(sock)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        peers._live.remove(proc)


def run_ccpd(*args, timeout=10):
    return subprocess.run([CCPD] + list(args), stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, timeout=timeout)


def test_configuration_file_and_overrides(make_ccpd):
    conf = """
# an agent on break by default
initial_status = Break
statuses = Break, Lunch, Training
ring_timeout = 20   # seconds
acw_timeout = "45"
"""
    d = make_ccpd(config_text=conf, options={"ring_timeout": "7"})
    c = d.client()
    assert c.call("agent.getState")["status"] == "Break"
    cfg = c.call("agent.getConfiguration")
    assert cfg["ringTimeout"] == 7          # -o wins over the file
    assert cfg["acwTimeout"] == 45
    assert "Training" in [s["name"] for s in c.call("agent.listStates")]


def test_bad_configuration_is_a_clear_usage_error():
    with tempfile.NamedTemporaryFile("w", suffix=".conf") as f:
        f.write("ring_timeout = 10\nring_tmeout = 5\n")
        f.flush()
        r = run_ccpd("-c", f.name)
        assert r.returncode == 2
        assert "%s:2" % f.name in r.stderr
        assert "unknown setting 'ring_tmeout'" in r.stderr
    r = run_ccpd("-o", "ring_timeout=0")
    assert r.returncode == 2 and "ring_timeout" in r.stderr
    r = run_ccpd("-o", "sip_listen=nowhere")
    assert r.returncode == 2 and "ADDRESS:PORT" in r.stderr
    r = run_ccpd("-o", "noequals")
    assert r.returncode == 2
    r = run_ccpd("-c", "/nonexistent/ccpd.conf")
    assert r.returncode == 2 and "No such file" in r.stderr
    r = run_ccpd("--bogus")
    assert r.returncode == 2
    for opt, words in [
            ("statuses=Break,Busy", "'Busy' is a state of its own"),
            ("statuses=Coffee break", "not a valid name"),
            ("statuses=Lunch,Lunch", "listed twice"),
            ("initial_status=Nap", "initial_status"),
            ("sip_password=a;b", "sip_password"),
            ("sip_display_name=Bob \"X\"", "sip_display_name"),
            ("sip_registrar=127.0.0.1", "sip: URI")]:
        r = run_ccpd("-o", opt)
        assert r.returncode == 2, (opt, r.stderr)
        assert words in r.stderr, (opt, r.stderr)


def test_dump_config_shows_defaults_and_hides_the_password():
    r = run_ccpd("-o", "sip_password=hunter2", "-o", "acw_timeout=30",
                 "--dump-config")
    assert r.returncode == 0
    lines = dict(l.split(" = ", 1) for l in r.stdout.splitlines())
    assert lines["sip_listen"] == "127.0.0.1:5060"
    assert lines["ring_timeout"] == "30"
    assert lines["acw_timeout"] == "30"
    assert lines["statuses"] == "Break,Lunch"
    assert "hunter2" not in r.stdout
    r = run_ccpd("--version")
    assert r.returncode == 0 and r.stdout.startswith("ccpd ")



def test_a_second_file_wins_over_the_first(tmp_path):
    """ccpd@.service reads the shared file, then the agent's drop-in."""
    (tmp_path / "shared.conf").write_text("ring_timeout = 20\n"
                                          "acw_timeout = 30\n")
    (tmp_path / "alice.conf").write_text("sip_user = alice\n"
                                         "acw_timeout = 45\n")
    r = run_ccpd("-c", str(tmp_path / "shared.conf"),
                 "-c", str(tmp_path / "alice.conf"),
                 "-o", "acw_timeout=50", "--dump-config")
    assert r.returncode == 0, r.stderr
    lines = dict(l.split(" = ", 1) for l in r.stdout.splitlines())
    assert (lines["ring_timeout"], lines["sip_user"], lines["acw_timeout"]) \
        == ("20", "alice", "50")
    r = run_ccpd("-c", str(tmp_path / "shared.conf"),
                 "-c", str(tmp_path / "missing.conf"))
    assert r.returncode == 2 and "missing.conf: No such file" in r.stderr


def test_agent_slot_takes_its_ports_from_the_ranges():
    def dump(*opts):
        r = run_ccpd(*sum((["-o", o] for o in opts), []), "--dump-config")
        assert r.returncode == 0, r.stderr
        return dict(l.split(" = ", 1) for l in r.stdout.splitlines())

    base = dump()
    assert (base["agent_slot"], base["sip_ports"], base["http_ports"],
            base["slot_rtp_ports"]) == ("0", "5060-5459", "8780-8979", "40")
    seen = set()
    for slot in (1, 2, 3, 200):
        d = dump("agent_slot=%d" % slot)
        sip = 5060 + 2 * (slot - 1)
        rtp = 16384 + 40 * (slot - 1)
        assert d["sip_listen"] == "127.0.0.1:%d" % sip
        assert d["http_listen"] == "127.0.0.1:%d" % (8779 + slot)
        assert d["ccp_url"] == "http://127.0.0.1:%d/" % (8779 + slot)
        assert d["rtp_ports"] == "%d-%d" % (rtp, rtp + 39)
        ports = {sip, sip + 1, 8779 + slot} | set(range(rtp, rtp + 40))
        assert not ports & seen, slot
        seen |= ports
    d = dump("agent_slot=2", "sip_listen=[::1]:7000", "http_listen=off",
             "sip_ports=7000-7009", "rtp_ports=30000-30099",
             "slot_rtp_ports=50")
    assert (d["sip_listen"], d["http_listen"], d["rtp_ports"]) == \
        ("[::1]:7002", "off", "30050-30099")
    for opts, words in [
            (["agent_slot=201"], "agent_slot 201 is beyond sip_ports "
             "5060-5459: it holds 200 slots of 2 ports"),
            (["agent_slot=2", "http_ports=8780-8780"],
             "beyond http_ports 8780-8780: it holds 1 slots of 1 port"),
            (["agent_slot=3", "rtp_ports=20000-20099"],
             "beyond rtp_ports 20000-20099: it holds 2 slots of 40 ports"),
            (["agent_slot=1", "sip_ports=5060"], "sip_ports: '5060' is not "
             "a port range LOW-HIGH"),
            (["agent_slot=1", "http_ports=9-8"], "not a port range")]:
        r = run_ccpd(*sum((["-o", o] for o in opts), []))
        assert r.returncode == 2 and words in r.stderr, (opts, r.stderr)


def test_a_sip_port_in_use_stops_ccpd_with_a_clear_error(tmp_path):
    taken = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    taken.bind(("127.0.0.1", 0))
    port = taken.getsockname()[1]
    try:
        r = run_ccpd("-o", "runtime_dir=%s" % (tmp_path / "run"),
                     "-o", "state_dir=%s" % (tmp_path / "state"),
                     "-o", "http_listen=off", "-o", "agent_slot=1",
                     "-o", "sip_ports=%d-%d" % (port, port + 1),
                     timeout=20)
    finally:
        taken.close()
    assert r.returncode == 1, r.stderr
    assert ("sip_listen 127.0.0.1:%d: port %d is in use; is agent_slot 1 "
            "given to another instance too?" % (port, port)) in r.stderr


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT,
                                 signal.SIGHUP])
def test_a_signal_stops_ccpd_and_baresip_cleanly(make_ccpd, sig):
    d = make_ccpd()
    pid = d.client().call("media.getStatus")["pid"]
    d.signal(sig)
    d.stop()                 # checks exit status 0 and no sanitizer report
    assert not os.path.exists(d.socket)
    deadline = time.monotonic() + 5
    while os.path.exists("/proc/%d" % pid):
        with open("/proc/%d/stat" % pid) as f:
            if f.read().split()[2] == "Z":
                break
        assert time.monotonic() < deadline, "baresip outlived ccpd"
        time.sleep(0.02)


def test_units_pass_systemd_analyze_verify(tmp_path):
    """The units meson generates are valid for systemd (the binary path is
    pointed at this build so that ExecStart can be checked)."""
    build = os.path.dirname(CCPD)
    top = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    top = os.path.dirname(top)
    for name in ("ccpd.service", "ccpd@.service"):
        with open(os.path.join(build, name)) as f:
            text = f.read()
        lines = [("ExecStart=%s %s" % (CCPD, l.split(" ", 1)[1])
                  if l.startswith("ExecStart=") else l)
                 for l in text.splitlines()]
        (tmp_path / name).write_text("\n".join(lines) + "\n")
    with open(os.path.join(top, "contrib/systemd/ccpd.socket")) as f:
        (tmp_path / "ccpd.socket").write_text(f.read())
    r = subprocess.run(["systemd-analyze", "verify", "--man=no",
                        str(tmp_path / "ccpd.service"),
                        str(tmp_path / "ccpd.socket"),
                        str(tmp_path / "ccpd@agent1.service")],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr
    service = (tmp_path / "ccpd.service").read_text()
    for want in ("Type=notify", "WatchdogSec=", "RuntimeDirectory=ccpd",
                 "StateDirectory=ccpd", "ProtectSystem=strict",
                 "NoNewPrivileges=yes", "User=ccpd"):
        assert want in service


# --- the units' hardening ---------------------------------------------------

SYSTEMD_DIR = os.path.join(TOP, "contrib", "systemd")
UNITS = ("ccpd.service", "ccpd@.service")
needs_analyze = pytest.mark.skipif(
    shutil.which("systemd-analyze") is None,
    reason="systemd-analyze is not installed (package systemd)")


def rendered_unit(name, tmp_path, dropins=()):
    """The unit as meson renders it, with drop-ins applied: each drop-in's
    text is appended, a second [Service] section, which systemd merges the
    same way as a file in NAME.d/ (an empty assignment resets a list)."""
    with open(os.path.join(SYSTEMD_DIR, name + ".in")) as f:
        text = f.read()
    text = text.replace("@SBINDIR@", "/usr/sbin")
    text = text.replace("@SYSCONFDIR@", "/etc")
    for d in dropins:
        with open(os.path.join(SYSTEMD_DIR, d)) as f:
            # the example's allow list, with its documentation address
            text += "\n" + re.sub(r"(?m)^#(IPAddressAllow=)", r"\1", f.read())
    path = tmp_path / name
    path.write_text(text)
    return path


def exposure(path):
    r = subprocess.run(["systemd-analyze", "security", "--offline=true",
                        str(path)], capture_output=True, text=True,
                       timeout=60)
    m = re.search(r"Overall exposure level for \S+: (\d+\.\d)", r.stdout)
    assert m, r.stdout + r.stderr
    return float(m.group(1))


@needs_analyze
@pytest.mark.parametrize("name", UNITS)
def test_units_exposure_is_at_most_1_5(name, tmp_path):
    path = rendered_unit(name, tmp_path)
    assert exposure(path) <= 1.5
    # the same bound as systemd-analyze's own check (tenths of a point)
    r = subprocess.run(["systemd-analyze", "security", "--offline=true",
                        "--threshold=15", str(path)],
                       capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stdout + r.stderr


@needs_analyze
@pytest.mark.parametrize("name", UNITS)
def test_dropins_tighten_the_units(name, tmp_path):
    base = exposure(rendered_unit(name, tmp_path))
    nosound = exposure(rendered_unit(name, tmp_path, ["ccpd-nosound.conf"]))
    ipallow = exposure(rendered_unit(
        name, tmp_path, ["ccpd-ipaddress.conf.example"]))
    both = exposure(rendered_unit(
        name, tmp_path, ["ccpd-nosound.conf", "ccpd-ipaddress.conf.example"]))
    assert nosound <= 1.3 and nosound < base
    assert ipallow < base
    assert both <= 1.2 and both < nosound


def unit_settings(path):
    settings = {}
    with open(path) as f:
        for line in f:
            line = line.strip()
            if "=" in line and not line.startswith(("#", "[")):
                k, v = line.split("=", 1)
                settings.setdefault(k, []).append(v)
    return settings


@pytest.mark.parametrize("name", UNITS)
def test_units_keep_what_the_media_stack_needs(name, tmp_path):
    s = unit_settings(rendered_unit(name, tmp_path))
    families = s["RestrictAddressFamilies"][-1].split()
    # SIP and RTP, the control socket and the journal, interface listing
    for fam in ("AF_INET", "AF_INET6", "AF_UNIX", "AF_NETLINK"):
        assert fam in families
    assert "char-alsa rw" in s["DeviceAllow"]
    assert s["SupplementaryGroups"] == ["audio"]
    assert "PrivateDevices" not in s and "ProcSubset" not in s
    assert "PrivateUsers" not in s      # peer uids must stay real
    assert s["SystemCallErrorNumber"] == ["EPERM"]
    # the file limit covers the default client limits with room for
    # ccpd's own descriptors, and stays within libre's loop (fds < 1024)
    r = subprocess.run([CCPD, "--dump-config"], capture_output=True,
                       text=True, timeout=10)
    conf = dict(l.split(" = ", 1) for l in r.stdout.splitlines())
    limit = int(s["LimitNOFILE"][-1])
    assert int(conf["max_clients"]) + int(conf["ws_max_clients"]) + 64 \
        <= limit <= 1024


def syscall_filter(path):
    """The allow list the unit's SystemCallFilter= lines give, expanded
    with systemd-analyze's own groups."""
    out = subprocess.run(["systemd-analyze", "syscall-filter"],
                         capture_output=True, text=True, timeout=60).stdout
    groups, cur = {}, None
    for line in out.splitlines():
        t = line.strip()
        if not t or t.startswith("#"):
            continue
        if line.startswith("@"):
            cur = groups.setdefault(t, [])
        elif cur is not None:
            cur.append(t)

    def expand(names):
        r = set()
        for n in names:
            r |= expand(groups.get(n, [])) if n.startswith("@") else {n}
        return r
    allow = None
    for v in unit_settings(path)["SystemCallFilter"]:
        deny = v.startswith("~")
        names = expand(v.lstrip("~").split())
        if allow is None:
            assert not deny
            allow = names
        elif deny:
            allow -= names
        else:
            allow |= names
    return allow


def seccomp_like_the_unit(allow, families):
    """Load, in the child before exec, what systemd loads for the unit:
    the system call allow list (others fail with EPERM, as with
    SystemCallErrorNumber=EPERM) and the address families (others fail
    with EAFNOSUPPORT). The filter is inherited by baresip."""
    lib = ctypes.CDLL(ctypes.util.find_library("seccomp"))
    lib.seccomp_init.restype = ctypes.c_void_p
    lib.seccomp_init.argtypes = [ctypes.c_uint32]
    lib.seccomp_syscall_resolve_name.argtypes = [ctypes.c_char_p]
    lib.seccomp_rule_add_array.argtypes = [
        ctypes.c_void_p, ctypes.c_uint32, ctypes.c_int, ctypes.c_uint,
        ctypes.c_void_p]
    lib.seccomp_load.argtypes = [ctypes.c_void_p]

    class Cmp(ctypes.Structure):
        _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int),
                    ("a", ctypes.c_uint64), ("b", ctypes.c_uint64)]
    ALLOW, ERRNO = 0x7fff0000, 0x00050000
    nrs = [lib.seccomp_syscall_resolve_name(n.encode()) for n in allow]
    sock = lib.seccomp_syscall_resolve_name(b"socket")
    fams = [getattr(socket, f) for f in families]

    def load():
        ctx = lib.seccomp_init(ERRNO | 1)        # EPERM
        for nr in nrs:
            if nr >= 0 and nr != sock:
                lib.seccomp_rule_add_array(ctx, ALLOW, nr, 0, None)
        for fam in range(64):
            act = ALLOW if fam in fams else ERRNO | 97   # EAFNOSUPPORT
            cmp = Cmp(0, 4, fam, 0)                       # SCMP_CMP_EQ
            lib.seccomp_rule_add_array(ctx, act, sock, 1, ctypes.byref(cmp))
        if lib.seccomp_load(ctx) != 0:
            os._exit(120)
    return load


@needs_analyze
@pytest.mark.skipif(ctypes.util.find_library("seccomp") is None,
                    reason="libseccomp is not installed")
@pytest.mark.parametrize("name", UNITS)
def test_ccpd_and_baresip_run_under_the_units_syscall_filter(name, tmp_path):
    path = rendered_unit(name, tmp_path)
    allow = syscall_filter(path)
    for gone in ("setuid", "chown", "setrlimit", "sched_setscheduler"):
        assert gone not in allow
    families = unit_settings(path)["RestrictAddressFamilies"][-1].split()
    sock = str(tmp_path / "ccpd.sock")
    sip = peers.free_port("sip")
    http = peers.free_port("tcp")
    # LeakSanitizer, in the sanitized build, stops the world at exit with
    # calls the unit's filter refuses, and then fails the exit; the rest
    # of the suite checks for leaks
    env = dict(os.environ)
    env["ASAN_OPTIONS"] = ":".join(
        o for o in (env.get("ASAN_OPTIONS", ""), "detect_leaks=0") if o)
    proc = subprocess.Popen(
        [CCPD, "-o", "runtime_dir=%s" % (tmp_path / "run"),
         "-o", "state_dir=%s" % (tmp_path / "state"),
         "-o", "socket=%s" % sock,
         "-o", "sip_listen=127.0.0.1:%d" % sip,
         "-o", "http_listen=127.0.0.1:%d" % http,
         "-o", "rtp_ports=%d-%d" % peers.rtp_port_block()],
        stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
        stderr=open(tmp_path / "log", "wb"),
        preexec_fn=seccomp_like_the_unit(allow, families), env=env)
    peers._live.append(proc)
    try:
        deadline = time.monotonic() + 15
        while not os.path.exists(sock):
            assert proc.poll() is None, (tmp_path / "log").read_text()
            assert time.monotonic() < deadline, "no socket"
            time.sleep(0.05)
        c = Client(sock)
        while c.call("media.getStatus")["state"] != "up":
            assert time.monotonic() < deadline, (tmp_path / "log").read_text()
            time.sleep(0.05)
        # a state change goes through SQLite
        c.call("agent.setState", {"state": "Available"})
        st = c.call("agent.getState")
        assert "Available" in (st["state"], st["status"]), st
        c.close()
        with socket.create_connection(("127.0.0.1", http), timeout=5) as h:
            h.sendall(b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            assert h.recv(64).startswith(b"HTTP/1.1 ")
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(15) == 0, (tmp_path / "log").read_text()
        assert "Operation not permitted" not in (tmp_path / "log").read_text()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        peers._live.remove(proc)
