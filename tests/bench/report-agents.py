#!/usr/bin/python3
"""The agents report on a desk's year: how long report.agents holds ccpd's
main loop, against an agent.getState round trip measured in the same run.

report.agents runs its SQL on the embedded SQLite store on ccpd's one
thread (docs/internals.md), so while it runs, calls and clients wait. This
starts ccpd (CCPD_BIN, else build/ccpd) on a store that holds a synthetic
working year of one desk (BENCH_REPORT_DAYS, 250 days; each day a login,
BENCH_REPORT_CONTACTS (50) answered contacts with after-contact work, a
break and a logout: about 260 journal rows and 50 contact records a day),
then times, over the Unix socket, the median of BENCH_REPORT_ROUNDS (5)
report.agents calls for a day, a week, a month and the whole year, and
the median of 50 agent.getState calls, and metrics.get (the same
figures from the journal, in C) over the same windows. Prints each in ms
and as ratios to the getState round trip and to metrics.get.

Bounded: every call has a deadline of 60 s. Only 127.0.0.1. Exit status
0 when everything was measured.
"""

import os
import sqlite3
import statistics
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
TOP = os.path.dirname(os.path.dirname(HERE))
sys.path.insert(0, os.path.join(TOP, "tests", "integration"))

import ccpd as ccpd_mod  # noqa: E402
import peers  # noqa: E402

DAY = 86400000
START = 1735718400000          # 2025-01-01 00:00 UTC


def synthetic_year(db, days, per_day):
    journal, contacts = [], []
    run = "0123456789abcdef"
    n = 0
    for d in range(days):
        t = START + d * DAY + 8 * 3600000      # 08:00
        journal += [(t, run, "agent.stateChange", "alice", "Offline", None),
                    (t + 60000, run, "agent.stateChange", "alice",
                     "Available", None)]
        t += 120000
        for _ in range(per_day):
            n += 1
            cid = "00000000-0000-4000-8000-%012d" % n
            conn, ended, cleared = t + 10000, t + 250000, t + 310000
            journal += [
                (t, run, "contact.incoming", "alice", "PendingBusy", cid),
                (conn, run, "contact.connected", "alice", "Busy", cid),
                (ended, run, "contact.ended", "alice", "AfterContactWork",
                 cid),
                (ended, run, "contact.acw", "alice", "AfterContactWork", cid),
                (cleared, run, "contact.destroyed", "alice", "Available",
                 cid)]
            contacts.append((run, cid, "alice", "inbound", "destroyed", conn,
                             ended, cleared, cleared - ended,
                             cleared - conn, '{"contactId": "%s"}' % cid))
            t = cleared + 200000
        journal += [(t, run, "agent.stateChange", "alice", "Break", None),
                    (t + 900000, run, "agent.stateChange", "alice",
                     "Available", None),
                    (t + 1800000, run, "agent.stateChange", "system",
                     "Offline", None)]
    con = sqlite3.connect(db, timeout=30)
    with con:
        con.executemany(
            "INSERT INTO journal (time, instance, type, username, state,"
            " contact_id) VALUES (?, ?, ?, ?, ?, ?)", journal)
        con.executemany(
            "INSERT INTO contacts (instance, contact_id, username, direction,"
            " state, connected, ended, acw_ended, acw_ms, handle_ms, data)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", contacts)
    con.close()
    return len(journal), len(contacts)


def median_ms(fn, rounds):
    times = []
    for _ in range(rounds):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    return statistics.median(times)


def main():
    days = int(os.environ.get("BENCH_REPORT_DAYS", "250"))
    per_day = int(os.environ.get("BENCH_REPORT_CONTACTS", "50"))
    rounds = int(os.environ.get("BENCH_REPORT_ROUNDS", "5"))
    if len(sys.argv) > 1:
        ccpd_mod.CCPD = sys.argv[1]
    db = os.path.join(peers._mkdtemp("ccpd-bench-report-"), "ccpd.db")
    d = ccpd_mod.Ccpd(options={"database": db, "log_level": "info"})
    try:
        rows, recs = synthetic_year(db, days, per_day)
        c = d.client()
        rtt = median_ms(lambda: c.call("agent.getState", timeout=60), 50)
        print("store: %d journal rows, %d contact records (%d days)"
              % (rows, recs, days))
        print("agent.getState round trip: %.3f ms (median of 50)" % rtt)
        mid = START + (days // 2) * DAY
        for name, span in (("a day", DAY), ("a week", 7 * DAY),
                           ("a month", 30 * DAY),
                           ("the year", days * DAY)):
            frm = START if span == days * DAY else mid
            params = {"from": frm, "to": frm + span}
            got = c.call("report.agents", params, timeout=60)
            assert got["agents"], got
            ms = median_ms(lambda: c.call("report.agents", params,
                                          timeout=60), rounds)
            mms = median_ms(lambda: c.call("metrics.get", params,
                                           timeout=60), rounds)
            print("report.agents over %-8s %8.1f ms = %6.0fx getState, "
                  "%5.2fx metrics.get (%.1f ms)"
                  % (name + ":", ms, ms / rtt, ms / mms, mms))
    finally:
        d.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
