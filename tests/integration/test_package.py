"""The Debian package, for real: dpkg-buildpackage in a copy of the tree,
lintian, the package unpacked into a fresh root with the essential parts of
its maintainer scripts run there (the ccpd user from sysusers.d, the
directories from tmpfiles.d), systemd-analyze verify on the installed
units, and the packaged ccpd started with its units' command lines (systemd
is not PID 1 here) answering ccpctl, one desk and two agents side by side.

The build takes about a minute on one core; it is done once per run."""

import json
import os
import random
import re
import shutil
import signal
import socket
import subprocess
import time
import urllib.request

import pytest

import peers

TOP = os.path.dirname(os.path.dirname(os.path.dirname(
    os.path.abspath(__file__))))
TOOLS = ("dpkg-buildpackage", "dh", "lintian", "dpkg-deb",
         "systemd-sysusers", "systemd-tmpfiles", "systemd-analyze")
BUILD_TIMEOUT = 900


def _missing_tools():
    return [t for t in TOOLS if not shutil.which(t)]


pytestmark = pytest.mark.skipif(
    bool(_missing_tools()),
    reason="needs %s (apt-get install debhelper lintian dpkg-dev systemd)"
    % ", ".join(_missing_tools()))


def _copy_tree(dest):
    """The tree as git sees it (tracked and new files, no build trees), or
    without git every file but the build trees."""
    skip = ("build", "obj-", ".git", "node_modules")
    r = subprocess.run(
        ["git", "-C", TOP, "ls-files", "-z", "-co", "--exclude-standard"],
        capture_output=True) if shutil.which("git") else None
    if r is None or r.returncode != 0:
        shutil.copytree(TOP, dest, symlinks=True, ignore=lambda d, names: [
            n for n in names if d == TOP and n.startswith(skip)] +
            [n for n in names if n == "node_modules"])
        return
    files = r.stdout.split(b"\0")
    for f in files:
        f = f.decode()
        if not f or f.startswith(skip) or \
                not os.path.lexists(os.path.join(TOP, f)):
            continue
        os.makedirs(os.path.join(dest, os.path.dirname(f)), exist_ok=True)
        shutil.copy2(os.path.join(TOP, f), os.path.join(dest, f),
                     follow_symlinks=False)


@pytest.fixture(scope="module")
def package(tmp_path_factory):
    """Build once: {"dir", "deb", "changes", "root"} with the .deb
    unpacked into root and its users and directories made there."""
    work = tmp_path_factory.mktemp("deb")
    src = work / "ccpd"
    _copy_tree(str(src))
    env = dict(os.environ, DEB_BUILD_OPTIONS="parallel=1",
               LC_ALL="C.UTF-8")
    with open(work / "build.log", "wb") as log:
        r = subprocess.run(["dpkg-buildpackage", "-us", "-uc", "-b"],
                           cwd=src, env=env, stdin=subprocess.DEVNULL,
                           stdout=log, stderr=subprocess.STDOUT,
                           timeout=BUILD_TIMEOUT)
    tail = (work / "build.log").read_text(errors="replace")[-3000:]
    assert r.returncode == 0, tail
    debs = [p for p in work.glob("ccpd_*.deb")]
    changes = list(work.glob("ccpd_*.changes"))
    assert len(debs) == 1 and len(changes) == 1, list(work.iterdir())
    root = work / "root"
    subprocess.run(["dpkg-deb", "-x", str(debs[0]), str(root)], check=True)
    subprocess.run(["dpkg-deb", "-e", str(debs[0]), str(root / "DEBIAN")],
                   check=True)
    # what the postinst's debhelper snippets do, confined to the root
    for cmd in (["systemd-sysusers", "--root=%s" % root],
                ["systemd-tmpfiles", "--create", "--root=%s" % root]):
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, (cmd, r.stdout, r.stderr)
    return {"dir": work, "deb": debs[0], "changes": changes[0],
            "root": root}


def test_lintian_reports_nothing_unexplained(package):
    """No error, warning or info that debian/ccpd.lintian-overrides does
    not explain (overridden tags are not printed)."""
    r = subprocess.run(["lintian", "--display-info", "--fail-on",
                        "error,warning", str(package["changes"])],
                       capture_output=True, text=True, timeout=600)
    tags = [l for l in (r.stdout + r.stderr).splitlines()
            if re.match(r"[EWIXP]: ", l)]
    assert r.returncode == 0 and not tags, r.stdout + r.stderr


def _root(package, path):
    return os.path.join(str(package["root"]), path.lstrip("/"))


def test_files_user_and_directories(package):
    for path in ("/usr/sbin/ccpd", "/usr/bin/ccpctl",
                 "/usr/libexec/ccpd/ccpd-restart-when-idle"):
        assert os.access(_root(package, path), os.X_OK), path
    for path in ("/lib/systemd/system/ccpd.service",
                 "/lib/systemd/system/ccpd.socket",
                 "/lib/systemd/system/ccpd@.service",
                 "/usr/lib/sysusers.d/ccpd.conf",
                 "/usr/lib/tmpfiles.d/ccpd.conf",
                 "/usr/share/ccpd/web/index.html",
                 "/usr/share/ccpd/web/ccp.js",
                 "/usr/share/man/man8/ccpd.8.gz",
                 "/usr/share/man/man5/ccpd.conf.5.gz",
                 "/usr/share/man/man1/ccpctl.1.gz",
                 "/usr/share/doc/ccpd/copyright"):
        assert os.path.isfile(_root(package, path)), path
    assert os.path.isdir(_root(package, "/etc/ccpd/agents"))
    ctl = _root(package, "/DEBIAN/")
    with open(ctl + "conffiles") as f:
        assert f.read().split() == ["/etc/ccpd/ccpd.conf"]
    with open(ctl + "control") as f:
        control = f.read()
    depends = re.search(r"^Depends: (.*)$", control, re.M).group(1)
    assert "baresip-core" in depends and "libre0" in depends, depends

    # every setting of ccpd is in the conffile, commented out at its
    # default: uncommented, the file changes nothing
    conf = _root(package, "/etc/ccpd/ccpd.conf")
    with open(conf) as f:
        lines = f.read().splitlines()
    assert not [l for l in lines if l.strip() and not l.startswith("#")]
    shown = {m.group(1): m.group(2) for m in
             (re.match(r"#([a-z_]+) = ?(.*)$", l) for l in lines) if m}
    ccpd = _root(package, "/usr/sbin/ccpd")
    dirs = ["-o", "runtime_dir=/nonexistent", "-o", "state_dir=/nonexistent"]
    dump = subprocess.run([ccpd, "--dump-config"] + dirs, capture_output=True,
                          text=True, timeout=10, check=True).stdout
    defaults = dict(l.split(" = ", 1) for l in dump.splitlines())
    assert sorted(shown) == sorted(defaults)
    for name, value in shown.items():
        if name not in ("ccp_url", "socket", "runtime_dir", "state_dir",
                        "database", "web_root"):
            assert value == defaults[name], (name, value, defaults[name])

    # the ccpd user, in the audio group, and its directories
    with open(_root(package, "/etc/passwd")) as f:
        user = [l.split(":") for l in f if l.startswith("ccpd:")]
    assert len(user) == 1 and user[0][5] == "/var/lib/ccpd", user
    uid, gid = int(user[0][2]), int(user[0][3])
    assert uid < 1000 and user[0][6].strip().endswith("nologin")
    with open(_root(package, "/etc/group")) as f:
        audio = [l.strip().split(":") for l in f if l.startswith("audio:")]
    assert audio and "ccpd" in audio[0][3].split(","), audio
    for path, mode in (("/var/lib/ccpd", 0o750), ("/run/ccpd", 0o755)):
        st = os.stat(_root(package, path))
        assert (st.st_uid, st.st_gid, st.st_mode & 0o7777) == \
            (uid, gid, mode), path


def test_maintainer_scripts(package):
    """Installing enables and starts ccpd.socket and ccpd.service and makes
    the user and directories; removing stops them; purging deletes the
    state; an upgrade stops nothing and restarts only an idle ccpd."""
    ctl = _root(package, "/DEBIAN/")
    with open(ctl + "postinst") as f:
        postinst = f.read()
    with open(ctl + "prerm") as f:
        prerm = f.read()
    with open(ctl + "postrm") as f:
        postrm = f.read()
    assert "systemd-sysusers" in postinst and "ccpd.conf" in postinst
    assert "systemd-tmpfiles" in postinst
    for unit in ("ccpd.service", "ccpd.socket"):
        assert "deb-systemd-helper enable '%s'" % unit in postinst, unit
    assert "ccpd@.service" not in postinst.replace("'ccpd@*.service'", "")
    assert re.search(r"deb-systemd-invoke start .*ccpd\.service", postinst)
    assert "deb-systemd-invoke restart" not in postinst
    assert "ccpd-restart-when-idle" in postinst
    assert not os.path.exists(ctl + "preinst") or \
        "stop" not in open(ctl + "preinst").read()
    assert re.search(r'"\$1" = remove .*\n\s*deb-systemd-invoke stop '
                     r".*ccpd\.service", prerm), prerm
    assert re.search(r'"\$1" = "purge".*\n\s*rm -rf /var/lib/ccpd', postrm)
    for script in ("postinst", "postrm", "prerm"):
        r = subprocess.run(["sh", "-n", ctl + script], capture_output=True,
                           text=True)
        assert r.returncode == 0, (script, r.stderr)


def test_installed_units_pass_systemd_analyze_verify(package, tmp_path):
    """The installed units, with ExecStart pointed into the root (verify
    checks that the program exists). The unit files are the package's,
    unchanged otherwise; no message at all is tolerated."""
    units = _root(package, "/lib/systemd/system")
    for name in ("ccpd.service", "ccpd.socket", "ccpd@.service"):
        with open(os.path.join(units, name)) as f:
            text = f.read()
        text = text.replace("ExecStart=/usr/sbin/ccpd",
                            "ExecStart=%s" % _root(package, "/usr/sbin/ccpd"))
        (tmp_path / name).write_text(text)
    r = subprocess.run(["systemd-analyze", "verify", "--man=no",
                        "ccpd.service", "ccpd.socket", "ccpd@alice.service"],
                       cwd=tmp_path, capture_output=True, text=True,
                       timeout=60)
    assert r.returncode == 0 and not (r.stdout + r.stderr).strip(), \
        r.stdout + r.stderr


def exec_start(package, unit, instance=None):
    """The unit's ExecStart as argv, %i filled in and every absolute path
    of the package's pointed into the root."""
    with open(_root(package, "/lib/systemd/system/" + unit)) as f:
        line = [l for l in f.read().splitlines()
                if l.startswith("ExecStart=")][0]
    argv = line.split("=", 1)[1].split()
    if instance:
        argv = [a.replace("%i", instance) for a in argv]
    assert "%" not in " ".join(argv), argv
    argv[0] = _root(package, argv[0])
    return [_root(package, a) if a.startswith("/etc/") else a for a in argv]


class Started:
    def __init__(self, argv, env, log):
        self.log = log
        self.notify = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.notify_path = log + ".notify"
        self.notify.bind(self.notify_path)
        self.proc = subprocess.Popen(
            argv, stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
            stderr=open(log, "wb"),
            env=dict(os.environ, NOTIFY_SOCKET=self.notify_path, **env))
        peers._live.append(self.proc)

    def wait_ready(self, timeout=20):
        self.notify.settimeout(0.2)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if "READY=1" in self.notify.recv(4096).decode():
                    return
            except socket.timeout:
                pass
            assert self.proc.poll() is None, self.log_text()
        raise AssertionError("no READY=1\n" + self.log_text())

    def log_text(self):
        with open(self.log, errors="replace") as f:
            return f.read()[-3000:]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        peers._live.remove(self.proc)
        self.notify.close()
        os.unlink(self.notify_path)
        return self.proc.returncode


def ctl(package, *args, env=None):
    return subprocess.run([_root(package, "/usr/bin/ccpctl")] + list(args),
                          stdin=subprocess.DEVNULL, capture_output=True,
                          text=True, timeout=20,
                          env=dict(os.environ, **(env or {})))


def test_packaged_ccpd_answers_ccpctl_status(package, tmp_path):
    """ccpd.service's command line against the packaged ccpd.conf, with
    the directories systemd would give it; only its ports are the test's
    own, and the web root the one in the package."""
    sock = str(tmp_path / "run" / "ccpd.sock")
    http = peers.free_port("tcp")
    argv = exec_start(package, "ccpd.service") + [
        "-o", "sip_listen=127.0.0.1:%d" % peers.free_port("sip"),
        "-o", "rtp_ports=%d-%d" % peers.rtp_port_block(),
        "-o", "http_listen=127.0.0.1:%d" % http,
        "-o", "web_root=%s" % _root(package, "/usr/share/ccpd/web")]
    d = Started(argv, {"RUNTIME_DIRECTORY": str(tmp_path / "run"),
                       "STATE_DIRECTORY": str(tmp_path / "state")},
                str(tmp_path / "ccpd.log"))
    try:
        d.wait_ready()
        r = ctl(package, "-s", sock, "status")
        assert r.returncode == 0, r.stderr
        assert r.stdout.startswith("Offline "), r.stdout
        with urllib.request.urlopen("http://127.0.0.1:%d/" % http,
                                    timeout=10) as page:
            assert page.status == 200 and b"<html" in page.read().lower()
        assert os.path.exists(tmp_path / "state" / "ccpd.db")
    finally:
        assert d.stop() == 0, d.log_text()


def _free_block(n):
    """n consecutive ports free for UDP and TCP on 127.0.0.1, below the
    kernel's ephemeral range and apart from peers.py's blocks."""
    for _ in range(200):
        low = random.randrange(6000, 9000)
        socks = []
        try:
            for p in range(low, low + n):
                for kind in (socket.SOCK_DGRAM, socket.SOCK_STREAM):
                    s = socket.socket(socket.AF_INET, kind)
                    socks.append(s)
                    s.bind(("127.0.0.1", p))
            return low
        except OSError:
            continue
        finally:
            for s in socks:
                s.close()
    raise AssertionError("no free block of %d ports" % n)


@pytest.mark.skipif(os.geteuid() != 0 or not os.access("/run", os.W_OK),
                    reason="ccpd@NAME's socket is /run/ccpd/NAME/ccpd.sock: "
                    "needs root")
def test_two_agent_instances_side_by_side(package, tmp_path):
    """ccpd@.service's command line for two agents: the shared ccpd.conf,
    then each agent's drop-in in /etc/ccpd/agents with its agent_slot.
    They get distinct ports from the ranges, ccpctl -a NAME and
    $CCPD_INSTANCE reach each one, and a third instance given a slot in
    use stops with a clear error."""
    sip, web = _free_block(4), _free_block(2)
    rtp = peers.rtp_port_block(80)
    tag = "pkgtest%d" % os.getpid()
    agents = {"alice": 1, "bob": 2}
    shared = _root(package, "/etc/ccpd/ccpd.conf")
    with open(shared, "a") as f:
        # what the admin writes once for the host: the ranges
        f.write("sip_ports = %d-%d\nhttp_ports = %d-%d\n"
                "rtp_ports = %d-%d\nslot_rtp_ports = 40\n"
                % (sip, sip + 3, web, web + 1, rtp[0], rtp[0] + 79))
    started, names = [], []
    try:
        for agent, slot in list(agents.items()) + [("carol", 1)]:
            name = "%s-%s" % (tag, agent)
            names.append(name)
            dropin = _root(package, "/etc/ccpd/agents/%s.conf" % name)
            with open(dropin, "w") as f:
                f.write("sip_user = %s\nagent_slot = %d\n" % (agent, slot))
            argv = exec_start(package, "ccpd@.service", name) + [
                "-o", "web_root=%s" % _root(package, "/usr/share/ccpd/web")]
            d = Started(argv, {}, str(tmp_path / (agent + ".log")))
            started.append(d)
            if agent != "carol":
                d.wait_ready()
        carol = started[-1]
        assert carol.proc.wait(20) == 1, carol.log_text()
        assert "is agent_slot 1 given to another instance too?" in \
            carol.log_text(), carol.log_text()

        seen = set()
        for (agent, slot), name in zip(agents.items(), names):
            assert os.path.exists("/run/ccpd/%s/ccpd.sock" % name)
            r = ctl(package, "-a", name, "status")
            assert r.returncode == 0 and r.stdout.startswith("Offline"), r
            r = ctl(package, "--json", "status",
                    env={"CCPD_INSTANCE": name, "CCPD_SOCKET": ""})
            assert r.returncode == 0, r.stderr
            assert json.loads(r.stdout)["status"] == "Offline"
            with urllib.request.urlopen("http://127.0.0.1:%d/" %
                                        (web + slot - 1), timeout=10) as p:
                assert p.status == 200
            seen.add(web + slot - 1)
        assert len(seen) == 2
        sip_ports = {int(re.search(r"sip_listen = 127\.0\.0\.1:(\d+)",
                                   subprocess.run(
                                       exec_start(package, "ccpd@.service",
                                                  n) + ["--dump-config"],
                                       capture_output=True, text=True,
                                       timeout=10).stdout).group(1))
                     for n in names[:2]}
        assert sip_ports == {sip, sip + 2}
    finally:
        for d in started:
            d.stop()
        for n in names:
            os.unlink(_root(package, "/etc/ccpd/agents/%s.conf" % n))
            shutil.rmtree("/run/ccpd/%s" % n, ignore_errors=True)
            shutil.rmtree("/var/lib/ccpd/%s" % n, ignore_errors=True)
