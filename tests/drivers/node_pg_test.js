// node-postgres through the target (issue 4): many connections over a pool of few servers, named
// server-side prepared statements ({name, text}: the same names on every connection with different
// texts), transactions (commit and rollback), SET / SET LOCAL, a unique violation after which the
// connection goes on, DISCARD ALL. Exits 1 on any mismatch, printing each.
//
// Environment: TXPOOL_HOST, TXPOOL_PORT, TXPOOL_USER, TXPOOL_PASSWORD, TXPOOL_DB; TXPOOL_CONNS (20),
// TXPOOL_ROUNDS (15), TXPOOL_SEED. NODE_PATH must reach the `pg` module (Debian: /usr/share/nodejs).
'use strict';
const { Client: PgClient } = require('pg');

const TABLE = 'txdrv_node_pg';
let checks = 0;
let mismatches = 0;

function expect(ok, what) {
  checks++;
  if (!ok) {
    mismatches++;
    console.log('MISMATCH: ' + what);
  }
}

function env(name, fallback) {
  const v = process.env[name];
  return v === undefined || v === '' ? fallback : v;
}

// Small deterministic generator (mulberry32) so a run can be repeated with TXPOOL_SEED.
function rng(seed) {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

async function connect(app) {
  const c = new PgClient({
    host: env('TXPOOL_HOST', '127.0.0.1'), port: Number(env('TXPOOL_PORT', '5432')),
    user: env('TXPOOL_USER', 'app'), password: env('TXPOOL_PASSWORD', ''), database: env('TXPOOL_DB', 'appdb'),
    application_name: app, connectionTimeoutMillis: 10000, query_timeout: 60000,
  });
  await c.connect();
  return c;
}

class Client {
  constructor(i, conn) {
    this.i = i;
    this.conn = conn;
    this.app = 'drv_node_' + i;
    this.timeout = '0';
    this.rows = 0;
    this.nextId = i * 100000;
  }

  // A named statement with the same name and text on every connection, results per client.
  async check(where, app = this.app, timeout = this.timeout) {
    const r = await this.conn.query({
      name: 'show_settings',
      text: "SELECT current_setting('application_name') AS a, current_setting('statement_timeout') AS t, $1::int AS i",
      values: [this.i],
    });
    const got = `${r.rows[0].a}|${r.rows[0].t}|${r.rows[0].i}`;
    const want = `${app}|${timeout}|${this.i}`;
    expect(got === want, `client ${this.i} ${where}: expected ${want}, got ${got}`);
  }

  async opSet(r) {
    this.app = `drv_node_${this.i}_r${r}`;
    this.timeout = `${30001 + this.i * 100 + r}ms`;
    await this.conn.query(`SET application_name = '${this.app}'`);
    await this.conn.query(`SET statement_timeout = ${30001 + this.i * 100 + r}`);
    await this.check('after SET');
  }

  async opPrepared() {
    // The same statement name on every connection, a per-client text.
    for (let k = 0; k < 3; k++) {
      const r = await this.conn.query({
        name: 'per_client', text: `SELECT $1::int + ${this.i} AS n, $2::text || '-${this.i}' AS s`,
        values: [k, 'k' + k],
      });
      const got = `${r.rows[0].n},${r.rows[0].s}`;
      expect(got === `${k + this.i},k${k}-${this.i}`, `client ${this.i} prepared: got ${got}`);
    }
  }

  insert(id) {
    return this.conn.query({ name: 'insert_row', text: `INSERT INTO ${TABLE} (id, owner) VALUES ($1, $2)`,
                             values: [id, this.i] });
  }

  async opCommit() {
    await this.conn.query('BEGIN');
    await this.conn.query('SET LOCAL statement_timeout = 4321');
    await this.check('in a transaction with SET LOCAL', this.app, '4321ms');
    await this.insert(++this.nextId);
    await this.conn.query('COMMIT');
    this.rows++;
    await this.check('after COMMIT');
  }

  async opRollback() {
    await this.conn.query('BEGIN');
    await this.insert(this.i * 100000 + 99999);
    await this.conn.query("SET application_name = 'rolled_back'");
    await this.conn.query('ROLLBACK');
    await this.check('after ROLLBACK');
  }

  async opUniqueViolation() {
    if (this.rows === 0) return;
    for (const inTransaction of [false, true]) {
      if (inTransaction) await this.conn.query('BEGIN');
      try {
        await this.insert(this.nextId);
        expect(false, `client ${this.i}: duplicate key accepted`);
      } catch (e) {
        expect(e.code === '23505', `client ${this.i}: SQLSTATE ${e.code} ${e.message}`);
      }
      if (inTransaction) await this.conn.query('ROLLBACK');
    }
    await this.check('after unique violations');
  }

  async verifyRows() {
    const r = await this.conn.query({ name: 'count_rows', text: `SELECT count(*)::int AS n FROM ${TABLE} WHERE owner = $1`,
                                      values: [this.i] });
    expect(r.rows[0].n === this.rows, `client ${this.i}: ${r.rows[0].n} rows, expected ${this.rows}`);
  }
}

async function main() {
  const conns = Number(env('TXPOOL_CONNS', '20'));
  const rounds = Number(env('TXPOOL_ROUNDS', '15'));
  const random = rng(Number(env('TXPOOL_SEED', '4')));
  const setup = await connect('drv_node_setup');
  await setup.query(`DROP TABLE IF EXISTS ${TABLE}`);
  await setup.query(`CREATE TABLE ${TABLE} (id int PRIMARY KEY, owner int NOT NULL)`);
  await setup.end();
  const clients = [];
  for (let i = 0; i < conns; i++) clients.push(new Client(i, await connect('drv_node_' + i)));
  for (const cl of clients) await cl.check('fresh connection');
  for (let r = 0; r < rounds; r++) {
    const order = clients.slice();
    for (let k = order.length - 1; k > 0; k--) {
      const j = Math.floor(random() * (k + 1));
      [order[k], order[j]] = [order[j], order[k]];
    }
    // All clients of a round at once: node-pg runs them concurrently on one event loop.
    await Promise.all(order.map((cl) => {
      switch (Math.floor(random() * 5)) {
        case 0: return cl.opSet(r);
        case 1: return cl.opPrepared();
        case 2: return cl.opCommit();
        case 3: return cl.opRollback();
        default: return cl.opUniqueViolation();
      }
    }));
  }
  for (const cl of clients) {
    await cl.verifyRows();
    await cl.check('at the end');
    // node-pg keeps its own list of prepared names: a named query after DISCARD ALL would not be
    // re-prepared, so the check after it is a plain query.
    await cl.conn.query('DISCARD ALL');
    const r = await cl.conn.query("SELECT current_setting('application_name') AS a, current_setting('statement_timeout') AS t");
    expect(r.rows[0].a === 'drv_node_' + cl.i && r.rows[0].t === '0',
           `client ${cl.i} after DISCARD ALL: got ${r.rows[0].a}|${r.rows[0].t}`);
    await cl.conn.end();
  }
  console.log(`# node-postgres ${require('pg/package.json').version}: ${conns} connections x ${rounds} rounds, ${checks} checks, ${mismatches} mismatches`);
  return mismatches > 0 || checks === 0 ? 1 : 0;
}

main().then((code) => process.exit(code), (e) => {
  console.log('ERROR: ' + (e && e.stack ? e.stack : e));
  process.exit(1);
});
