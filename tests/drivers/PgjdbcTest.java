// pgjdbc through the target (issue 4): many connections over a pool of few servers,
// server-side prepared statements (prepareThreshold=1: named statements S_1, S_2, ... from the first
// execution, the same names on every connection with different texts), transactions (commit and
// rollback), SET / SET LOCAL, a unique violation after which the connection goes on, DISCARD ALL.
// Exits 1 on any mismatch, printing each.
//
// Run without a build step: java -cp /usr/share/java/postgresql.jar PgjdbcTest.java
// Environment: TXPOOL_HOST, TXPOOL_PORT, TXPOOL_USER, TXPOOL_PASSWORD, TXPOOL_DB; TXPOOL_CONNS (20),
// TXPOOL_ROUNDS (15), TXPOOL_SEED.
import java.sql.Connection;
import java.sql.DriverManager;
import java.sql.PreparedStatement;
import java.sql.ResultSet;
import java.sql.SQLException;
import java.sql.Statement;
import java.util.ArrayList;
import java.util.Collections;
import java.util.List;
import java.util.Properties;
import java.util.Random;

public class PgjdbcTest {
  static final String TABLE = "txdrv_pgjdbc";
  static int checks = 0;
  static int mismatches = 0;

  static void expect(boolean ok, String what) {
    checks++;
    if (!ok) {
      mismatches++;
      System.out.println("MISMATCH: " + what);
    }
  }

  static String env(String name, String fallback) {
    String v = System.getenv(name);
    return v == null || v.isEmpty() ? fallback : v;
  }

  static Connection connect(String app) throws SQLException {
    Properties p = new Properties();
    p.setProperty("user", env("TXPOOL_USER", "app"));
    p.setProperty("password", env("TXPOOL_PASSWORD", ""));
    p.setProperty("ApplicationName", app);
    p.setProperty("prepareThreshold", "1");
    p.setProperty("sslmode", "disable");
    p.setProperty("connectTimeout", "10");
    p.setProperty("socketTimeout", "60");
    String url = "jdbc:postgresql://" + env("TXPOOL_HOST", "127.0.0.1") + ":" + env("TXPOOL_PORT", "5432") + "/" +
                 env("TXPOOL_DB", "appdb");
    return DriverManager.getConnection(url, p);
  }

  static final class Client {
    final int i;
    final Connection conn;
    String app;
    String timeout = "0";
    int rows = 0;
    int nextId;

    Client(int i) throws SQLException {
      this.i = i;
      this.app = "drv_jdbc_" + i;
      this.conn = connect(app);
      this.nextId = i * 100000;
    }

    // Identical text on every connection, results per client.
    void check(String where, String wantApp, String wantTimeout) throws SQLException {
      try (PreparedStatement ps = conn.prepareStatement(
               "SELECT current_setting('application_name'), current_setting('statement_timeout'), ?::int")) {
        ps.setInt(1, i);
        try (ResultSet rs = ps.executeQuery()) {
          rs.next();
          String got = rs.getString(1) + "|" + rs.getString(2) + "|" + rs.getInt(3);
          String want = wantApp + "|" + wantTimeout + "|" + i;
          expect(got.equals(want), "client " + i + " " + where + ": expected " + want + ", got " + got);
        }
      }
    }

    void check(String where) throws SQLException { check(where, app, timeout); }

    void exec(String sql) throws SQLException {
      try (Statement st = conn.createStatement()) {
        st.execute(sql);
      }
    }

    void opSet(int r) throws SQLException {
      app = "drv_jdbc_" + i + "_r" + r;
      timeout = (30001 + i * 100 + r) + "ms";
      exec("SET application_name = '" + app + "'");
      exec("SET statement_timeout = " + (30001 + i * 100 + r));
      check("after SET");
    }

    void opPrepared() throws SQLException {
      // Per-client text; pgjdbc names it S_n on this connection, as other connections name theirs.
      try (PreparedStatement ps = conn.prepareStatement("SELECT ?::int + " + i + ", ?::text || '-" + i + "'")) {
        for (int k = 0; k < 3; k++) {
          ps.setInt(1, k);
          ps.setString(2, "k" + k);
          try (ResultSet rs = ps.executeQuery()) {
            rs.next();
            String got = rs.getInt(1) + "," + rs.getString(2);
            expect(got.equals((k + i) + ",k" + k + "-" + i), "client " + i + " prepared: got " + got);
          }
        }
      }
    }

    boolean insert(int id) throws SQLException {
      try (PreparedStatement ps = conn.prepareStatement("INSERT INTO " + TABLE + " (id, owner) VALUES (?, ?)")) {
        ps.setInt(1, id);
        ps.setInt(2, i);
        return ps.executeUpdate() == 1;
      }
    }

    void opCommit() throws SQLException {
      conn.setAutoCommit(false);
      exec("SET LOCAL statement_timeout = 4321");
      check("in a transaction with SET LOCAL", app, "4321ms");
      expect(insert(++nextId), "client " + i + ": insert");
      conn.commit();
      conn.setAutoCommit(true);
      rows++;
      check("after COMMIT");
    }

    void opRollback() throws SQLException {
      conn.setAutoCommit(false);
      insert(i * 100000 + 99999);
      exec("SET application_name = 'rolled_back'");
      conn.rollback();
      conn.setAutoCommit(true);
      check("after ROLLBACK");
    }

    void opUniqueViolation() throws SQLException {
      if (rows == 0) return;
      try {
        insert(nextId);
        expect(false, "client " + i + ": duplicate key accepted");
      } catch (SQLException e) {
        expect("23505".equals(e.getSQLState()), "client " + i + ": SQLSTATE " + e.getSQLState());
      }
      conn.setAutoCommit(false);  // the same inside a transaction: aborted, rolled back
      try {
        insert(nextId);
        expect(false, "client " + i + ": duplicate key accepted in a transaction");
      } catch (SQLException e) {
        expect("23505".equals(e.getSQLState()), "client " + i + ": SQLSTATE " + e.getSQLState());
      }
      conn.rollback();
      conn.setAutoCommit(true);
      check("after unique violations");
    }

    void verifyRows() throws SQLException {
      try (PreparedStatement ps = conn.prepareStatement("SELECT count(*) FROM " + TABLE + " WHERE owner = ?")) {
        ps.setInt(1, i);
        try (ResultSet rs = ps.executeQuery()) {
          rs.next();
          expect(rs.getInt(1) == rows, "client " + i + ": " + rs.getInt(1) + " rows, expected " + rows);
        }
      }
    }
  }

  public static void main(String[] args) throws Exception {
    int conns = Integer.parseInt(env("TXPOOL_CONNS", "20"));
    int rounds = Integer.parseInt(env("TXPOOL_ROUNDS", "15"));
    Random rng = new Random(Long.parseLong(env("TXPOOL_SEED", "4")));
    try (Connection c = connect("drv_jdbc_setup"); Statement st = c.createStatement()) {
      st.execute("DROP TABLE IF EXISTS " + TABLE);
      st.execute("CREATE TABLE " + TABLE + " (id int PRIMARY KEY, owner int NOT NULL)");
    }
    List<Client> clients = new ArrayList<>();
    for (int i = 0; i < conns; i++) clients.add(new Client(i));
    for (Client cl : clients) cl.check("fresh connection");
    for (int r = 0; r < rounds; r++) {
      List<Client> order = new ArrayList<>(clients);
      Collections.shuffle(order, rng);
      for (Client cl : order) {
        switch (rng.nextInt(5)) {
          case 0 -> cl.opSet(r);
          case 1 -> cl.opPrepared();
          case 2 -> cl.opCommit();
          case 3 -> cl.opRollback();
          default -> cl.opUniqueViolation();
        }
      }
    }
    for (Client cl : clients) {
      cl.verifyRows();
      cl.check("at the end");
      // pgjdbc notices DISCARD ALL (its statement cache is dropped and re-prepared on demand).
      // It sets ApplicationName with a SET after the startup packet, so RESET ALL empties it.
      cl.exec("DISCARD ALL");
      cl.check("after DISCARD ALL", "", "0");
      cl.opPrepared();
      cl.conn.close();
    }
    System.out.println("# pgjdbc " + org.postgresql.util.DriverInfo.DRIVER_VERSION + ": " + conns +
                       " connections x " + rounds + " rounds, " + checks + " checks, " + mismatches + " mismatches");
    System.exit(mismatches > 0 || checks == 0 ? 1 : 0);
  }
}
