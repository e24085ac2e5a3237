#!/usr/bin/python3
"""psycopg 3 through the target (issue 4): many connections over a pool of few servers, server-side
prepared statements (prepare_threshold=0: every statement is a named server-side one, and psycopg
names them _pg3_0, _pg3_1, ... on every connection, so the same names carry different texts on
different connections), transactions (commit and rollback), SET / SET LOCAL, and a unique
violation after which the connection goes on. Exits 1 on any mismatch, printing each.

Environment: TXPOOL_HOST, TXPOOL_PORT, TXPOOL_USER, TXPOOL_PASSWORD, TXPOOL_DB; TXPOOL_CONNS (20),
TXPOOL_ROUNDS (15), TXPOOL_SEED. Run with /usr/bin/python3 (Debian's python3-psycopg).
"""
import os
import random
import sys

import psycopg
from psycopg import errors

TABLE = "txdrv_psycopg"
mismatches = []
checks = 0


def expect(ok, what):
    global checks
    checks += 1
    if not ok:
        mismatches.append(what)
        print("MISMATCH:", what, flush=True)


def connect(i):
    return psycopg.connect(
        host=os.environ["TXPOOL_HOST"], port=os.environ["TXPOOL_PORT"], user=os.environ["TXPOOL_USER"],
        password=os.environ["TXPOOL_PASSWORD"], dbname=os.environ["TXPOOL_DB"], sslmode="disable",
        connect_timeout=10, application_name=f"drv_py_{i}", options="", autocommit=True,
        prepare_threshold=0)


class Client:
    def __init__(self, i):
        self.i = i
        self.conn = connect(i)
        self.app = f"drv_py_{i}"
        self.timeout = "0"  # statement_timeout as SHOW prints it
        self.rows = 0
        self.next_id = i * 100000

    def show(self, prepare=True):
        # A prepared statement whose text is identical on every connection, results per client.
        return self.conn.execute(
            "SELECT current_setting('application_name'), current_setting('statement_timeout'), %s::int",
            (self.i,), prepare=prepare).fetchone()

    def check(self, where, app=None, timeout=None, prepare=True):
        got = self.show(prepare)
        want = (app or self.app, timeout or self.timeout, self.i)
        expect(got == want, f"client {self.i} {where}: expected {want}, got {got}")

    def op_set(self, r):
        self.app = f"drv_py_{self.i}_r{r}"
        self.timeout = f"{30001 + self.i * 100 + r}ms"
        self.conn.execute(f"SET application_name = '{self.app}'")
        self.conn.execute(f"SET statement_timeout = {30001 + self.i * 100 + r}")
        expect(self.conn.info.parameter_status("application_name") == self.app,
               f"client {self.i}: ParameterStatus application_name "
               f"{self.conn.info.parameter_status('application_name')} != {self.app}")
        self.check("after SET")

    def op_prepared(self):
        # Per-client text under a connection-local name (_pg3_N), a few parameters, several runs.
        for k in range(3):
            row = self.conn.execute(f"SELECT %s::int + {self.i}, %s::text || '-{self.i}'",
                                    (k, f"k{k}"), prepare=True).fetchone()
            expect(row == (k + self.i, f"k{k}-{self.i}"), f"client {self.i} prepared: got {row}")

    def op_commit(self):
        with self.conn.transaction():
            self.conn.execute("SET LOCAL statement_timeout = 4321")
            self.check("in a transaction with SET LOCAL", timeout="4321ms")
            self.next_id += 1
            self.conn.execute(f"INSERT INTO {TABLE} (id, owner) VALUES (%s, %s)", (self.next_id, self.i),
                              prepare=True)
        self.rows += 1
        self.check("after COMMIT")

    def op_rollback(self):
        class Undo(Exception):
            pass
        try:
            with self.conn.transaction():
                self.conn.execute(f"INSERT INTO {TABLE} (id, owner) VALUES (%s, %s)",
                                  (self.i * 100000 + 99999, self.i), prepare=True)
                self.conn.execute("SET application_name = 'rolled_back'")
                raise Undo()
        except Undo:
            pass
        self.check("after ROLLBACK")

    def op_unique_violation(self):
        if self.rows == 0:
            return
        try:
            self.conn.execute(f"INSERT INTO {TABLE} (id, owner) VALUES (%s, %s)", (self.next_id, self.i),
                              prepare=True)
            expect(False, f"client {self.i}: duplicate key accepted")
        except errors.UniqueViolation as e:
            expect(e.sqlstate == "23505", f"client {self.i}: sqlstate {e.sqlstate}")
        try:  # the same inside a transaction: aborted, rolled back, connection still fine
            with self.conn.transaction():
                self.conn.execute(f"INSERT INTO {TABLE} (id, owner) VALUES (%s, %s)", (self.next_id, self.i))
            expect(False, f"client {self.i}: duplicate key accepted in a transaction")
        except errors.UniqueViolation:
            pass
        self.check("after unique violations")

    def verify_rows(self):
        n = self.conn.execute(f"SELECT count(*) FROM {TABLE} WHERE owner = %s", (self.i,), prepare=True).fetchone()[0]
        expect(n == self.rows, f"client {self.i}: {n} rows, expected {self.rows}")


def main():
    conns = int(os.environ.get("TXPOOL_CONNS", "20"))
    rounds = int(os.environ.get("TXPOOL_ROUNDS", "15"))
    rng = random.Random(int(os.environ.get("TXPOOL_SEED", "4")))
    with connect("setup") as c:
        c.execute(f"DROP TABLE IF EXISTS {TABLE}")
        c.execute(f"CREATE TABLE {TABLE} (id int PRIMARY KEY, owner int NOT NULL)")
    clients = [Client(i) for i in range(conns)]
    for cl in clients:
        cl.check("fresh connection")
    ops = ["op_set", "op_prepared", "op_commit", "op_rollback", "op_unique_violation"]
    for r in range(rounds):
        order = list(clients)
        rng.shuffle(order)
        for cl in order:
            op = rng.choice(ops)
            getattr(cl, op)(r) if op == "op_set" else getattr(cl, op)()
    for cl in clients:
        cl.verify_rows()
        cl.check("at the end")
        # psycopg 3.1 does not notice DISCARD ALL dropping its prepared statements (later versions
        # do), so the check after it is not prepared; the connection is closed right after.
        cl.conn.execute("DISCARD ALL")
        cl.check("after DISCARD ALL", app=f"drv_py_{cl.i}", timeout="0", prepare=False)
        cl.conn.close()
    print(f"# psycopg {psycopg.__version__}: {conns} connections x {rounds} rounds, {checks} checks, "
          f"{len(mismatches)} mismatches")
    return 1 if mismatches or checks == 0 else 0


if __name__ == "__main__":
    sys.exit(main())
