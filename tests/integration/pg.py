"""A real PostgreSQL 15 for the tests: initdb into a temporary directory as
the unprivileged postgres user (initdb refuses root), listening on loopback
only, stopped at the end. Each test gets a fresh database of its own.

    srv = PgServer().start()
    url = srv.new_database()       # postgresql://ccp@127.0.0.1:PORT/tN
    srv.stop("immediate")          # a crash, for outage tests
    srv.start()
"""
import itertools
import os
import pwd
import shutil
import subprocess
import tempfile
import time

import psycopg2

import peers

PG_BIN = os.environ.get("PG_BIN", "/usr/lib/postgresql/15/bin")
PG_USER = os.environ.get("PG_USER", "postgres")
ROLE = "ccp"

_counter = itertools.count(1)


def _as_pg(args, **kw):
    return subprocess.run(["runuser", "-u", PG_USER, "--"] + args,
                          capture_output=True, text=True, **kw)


class PgServer:
    def __init__(self, ssl=False):
        self.ssl = ssl
        self.port = peers.free_port("tcp")
        self.dir = tempfile.mkdtemp(prefix="ccpd-pg-")
        peers._tmpdirs.append(self.dir)
        self.data = os.path.join(self.dir, "data")
        self.sock = os.path.join(self.dir, "sock")
        self.log = os.path.join(self.dir, "pg.log")
        pw = pwd.getpwnam(PG_USER)
        os.chmod(self.dir, 0o755)
        os.makedirs(self.sock)
        for d in (self.dir, self.sock):
            os.chown(d, pw.pw_uid, pw.pw_gid)
        r = _as_pg([PG_BIN + "/initdb", "-D", self.data, "-A", "trust",
                    "-U", ROLE, "--no-sync"], timeout=120)
        assert r.returncode == 0, "initdb failed:\n" + r.stdout + r.stderr
        if ssl:
            self._make_cert(pw)
        self.running = False

    def _make_cert(self, pw):
        crt = os.path.join(self.data, "server.crt")
        key = os.path.join(self.data, "server.key")
        r = subprocess.run(
            ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes",
             "-days", "1", "-subj", "/CN=127.0.0.1", "-keyout", key,
             "-out", crt], capture_output=True, text=True, timeout=60)
        assert r.returncode == 0, r.stderr
        for f in (crt, key):
            os.chown(f, pw.pw_uid, pw.pw_gid)
            os.chmod(f, 0o600)
        with open(os.path.join(self.data, "postgresql.conf"), "a") as f:
            f.write("ssl = on\nssl_cert_file = 'server.crt'\n"
                    "ssl_key_file = 'server.key'\n")
        # TCP clients must use TLS; the socket stays for the fixture
        with open(os.path.join(self.data, "pg_hba.conf"), "w") as f:
            f.write("local all all trust\n"
                    "hostssl all all 127.0.0.1/32 trust\n"
                    "hostnossl all all 127.0.0.1/32 reject\n")
        for f in ("postgresql.conf", "pg_hba.conf"):
            os.chown(os.path.join(self.data, f), pw.pw_uid, pw.pw_gid)

    def start(self):
        r = _as_pg([PG_BIN + "/pg_ctl", "-D", self.data, "-l", self.log,
                    "-o", "-p %d -k %s -c listen_addresses=127.0.0.1 "
                    "-c fsync=off" % (self.port, self.sock), "-w", "start"],
                   timeout=120)
        assert r.returncode == 0, "pg_ctl start failed:\n%s%s\n%s" % (
            r.stdout, r.stderr, self.log_tail())
        self.running = True
        return self

    def stop(self, mode="fast"):
        if not self.running:
            return
        r = _as_pg([PG_BIN + "/pg_ctl", "-D", self.data, "-m", mode, "-w",
                    "stop"], timeout=120)
        assert r.returncode == 0, "pg_ctl stop failed:\n" + r.stderr
        self.running = False

    def log_tail(self, n=30):
        try:
            with open(self.log) as f:
                return "\n".join(f.read().splitlines()[-n:])
        except OSError:
            return ""

    def connect(self, dbname="postgres"):
        """psycopg2 over the Unix socket (works with and without TLS)."""
        c = psycopg2.connect(host=self.sock, port=self.port, user=ROLE,
                             dbname=dbname)
        c.autocommit = True
        return c

    def url(self, dbname, **query):
        q = "&".join("%s=%s" % kv for kv in query.items())
        return "postgresql://%s@127.0.0.1:%d/%s%s" % (
            ROLE, self.port, dbname, "?" + q if q else "")

    def new_database(self, **query):
        name = "t%d_%d" % (os.getpid(), next(_counter))
        c = self.connect()
        with c.cursor() as cur:
            cur.execute("CREATE DATABASE %s" % name)
        c.close()
        self.last_db = name
        return self.url(name, **query)

    def query(self, dbname, sql, args=None):
        c = self.connect(dbname)
        try:
            with c.cursor() as cur:
                cur.execute(sql, args)
                return cur.fetchall() if cur.description else None
        finally:
            c.close()


class SharedPg(PgServer):
    """The PostgreSQL that .ci/run started (tests/servers.sh: the
    CCPD_TEST_PG_* variables), reached over TCP on loopback. Tests that
    stop or reconfigure a server start a PgServer of their own instead."""

    def __init__(self, env):
        self.ssl = False
        self.port = int(env["CCPD_TEST_PG_PORT"])
        self.host = env.get("CCPD_TEST_PG_HOST", "127.0.0.1")
        self.data = env.get("CCPD_TEST_PG_DATA", "")
        self.log = os.path.join(os.path.dirname(self.data), "server.log")
        self.running = True

    def start(self):
        return self

    def stop(self, mode="fast"):
        pass        # .ci/run owns it

    def connect(self, dbname="postgres"):
        c = psycopg2.connect(host=self.host, port=self.port, user=ROLE,
                             dbname=dbname)
        c.autocommit = True
        return c


def session_server():
    """CI's shared server when it started one, else one of our own."""
    if os.environ.get("CCPD_TEST_PG_PORT"):
        return SharedPg(os.environ)
    return PgServer().start()


def wait_for(pred, timeout, what):
    """Poll pred until it returns a true value; its value, or an
    AssertionError naming what was awaited."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        try:
            last = pred()
        except Exception as e:          # noqa: BLE001 (a server restarting)
            last = e
        if last and not isinstance(last, Exception):
            return last
        time.sleep(0.05)
    raise AssertionError("timed out after %ss waiting for %s (last: %r)"
                         % (timeout, what, last))


def available():
    return os.path.exists(PG_BIN + "/initdb") and shutil.which("runuser")
