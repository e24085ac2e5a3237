"""Pipelined statements through pgscale with libpq's pipeline mode (psycopg.pq is libpq itself).

usage: routing_pipeline.py [--one-sync] [--named] CONNINFO GAP_SECONDS SQL [SQL ...]
Each SQL is sent as its own extended-protocol query followed by a Sync, and flushed; GAP_SECONDS
pass between two of them, so pgscale reads them separately while the first is still running
(the first SQL should take longer than the gaps, e.g. pg_sleep). Nothing is read until all are
sent. Prints one line per SQL: `ok <last column of the last row>` or `error <SQLSTATE> <message>`.
--one-sync: no Sync between the SQLs (one implicit transaction), a single Sync after the last.
--named: each SQL is prepared as a named statement (s1, s2, ...) and that statement executed.
"""
import sys
import time

from psycopg import pq


def main() -> int:
    args = sys.argv[1:]
    one_sync = named = False
    while args and args[0] in ("--one-sync", "--named"):
        one_sync = one_sync or args[0] == "--one-sync"
        named = named or args[0] == "--named"
        args = args[1:]
    conninfo, gap, sqls = args[0], float(args[1]), args[2:]
    pg = pq.PGconn.connect(conninfo.encode())
    if pg.status != pq.ConnStatus.OK:
        print("connect failed:", pg.error_message.decode(errors="replace"), file=sys.stderr)
        return 2
    pg.enter_pipeline_mode()
    for i, sql in enumerate(sqls):
        if i:
            time.sleep(gap)
        if named:
            pg.send_prepare(f"s{i + 1}".encode(), sql.encode())
            pg.send_query_prepared(f"s{i + 1}".encode(), None)
        else:
            pg.send_query_params(sql.encode(), None)
        if not one_sync or i == len(sqls) - 1:
            pg.pipeline_sync()
        while pg.flush() == 1:
            time.sleep(0.001)
    out = []
    syncs = 0
    want_syncs = 1 if one_sync else len(sqls)
    last = None
    for _ in range(20 * len(sqls) + 20):  # every loop bounded: a result, a None or a sync each
        if syncs == want_syncs:
            break
        r = pg.get_result()
        if r is None:
            if one_sync and last is not None:  # the end of one statement's results
                out.append(last)
                last = None
            continue
        st = r.status
        if st == pq.ExecStatus.PIPELINE_SYNC:
            syncs += 1
            if not one_sync:
                out.append(last if last is not None else "none")
            last = None
        elif st == pq.ExecStatus.TUPLES_OK:
            last = "ok " + (r.get_value(r.ntuples - 1, r.nfields - 1) or b"").decode() if r.ntuples else "ok"
        elif st == pq.ExecStatus.COMMAND_OK:
            last = "ok"
        elif st in (pq.ExecStatus.FATAL_ERROR, pq.ExecStatus.PIPELINE_ABORTED):
            if last is None or not last.startswith("error"):
                code = (r.error_field(pq.DiagnosticField.SQLSTATE) or b"-----").decode()
                msg = (r.error_field(pq.DiagnosticField.MESSAGE_PRIMARY) or b"").decode()
                last = f"error {code} {msg}" if st == pq.ExecStatus.FATAL_ERROR else "error aborted"
        else:
            last = f"status {st.name}"
    for line in out:
        print(line)
    pg.exit_pipeline_mode()
    pg.finish()
    return 0 if syncs == want_syncs else 3


if __name__ == "__main__":
    sys.exit(main())
