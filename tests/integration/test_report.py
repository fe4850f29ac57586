"""The agents report (report.agents, `ccpctl report agents`): a scripted day
of status changes and contacts, written into a store with timestamps chosen
here, whose figures are worked out by hand below. The report read through
ccpctl from a real ccpd (JSON and CSV) must equal them and agree with
metrics.get; the same SQL, run on a real PostgreSQL 15 over the same rows,
must give the same figures. Also: an empty window, windows that cut a status
in two, bad --from/--to, and an agent without metrics.viewAll."""

import csv
import io
import json
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
import time

import pytest

import peers

HERE = os.path.dirname(os.path.abspath(__file__))
REPORT_C = os.path.join(os.path.dirname(os.path.dirname(HERE)), "daemon",
                        "report.c")

S = 1000                    # ms in a second
M = 60 * S                  # ms in a minute
D = 1767600000000           # 2026-01-05 08:00:00 UTC: minute 0 of the day


def at(minutes, seconds=0):
    return D + minutes * M + seconds * S


# the contacts of the day (UUIDs, as ccpd makes them now)
C1 = "0c1e2b7a-5d6f-4a1b-8c2d-3e4f5a6b7c81"   # answered
C2 = "0c1e2b7a-5d6f-4a1b-8c2d-3e4f5a6b7c82"   # rings out: missed
C3 = "0c1e2b7a-5d6f-4a1b-8c2d-3e4f5a6b7c83"   # offered on Break: refused
C4 = "0c1e2b7a-5d6f-4a1b-8c2d-3e4f5a6b7c84"   # dialled out
C5 = "0c1e2b7a-5d6f-4a1b-8c2d-3e4f5a6b7c85"   # answered late, cleared
                                              # after the window
RUN = "00c0ffee00c0ffee"    # the run of ccpd that wrote the day

# The journal of one desk: (time, type, user after the row, effective state
# after it, contact). The state a row enters lasts until the next row.
DAY = [
    (at(-30), "daemon.start", "system", "Offline", None),
    (at(-10), "agent.stateChange", "alice", "Offline", None),     # login
    (at(-5), "agent.stateChange", "alice", "Available", None),
    (at(10), "contact.incoming", "alice", "PendingBusy", C1),
    (at(10, 20), "contact.connected", "alice", "Busy", C1),
    (at(16, 20), "contact.ended", "alice", "AfterContactWork", C1),
    (at(16, 20), "contact.acw", "alice", "AfterContactWork", C1),
    (at(18, 20), "contact.destroyed", "alice", "Available", C1),
    (at(30), "contact.incoming", "alice", "PendingBusy", C2),
    (at(30, 30), "contact.missed", "alice", "MissedCallAgent", C2),
    (at(30, 30), "contact.destroyed", "alice", "MissedCallAgent", C2),
    (at(32), "agent.stateChange", "alice", "Available", None),
    (at(40), "agent.stateChange", "alice", "Break", None),
    (at(50), "contact.refused", "alice", "Break", C3),
    (at(50), "contact.destroyed", "alice", "Break", C3),
    (at(70), "agent.stateChange", "alice", "Available", None),
    (at(80), "contact.connecting", "alice", "CallingCustomer", C4),
    (at(80, 15), "contact.connected", "alice", "Busy", C4),
    (at(90, 15), "contact.ended", "alice", "AfterContactWork", C4),
    (at(90, 15), "contact.acw", "alice", "AfterContactWork", C4),
    (at(91, 15), "contact.destroyed", "alice", "Available", C4),
    (at(100), "agent.stateChange", "alice", "Lunch", None),
    (at(160), "agent.stateChange", "alice", "Available", None),
    (at(200), "contact.incoming", "alice", "PendingBusy", C5),
    (at(200, 10), "contact.connected", "alice", "Busy", C5),
    (at(230), "contact.ended", "alice", "AfterContactWork", C5),
    (at(230), "contact.acw", "alice", "AfterContactWork", C5),
    (at(250), "contact.destroyed", "alice", "Available", C5),
    (at(260), "agent.stateChange", "system", "Offline", None),    # logout
    (at(300), "daemon.stop", "system", None, None),
]

# The contact records, as store_contact_put writes them:
# (id, direction, final state, connected, ended, acw_ended); acw_ms is
# acw_ended - ended, handle_ms is ended - connected + acw_ms.
CONTACTS = [
    (C1, "inbound", "destroyed", at(10, 20), at(16, 20), at(18, 20)),
    (C2, "inbound", "missed", None, at(30, 30), None),
    (C3, "inbound", "refused", None, at(50), None),
    (C4, "outbound", "destroyed", at(80, 15), at(90, 15), at(91, 15)),
    (C5, "inbound", "destroyed", at(200, 10), at(230), at(250)),
]

# ---- the day's figures, by hand ------------------------------------------
#
# Window [minute 0, minute 240).
#
# Available:   0:00 -  10:00  600 s  (entered at -5:00: clipped to 0:00)
#             18:20 -  30:00  700 s
#             32:00 -  40:00  480 s
#             70:00 -  80:00  600 s
#             91:15 - 100:00  525 s
#            160:00 - 200:00 2400 s   total 5305 s
# PendingBusy: 10:00 - 10:20 20 s, 30:00 - 30:30 30 s,
#              200:00 - 200:10 10 s                    total   60 s
# Busy:        10:20 - 16:20 360 s, 80:15 - 90:15 600 s,
#              200:10 - 230:00 1790 s                  total 2750 s
# AfterContactWork: 16:20 - 18:20 120 s, 90:15 - 91:15 60 s,
#              230:00 - 240:00 600 s (cleared at 250: clipped)  780 s
# MissedCallAgent: 30:30 - 32:00                                 90 s
# Break:       40:00 - 70:00                                   1800 s
# CallingCustomer: 80:00 - 80:15                                 15 s
# Lunch:       100:00 - 160:00                                 3600 s
# Sum: 5305 + 60 + 2750 + 780 + 90 + 1800 + 15 + 3600 = 14400 s = 240 min.
#
# handled: C1 (connected 10:20), C4 (80:15), C5 (200:10)       = 3
# missed: C2 = 1; refused: C3 = 1
# cleared in the window: C1 (18:20) and C4 (91:15); C5 at 250:00 is not:
#   C1 handle = 360 s talk + 120 s ACW = 480 s
#   C4 handle = 600 s talk +  60 s ACW = 660 s
#   average handle = (480 + 660) / 2 = 570 s; average ACW = (120 + 60) / 2
#   = 90 s
# on contacts = Busy + CallingCustomer + ACW = 2750 + 15 + 780 = 3545 s
# occupancy = 3545 / (3545 + 5305) = 3545 / 8850 = 0.400565 -> 0.4006
ALICE = {
    "username": "alice",
    "handled": 3, "missed": 1, "refused": 1,
    "handleCount": 2,
    "averageHandleMs": 570 * S, "averageAcwMs": 90 * S,
    "onContactMs": 3545 * S, "availableMs": 5305 * S,
    "occupancy": 0.4006,
    "timeInStateMs": {
        "AfterContactWork": 780 * S, "Available": 5305 * S,
        "Break": 1800 * S, "Busy": 2750 * S, "CallingCustomer": 15 * S,
        "Lunch": 3600 * S, "MissedCallAgent": 90 * S,
        "PendingBusy": 60 * S,
    },
}
DAY_WINDOW = (at(0), at(240))

# Window [150:00, 205:00): Lunch (100 - 160) and the Busy of C5 cut in two.
# Lunch 150:00 - 160:00 600 s; Available 160:00 - 200:00 2400 s;
# PendingBusy 200:00 - 200:10 10 s; Busy 200:10 - 205:00 290 s.
# handled: C5 = 1; nothing cleared; occupancy = 290 / (290 + 2400)
# = 290 / 2690 = 0.107807 -> 0.1078
CUT_WINDOW = (at(150), at(205))
ALICE_CUT = {
    "username": "alice",
    "handled": 1, "missed": 0, "refused": 0, "handleCount": 0,
    "averageHandleMs": 0, "averageAcwMs": 0,
    "onContactMs": 290 * S, "availableMs": 2400 * S,
    "occupancy": 0.1078,
    "timeInStateMs": {"Available": 2400 * S, "Busy": 290 * S,
                      "Lunch": 600 * S, "PendingBusy": 10 * S},
}

# Window [45:00, 60:00): inside Break, which runs 40:00 - 70:00 and is cut
# at both ends: 900 s of Break and C3's refusal at 50:00. Neither on
# contacts nor Available: no occupancy.
BREAK_WINDOW = (at(45), at(60))
ALICE_BREAK = {
    "username": "alice",
    "handled": 0, "missed": 0, "refused": 1, "handleCount": 0,
    "averageHandleMs": 0, "averageAcwMs": 0,
    "onContactMs": 0, "availableMs": 0, "occupancy": None,
    "timeInStateMs": {"Break": 900 * S},
}

# A year before: nothing at all.
EMPTY_WINDOW = (D - 365 * 24 * 60 * M, D - 364 * 24 * 60 * M)


def write_day(db):
    """The day's journal and contact records, into the store at db."""
    con = sqlite3.connect(db, timeout=10)
    with con:
        for t, typ, user, state, cid in DAY:
            con.execute(
                "INSERT INTO journal (time, instance, event_seq, type,"
                " username, actor, state, status, contact_id, data)"
                " VALUES (?, ?, NULL, ?, ?, ?, ?, ?, ?, NULL)",
                (t, RUN, typ, user, user, state, state, cid))
        for cid, direction, state, conn, ended, acw_end in CONTACTS:
            acw = acw_end - ended if acw_end else None
            handle = ended - conn + (acw or 0) if conn else None
            con.execute(
                "INSERT INTO contacts (instance, contact_id, username,"
                " direction, state, connected, ended, acw_ended, acw_ms,"
                " handle_ms, data) VALUES (?, ?, 'alice', ?, ?, ?, ?, ?, ?,"
                " ?, ?)",
                (RUN, cid, direction, state, conn, ended, acw_end, acw,
                 handle, json.dumps({"contactId": cid})))
    con.close()


def report(d, window, *extra):
    r = d.ctl("report", "agents", "--from", str(window[0]),
              "--to", str(window[1]), *extra)
    assert r.returncode == 0, (r.returncode, r.stdout, r.stderr)
    assert r.stderr == ""
    return r.stdout


def csv_rows(text):
    """The CSV's rows as the JSON's agents: numbers for numbers, states
    back under timeInStateMs."""
    rows = list(csv.DictReader(io.StringIO(text)))
    names = {"handle_count": "handleCount",
             "average_handle_ms": "averageHandleMs",
             "average_acw_ms": "averageAcwMs",
             "on_contact_ms": "onContactMs", "available_ms": "availableMs"}
    out = []
    for row in rows:
        a = {"username": row.pop("username"), "timeInStateMs": {}}
        occ = row.pop("occupancy")
        a["occupancy"] = float(occ) if occ else None
        for k, v in row.items():
            if k.endswith("_ms") and k not in names:
                if int(v):
                    a["timeInStateMs"][k[:-3]] = int(v)
            else:
                a[names.get(k, k)] = int(v)
        out.append(a)
    return out


@pytest.fixture
def day(make_ccpd):
    """A ccpd whose store holds the scripted day."""
    db = os.path.join(peers._mkdtemp("ccpd-report-"), "ccpd.db")
    d = make_ccpd(options={"database": db})
    write_day(db)
    return d


def test_report_of_a_scripted_day(day):
    d = day
    got = json.loads(report(d, DAY_WINDOW, "--json"))
    assert got == {"from": DAY_WINDOW[0], "to": DAY_WINDOW[1],
                   "agents": [ALICE]}
    assert csv_rows(report(d, DAY_WINDOW, "--csv")) == [ALICE]
    text = report(d, DAY_WINDOW)
    assert text.startswith("alice\n  contacts: handled 3, missed 1, "
                           "refused 1\n"), text
    assert "occupancy 40.06% (on contacts 59m05s, available 1h28m25s)" \
        in text, text

    # metrics.get computes the same from the journal in C: they agree
    m = d.client().call("metrics.get", {"from": DAY_WINDOW[0],
                                        "to": DAY_WINDOW[1],
                                        "agent": "alice"})
    (ma,) = m["agents"]
    assert ma["timeInStateMs"] == ALICE["timeInStateMs"]
    for k in ("handled", "missed", "refused"):
        assert ma["contacts"][k] == ALICE[k], k
    assert ma["handleTime"]["count"] == ALICE["handleCount"]
    assert ma["handleTime"]["averageMs"] == ALICE["averageHandleMs"]
    assert ma["acwTime"]["averageMs"] == ALICE["averageAcwMs"]


def test_windows_that_cut_a_status_and_an_empty_one(day):
    d = day
    for window, want in ((CUT_WINDOW, ALICE_CUT),
                         (BREAK_WINDOW, ALICE_BREAK)):
        got = json.loads(report(d, window, "--json"))
        assert got["agents"] == [want], window
        assert csv_rows(report(d, window, "--csv")) == [want], window
    got = json.loads(report(d, EMPTY_WINDOW, "--json"))
    assert got == {"from": EMPTY_WINDOW[0], "to": EMPTY_WINDOW[1],
                   "agents": []}
    assert report(d, EMPTY_WINDOW) == ""
    # the CSV of nothing is its header
    assert report(d, EMPTY_WINDOW, "--csv") == (
        "username,handled,missed,refused,handle_count,average_handle_ms,"
        "average_acw_ms,on_contact_ms,available_ms,occupancy\n")


def test_bad_windows_are_refused_clearly(day):
    d = day
    r = d.ctl("report", "agents", "--from", "yesterday", "--to", "1")
    assert r.returncode == 2
    assert "--from: 'yesterday' is neither milliseconds nor " \
        "YYYY-MM-DD[THH:MM[:SS]]" in r.stderr, r.stderr
    r = d.ctl("report", "agents", "--from", "1")
    assert r.returncode == 2 and "needs --from and --to" in r.stderr
    r = d.ctl("report", "agents", "--from", str(at(10)), "--to", str(at(5)))
    assert r.returncode == 1
    assert '"from" must be before "to"' in r.stderr, r.stderr
    r = d.ctl("report", "queues", "--from", "1", "--to", "2")
    assert r.returncode == 2 and "unknown report 'queues'" in r.stderr
    c = d.client()
    for params in ({"from": 1}, {"to": 1}, {"from": -1, "to": 5},
                   {"from": "1", "to": 5}, {"from": 5, "to": 5}):
        assert c.error("report.agents", params)["code"] == -32602, params
    # and the daemon runs on
    assert c.call("report.agents", {"from": DAY_WINDOW[0],
                                    "to": DAY_WINDOW[1]})["agents"] == [ALICE]


def test_an_agent_may_not_read_the_report(day):
    d = day
    c = d.client()
    c.call("admin.users.create", {"username": "bob", "profile": "Agent",
                                  "password": "bob-secret-12",
                                  "mustChangePassword": False})
    r = d.ctl("login", "bob", "--password", "bob-secret-12")
    assert r.returncode == 0, r.stderr
    token = r.stdout.strip()
    r = d.ctl("--token", token, "report", "agents",
              "--from", str(DAY_WINDOW[0]), "--to", str(DAY_WINDOW[1]))
    assert r.returncode == 1 and r.stdout == ""
    assert "metrics.viewAll" in r.stderr, r.stderr


# ---- the same SQL on PostgreSQL 15 ---------------------------------------

PG_BIN = "/usr/lib/postgresql/15/bin"


def c_literals(text):
    return "".join(bytes(s, "utf-8").decode("unicode_escape")
                   for s in re.findall(r'"((?:[^"\\]|\\.)*)"', text))


def report_sql():
    """The two query texts as report.c compiles them, read from the
    source, and the head and body they share."""
    src = re.sub(r"/\*.*?\*/", "", open(REPORT_C).read(), flags=re.S)
    macros = {}
    for m in re.finditer(r"#define (REPORT_[A-Z]+)((?:.*\\\n)*.*)", src):
        macros[m.group(1)] = c_literals(m.group(2))
    out = {}
    for name in ("sqlite", "pg"):
        rhs = re.search(r"report_agents_sql_%s\[\] =(.*?);" % name, src,
                        re.S).group(1)
        out[name] = "".join(
            macros[t] if t in macros else c_literals(t)
            for t in re.findall(r'"(?:[^"\\]|\\.)*"|REPORT_[A-Z]+', rhs))
    return out, macros["REPORT_HEAD"], macros["REPORT_BODY"]


class Postgres:
    """A database of its own on PostgreSQL 15: on the shared server when
    tests/servers.sh started one (CCPD_TEST_PG_*), else on a server of its
    own, run as the postgres user (initdb refuses root), on loopback
    only."""

    def __init__(self):
        self.dir = None
        self.host = os.environ.get("CCPD_TEST_PG_HOST")
        self.port = os.environ.get("CCPD_TEST_PG_PORT")
        self.user = os.environ.get("CCPD_TEST_PG_USER", "ccp")
        self.db = "ccpd_report_%d_%d" % (os.getpid(), time.monotonic_ns())
        if not (self.host and self.port):
            self.start_own()
        try:
            con = self.connect("postgres")
            con.autocommit = True
            con.cursor().execute("CREATE DATABASE " + self.db)
            con.close()
        except BaseException:
            self.stop()
            raise

    def start_own(self):
        self.dir = tempfile.mkdtemp(prefix="ccpd-pg-")
        shutil.chown(self.dir, "postgres", "postgres")
        self.data = os.path.join(self.dir, "data")
        self.host, self.port = "127.0.0.1", peers.free_port("tcp")
        self.run("initdb", "-D", self.data, "-A", "trust", "-U", self.user)
        self.run("pg_ctl", "-D", self.data, "-l",
                 os.path.join(self.dir, "log"), "-o",
                 "-p %d -k %s -c listen_addresses=127.0.0.1"
                 % (self.port, self.dir), "-w", "start")

    def run(self, tool, *args):
        subprocess.run(["runuser", "-u", "postgres", "--",
                        os.path.join(PG_BIN, tool)] + list(args),
                       check=True, capture_output=True, timeout=60)

    def connect(self, dbname=None):
        import psycopg2
        return psycopg2.connect(host=self.host, port=self.port,
                                user=self.user, dbname=dbname or self.db)

    def stop(self):
        try:
            con = self.connect("postgres")
            con.autocommit = True
            con.cursor().execute("DROP DATABASE IF EXISTS " + self.db)
            con.close()
        finally:
            if self.dir:
                try:
                    self.run("pg_ctl", "-D", self.data, "-m", "fast", "-w",
                             "stop")
                finally:
                    shutil.rmtree(self.dir, ignore_errors=True)


def pg_report(cur, sql, window, now):
    """The rows made into what report_to_json makes of them."""
    # psycopg2 passes %s; the text's $1..$3 are the server's own
    cur.execute("PREPARE report (bigint, bigint, bigint) AS " + sql)
    cur.execute("EXECUTE report (%s, %s, %s)", (window[0], window[1], now))
    rows = cur.fetchall()
    cur.execute("DEALLOCATE report")
    agents = {}
    for user, figure, name, value in rows:
        a = agents.setdefault(user, {
            "username": user, "handled": 0, "missed": 0, "refused": 0,
            "handleCount": 0, "averageHandleMs": 0, "averageAcwMs": 0,
            "onContactMs": 0, "availableMs": 0, "occupancy": None,
            "timeInStateMs": {}})
        if figure == "state":
            a["timeInStateMs"][name] = value
        elif figure == "occupancyBp":
            a["occupancy"] = None if value is None else value / 10000
        else:
            a[figure] = value
    return [agents[u] for u in sorted(agents)]


# bob works at a second desk, his rows interleaved with alice's by id:
# Offline 15:00 - 20:00 (300 s, logged in), Available 20:00 - 50:00
# (1800 s), Busy 50:00 - 55:00 (300 s) on a contact cleared without
# after-contact work, then Available until his logout at 70:00 (900 s).
# handled 1, handle 300 s, ACW 0; on contacts 300 s;
# occupancy = 300 / (300 + 1800 + 900) = 300 / 3000 = 0.1
C6 = "0c1e2b7a-5d6f-4a1b-8c2d-3e4f5a6b7c86"
BOB_DAY = [
    (at(15), "agent.stateChange", "bob", "Offline", None),
    (at(20), "agent.stateChange", "bob", "Available", None),
    (at(50), "contact.connected", "bob", "Busy", C6),
    (at(55), "contact.ended", "bob", "Available", C6),
    (at(55), "contact.destroyed", "bob", "Available", C6),
    (at(70), "agent.stateChange", "system", "Offline", None),
]
BOB = {
    "username": "bob", "handled": 1, "missed": 0, "refused": 0,
    "handleCount": 1, "averageHandleMs": 300 * S, "averageAcwMs": 0,
    "onContactMs": 300 * S, "availableMs": 2700 * S, "occupancy": 0.1,
    "timeInStateMs": {"Available": 2700 * S, "Busy": 300 * S,
                      "Offline": 300 * S},
}
# In [45:00, 60:00): Available 45:00 - 50:00 and 55:00 - 60:00 (600 s),
# Busy 50:00 - 55:00 (300 s); C6 handled and cleared; occupancy
# = 300 / (300 + 600) = 0.33333 -> 0.3333
BOB_BREAK = {
    "username": "bob", "handled": 1, "missed": 0, "refused": 0,
    "handleCount": 1, "averageHandleMs": 300 * S, "averageAcwMs": 0,
    "onContactMs": 300 * S, "availableMs": 600 * S, "occupancy": 0.3333,
    "timeInStateMs": {"Available": 600 * S, "Busy": 300 * S},
}
# the second desk's system user: Offline from bob's logout at 70:00 to the
# end of the window, 170 min; alice's desk's system user has no time in the
# window (her logout is at 260:00)
SYSTEM_B = {
    "username": "system", "handled": 0, "missed": 0, "refused": 0,
    "handleCount": 0, "averageHandleMs": 0, "averageAcwMs": 0,
    "onContactMs": 0, "availableMs": 0, "occupancy": None,
    "timeInStateMs": {"Offline": 170 * M},
}


def test_the_same_sql_on_postgresql(day):
    sql, head, body = report_sql()
    # one text, but for the rows of w: which desk wrote each, and the last
    # row of each desk before the window
    for text in sql.values():
        assert text.startswith(head) and text.endswith(body)
        assert len(text) - len(head) - len(body) < 700
    # the SQLite text through ccpd gave ALICE above; the same rows here
    pg = Postgres()
    try:
        con = pg.connect()
        con.autocommit = True
        cur = con.cursor()
        # the columns the query reads, as the SQLite store has them, and
        # the desk that wrote each journal row
        cur.execute(
            "CREATE TABLE journal (id BIGSERIAL PRIMARY KEY,"
            " time BIGINT NOT NULL, instance TEXT NOT NULL,"
            " event_seq BIGINT, type TEXT NOT NULL, username TEXT NOT NULL,"
            " actor TEXT, state TEXT, status TEXT, contact_id TEXT,"
            " data TEXT, desk_id TEXT NOT NULL, desk_seq BIGINT NOT NULL,"
            " UNIQUE (desk_id, desk_seq))")
        cur.execute(
            "CREATE TABLE contacts (id BIGSERIAL PRIMARY KEY,"
            " instance TEXT NOT NULL, contact_id TEXT NOT NULL,"
            " username TEXT NOT NULL, direction TEXT NOT NULL,"
            " state TEXT NOT NULL, connected BIGINT, ended BIGINT,"
            " acw_ended BIGINT, acw_ms BIGINT, handle_ms BIGINT,"
            " data TEXT NOT NULL, UNIQUE (instance, contact_id))")
        # each desk numbers its rows (desk_seq); alice's desk wrote as it
        # went, bob's reached the table late and in reverse (ids against
        # its order): only desk_seq tells a desk's order
        rows = [(r, "desk-a", i + 1) for i, r in enumerate(DAY)]
        rows += reversed([(r, "desk-b", i + 1)
                          for i, r in enumerate(BOB_DAY)])
        for (t, typ, user, state, cid), desk, seq in rows:
            cur.execute(
                "INSERT INTO journal (time, instance, type, username, state,"
                " contact_id, desk_id, desk_seq) VALUES (%s, %s, %s, %s, %s,"
                " %s, %s, %s)", (t, RUN, typ, user, state, cid, desk, seq))
        records = [r + ("alice",) for r in CONTACTS] + [
            (C6, "inbound", "destroyed", at(50), at(55), None, "bob")]
        for cid, direction, state, conn, ended, acw_end, user in records:
            acw = acw_end - ended if acw_end else None
            handle = ended - conn + (acw or 0) if conn else None
            cur.execute(
                "INSERT INTO contacts (instance, contact_id, username,"
                " direction, state, connected, ended, acw_ended, acw_ms,"
                " handle_ms, data) VALUES (%s, %s, %s, %s, %s, %s, %s, %s,"
                " %s, %s, '{}')",
                (RUN, cid, user, direction, state, conn, ended, acw_end,
                 acw, handle))
        now = int(time.time() * 1000)
        assert pg_report(cur, sql["pg"], DAY_WINDOW, now) == \
            [ALICE, BOB, SYSTEM_B]
        # [150:00, 205:00): the second desk is Offline, with no one
        # logged in, the whole 55 minutes
        cut_b = dict(SYSTEM_B, timeInStateMs={"Offline": 55 * M})
        assert pg_report(cur, sql["pg"], CUT_WINDOW, now) == \
            [ALICE_CUT, cut_b]
        assert pg_report(cur, sql["pg"], BREAK_WINDOW, now) == \
            [ALICE_BREAK, BOB_BREAK]
        assert pg_report(cur, sql["pg"], EMPTY_WINDOW, now) == []
        con.close()
    finally:
        pg.stop()


def test_a_contact_of_an_earlier_run_is_found_by_its_uuid(day):
    """Ids are UUIDs: contact.get finds one whatever run wrote it; an old
    c-N id names a contact only within the present run."""
    c = day.client()
    got = c.call("contact.get", {"contactId": C4})
    assert got["contactId"] == C4 and got["instance"] == RUN
    con = sqlite3.connect(day.options["database"], timeout=10)
    with con:
        con.execute("INSERT INTO contacts (instance, contact_id, username,"
                    " direction, state, data) VALUES (?, 'c-1', 'alice',"
                    " 'inbound', 'missed', '{\"contactId\": \"c-1\"}')",
                    (RUN,))
    con.close()
    assert c.error("contact.get", {"contactId": "c-1"})["code"] == -32006


def test_the_report_agrees_with_metrics_on_real_calls(make_ccpd, customer):
    """Real calls through baresip: an answered call with after-contact
    work, a missed one and a refused one. The report (the journal, in SQL) and metrics.get (the journal, in C) give the same
    figures, and the handle time is what the events' times say."""
    d = make_ccpd(options={"ring_timeout": "1"})
    c = d.client()
    c.call("admin.users.create", {"username": "alice", "profile": "Agent",
                                  "password": "alice-secret-1",
                                  "mustChangePassword": False})
    c.call("events.subscribe")
    c.call("session.login", {"username": "alice",
                             "password": "alice-secret-1"})
    start = c.call("agent.setState", {"state": "Available"})["since"]
    customer.dial(d.sip_uri)
    cid = c.wait_event("contact.incoming")["data"]["contact"]["contactId"]
    c.call("contact.accept", {"contactId": cid})
    connected = c.wait_event("contact.connected")["time"]
    customer.wait_event("CALL_ESTABLISHED", 10)
    time.sleep(0.5)
    customer.hangup()
    c.wait_event("contact.acw")
    time.sleep(0.3)
    c.call("contact.clear", {"contactId": cid})
    cleared = c.wait_event("contact.destroyed")["time"]
    customer.wait_event("CALL_CLOSED", 10)
    customer.dial(d.sip_uri)
    c.wait_event("contact.missed", 10)
    customer.wait_event("CALL_CLOSED", 10)
    c.call("agent.setState", {"state": "Break"})
    customer.dial(d.sip_uri)
    refused = c.wait_event("contact.refused", 10)["time"]
    customer.wait_event("CALL_CLOSED", 10)
    end = refused + 1
    while int(time.time() * 1000) <= end:      # the window is over
        time.sleep(0.01)

    # alice may not read it; root, an administrator, may
    window = {"from": start, "to": end}
    assert c.error("report.agents", window)["code"] == -32002
    root = d.client()
    (r,) = root.call("report.agents", window)["agents"]
    (m,) = root.call("metrics.get", dict(window, agent="alice"))["agents"]
    assert r["username"] == "alice"
    assert r["timeInStateMs"] == m["timeInStateMs"]
    assert sum(r["timeInStateMs"].values()) == end - start
    assert (r["handled"], r["missed"], r["refused"]) == (1, 1, 1)
    for k in ("handled", "missed", "refused"):
        assert r[k] == m["contacts"][k], k
    assert r["handleCount"] == m["handleTime"]["count"] == 1
    assert r["averageHandleMs"] == m["handleTime"]["averageMs"]
    assert r["averageAcwMs"] == m["acwTime"]["averageMs"]
    assert r["averageHandleMs"] == cleared - connected
    on = sum(r["timeInStateMs"].get(s, 0) for s in
             ("Busy", "CallingCustomer", "AfterContactWork"))
    avail = r["timeInStateMs"]["Available"]
    assert (r["onContactMs"], r["availableMs"]) == (on, avail)
    assert r["occupancy"] == round(on / (on + avail), 4)
