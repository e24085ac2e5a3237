"""Pipelined statements through pgscale with libpq's pipeline mode (psycopg.pq is libpq itself).

usage: routing_pipeline.py CONNINFO GAP_SECONDS SQL [SQL ...]
Each SQL is sent as its own extended-protocol query followed by a Sync, and flushed; GAP_SECONDS
pass between two of them, so pgscale reads them separately while the first is still running
(the first SQL should take longer than the gaps, e.g. pg_sleep). Nothing is read until all are
sent. Prints one line per SQL: `ok <first column of the last row>` or `error <SQLSTATE> <message>`.
"""
import sys
import time

from psycopg import pq


def main() -> int:
    conninfo, gap, sqls = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
    pg = pq.PGconn.connect(conninfo.encode())
    if pg.status != pq.ConnStatus.OK:
        print("connect failed:", pg.error_message.decode(errors="replace"), file=sys.stderr)
        return 2
    pg.enter_pipeline_mode()
    for i, sql in enumerate(sqls):
        if i:
            time.sleep(gap)
        pg.send_query_params(sql.encode(), None)
        pg.pipeline_sync()
        while pg.flush() == 1:
            time.sleep(0.001)
    out = []
    syncs = 0
    last = None
    for _ in range(20 * len(sqls) + 20):  # every loop bounded: a result, a None or a sync each
        if syncs == len(sqls):
            break
        r = pg.get_result()
        if r is None:
            continue
        st = r.status
        if st == pq.ExecStatus.PIPELINE_SYNC:
            syncs += 1
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
    return 0 if syncs == len(sqls) else 3


if __name__ == "__main__":
    sys.exit(main())
