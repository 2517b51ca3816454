// One suite, every transport: the embedded file, :memory:, and @libsql/client (the remote
// transport's code path, driven over a file: URL because no libSQL server runs here).
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { existsSync, mkdtempSync, rmSync, statSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@libsql/client";
import Libsql from "libsql";
import { LocalStore } from "../../../src/db/store/local.ts";
import { RemoteStore } from "../../../src/db/store/remote.ts";
import { StoreError } from "../../../src/db/store/errors.ts";
import { openStore } from "../../../src/db/store/index.ts";
import type { Store } from "../../../src/db/store/types.ts";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "cave-store-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const transports: [string, () => Store][] = [
  ["a local file", () => new LocalStore(join(dir, "t.db"))],
  ["a local :memory: database", () => new LocalStore(":memory:")],
  [
    "the @libsql/client transport",
    () =>
      new RemoteStore("file:test", { client: createClient({ url: `file:${join(dir, "r.db")}`, intMode: "bigint" }) }),
  ],
];

async function caught(p: Promise<unknown>): Promise<StoreError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof StoreError) return e;
    throw e;
  }
  throw new Error("expected a StoreError, got success");
}

describe.each(transports)("over %s", (_name, open) => {
  let s: Store;
  beforeEach(async () => {
    s = open();
    await s.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT NOT NULL UNIQUE, data BLOB, score REAL)", []);
  });
  afterEach(() => s.close());

  test("an insert reports the rows affected and the new rowid", async () => {
    const r = await s.execute("INSERT INTO t (name, score) VALUES (?1, ?2), (?3, ?4)", ["a", 1.5, "b", 2]);
    expect(r).toEqual({ columns: [], columnTypes: [], rows: [], rowsAffected: 2, lastInsertRowid: 2n });
  });

  test("a select returns positional rows with names and declared types", async () => {
    await s.execute("INSERT INTO t (name, data, score) VALUES (?1, ?2, ?3)", ["a", new Uint8Array([1, 2, 3]), 0.25]);
    const r = await s.execute("SELECT id, name, data, score, 9007199254740993 AS big FROM t WHERE name = ?1", ["a"]);
    expect(r.columns).toEqual(["id", "name", "data", "score", "big"]);
    expect(r.columnTypes).toEqual(["INTEGER", "TEXT", "BLOB", "REAL", ""]);
    expect(r.rows.length).toBe(1);
    const [id, name, data, score, big] = r.rows[0] as unknown[];
    expect([id, name, score, big]).toEqual([1, "a", 0.25, 9007199254740993n]);
    expect(data).toBeInstanceOf(Uint8Array);
    expect([...(data as Uint8Array)]).toEqual([1, 2, 3]);
    expect(r.rowsAffected).toBe(0);
  });

  test("bigint parameters past 2^53 are stored exactly", async () => {
    await s.execute("CREATE TABLE n (v INTEGER)", []);
    await s.execute("INSERT INTO n VALUES (?1), (?2)", [2n ** 62n, -(2n ** 63n)]);
    const r = await s.execute("SELECT v FROM n ORDER BY v", []);
    expect(r.rows).toEqual([[-(2n ** 63n)], [2n ** 62n]]);
  });

  test("RETURNING rows count as the rows affected", async () => {
    await s.execute("INSERT INTO t (name) VALUES ('a'), ('b'), ('c')", []);
    const r = await s.execute("UPDATE t SET score = 1 WHERE name <> ?1 RETURNING name", ["b"]);
    expect(r.columns).toEqual(["name"]);
    expect(r.rows.map((row) => row[0]).sort()).toEqual(["a", "c"]);
    expect(r.rowsAffected).toBe(2);
    expect(r.lastInsertRowid).toBe(null);
  });

  test("a unique violation carries SQLITE_CONSTRAINT_UNIQUE", async () => {
    await s.execute("INSERT INTO t (name) VALUES ('a')", []);
    const e = await caught(s.execute("INSERT INTO t (name) VALUES ('a')", []));
    expect([e.code, e.sqliteCode, e.primaryCode, e.message]).toEqual([
      "DB_STORE",
      "SQLITE_CONSTRAINT_UNIQUE",
      "SQLITE_CONSTRAINT",
      "UNIQUE constraint failed: t.name",
    ]);
  });

  test("a NULL in a NOT NULL column carries SQLITE_CONSTRAINT_NOTNULL", async () => {
    const e = await caught(s.execute("INSERT INTO t (name) VALUES (NULL)", []));
    expect([e.sqliteCode, e.message]).toEqual(["SQLITE_CONSTRAINT_NOTNULL", "NOT NULL constraint failed: t.name"]);
  });

  test("foreign keys are enforced", async () => {
    if (s instanceof RemoteStore) await s.execute("PRAGMA foreign_keys = ON", []); // a server decides this itself
    await s.execute("CREATE TABLE c (id INTEGER PRIMARY KEY, t_id INTEGER REFERENCES t (id))", []);
    const e = await caught(s.execute("INSERT INTO c (t_id) VALUES (42)", []));
    expect([e.sqliteCode, e.message]).toEqual(["SQLITE_CONSTRAINT_FOREIGNKEY", "FOREIGN KEY constraint failed"]);
  });

  test("a syntax error and a missing table carry SQLITE_ERROR with SQLite's message", async () => {
    const syntax = await caught(s.execute("SELEC 1", []));
    expect([syntax.sqliteCode, syntax.message]).toEqual(["SQLITE_ERROR", 'near "SELEC": syntax error']);
    const missing = await caught(s.execute("SELECT * FROM nope", []));
    expect([missing.sqliteCode, missing.message]).toEqual(["SQLITE_ERROR", "no such table: nope"]);
  });

  test("a rolled-back transaction leaves nothing and a committed one keeps its rows", async () => {
    expect(s.inTransaction()).toBe(false);
    await s.execute("BEGIN", []);
    expect(s.inTransaction()).toBe(true);
    await s.execute("INSERT INTO t (name) VALUES ('gone')", []);
    await s.execute("ROLLBACK", []);
    expect(s.inTransaction()).toBe(false);
    await s.execute("BEGIN", []);
    await s.execute("INSERT INTO t (name) VALUES ('kept')", []);
    await s.execute("SAVEPOINT sp", []);
    await s.execute("INSERT INTO t (name) VALUES ('undone')", []);
    await s.execute("ROLLBACK TO SAVEPOINT sp", []);
    expect(s.inTransaction()).toBe(true);
    await s.execute("COMMIT", []);
    expect(s.inTransaction()).toBe(false);
    expect((await s.execute("SELECT name FROM t ORDER BY id", [])).rows).toEqual([["kept"]]);
  });

  test("a failed statement inside a transaction leaves the transaction open", async () => {
    await s.execute("BEGIN", []);
    await s.execute("INSERT INTO t (name) VALUES ('a')", []);
    await caught(s.execute("INSERT INTO t (name) VALUES ('a')", []));
    expect(s.inTransaction()).toBe(true);
    await s.execute("COMMIT", []);
    expect((await s.execute("SELECT count(*) FROM t", [])).rows).toEqual([[1]]);
  });

  test("COMMIT without BEGIN is an error", async () => {
    const e = await caught(s.execute("COMMIT", []));
    expect([e.sqliteCode, e.message]).toEqual(["SQLITE_ERROR", "cannot commit - no transaction is active"]);
  });

  test("a closed store refuses statements with SQLITE_MISUSE", async () => {
    s.close();
    const e = await caught(s.execute("SELECT 1", []));
    expect([e.sqliteCode, e.message]).toEqual(["SQLITE_MISUSE", "the database connection is closed"]);
  });
});

describe("the embedded file", () => {
  test("opens in WAL mode with synchronous=FULL, a busy timeout and foreign keys on", () => {
    const s = new LocalStore(join(dir, "p.db"));
    expect([
      s.pragma("journal_mode"),
      s.pragma("synchronous"),
      s.pragma("busy_timeout"),
      s.pragma("foreign_keys"),
    ]).toEqual([[["wal"]], [[2]], [[5000]], [[1]]]);
    s.close();
  });

  test("checkpoint folds the WAL into the database and truncates it", async () => {
    const path = join(dir, "c.db");
    const s = new LocalStore(path);
    await s.execute("CREATE TABLE t (v)", []);
    for (let i = 0; i < 50; i++) await s.execute("INSERT INTO t VALUES (?1)", [i]);
    expect(statSync(`${path}-wal`).size).toBeGreaterThan(0);
    const r = await s.checkpoint();
    // 51 commits of one page each (the first also writes sqlite_schema), in WAL frames.
    expect(r).toEqual({ busy: 0, log: 52, checkpointed: 52 });
    expect(statSync(`${path}-wal`).size).toBe(0);
    expect(await s.checkpoint()).toEqual({ busy: 0, log: 0, checkpointed: 0 });
    s.close();
  });

  test("checkpoint reports busy while another connection still reads from the log", async () => {
    const path = join(dir, "busy.db");
    const a = new LocalStore(path);
    const b = new LocalStore(path);
    await a.execute("CREATE TABLE t (v)", []);
    await b.execute("BEGIN", []);
    await b.execute("SELECT count(*) FROM t", []);
    await a.execute("INSERT INTO t VALUES (1)", []);
    // TRUNCATE waits for readers up to the busy timeout (5 s by default): shorten it here.
    a.pragma("busy_timeout = 50");
    const r = await a.checkpoint();
    expect(r.busy).toBe(1);
    expect(statSync(`${path}-wal`).size).toBeGreaterThan(0);
    await b.execute("COMMIT", []);
    expect((await a.checkpoint()).busy).toBe(0);
    expect(statSync(`${path}-wal`).size).toBe(0);
    a.close();
    b.close();
  });

  test("backup copies the committed state while another connection holds a write transaction", async () => {
    const path = join(dir, "b.db");
    const a = new LocalStore(path);
    const b = new LocalStore(path);
    await a.execute("CREATE TABLE t (v INTEGER)", []);
    await a.execute("INSERT INTO t VALUES (1), (2)", []);
    await b.execute("BEGIN IMMEDIATE", []);
    await b.execute("INSERT INTO t VALUES (3)", []);
    const copy = join(dir, "copy.db");
    await a.backup(copy);
    await b.execute("COMMIT", []);
    const c = new LocalStore(copy);
    expect((await c.execute("SELECT v FROM t ORDER BY v", [])).rows).toEqual([[1], [2]]);
    expect(c.pragma("integrity_check")).toEqual([["ok"]]);
    c.close();
    a.close();
    b.close();
  });

  test("backup refuses to overwrite an existing file", async () => {
    const s = new LocalStore(join(dir, "b.db"));
    await s.backup(join(dir, "copy.db"));
    const e = await caught(s.backup(join(dir, "copy.db")));
    expect([e.sqliteCode, e.message]).toEqual(["SQLITE_ERROR", "output file already exists"]);
    s.close();
  });

  test("a second connection waits for another process's write lock instead of failing with SQLITE_BUSY", async () => {
    const path = join(dir, "w.db");
    const a = new LocalStore(path);
    await a.execute("CREATE TABLE t (v INTEGER)", []);
    // The other process takes the write lock, says so, and commits 300 ms later.
    const script = `
      const Database = require(${JSON.stringify(require.resolve("libsql"))});
      const db = new Database(${JSON.stringify(path)});
      db.exec("BEGIN IMMEDIATE; INSERT INTO t VALUES (1)");
      console.log("locked");
      setTimeout(() => { db.exec("COMMIT"); db.close(); }, 300);`;
    const child = Bun.spawn([process.execPath, "-e", script], { stdout: "pipe", stderr: "inherit" });
    const reader = child.stdout.getReader();
    const first = await reader.read();
    expect(new TextDecoder().decode(first.value)).toBe("locked\n");
    await a.execute("INSERT INTO t VALUES (2)", []);
    expect(await child.exited).toBe(0);
    expect((await a.execute("SELECT v FROM t ORDER BY v", [])).rows).toEqual([[1], [2]]);
    a.close();
  });

  test("a database in a missing directory fails with SQLITE_CANTOPEN and names the path", () => {
    const path = join(dir, "missing", "x.db");
    let e: unknown;
    try {
      new LocalStore(path);
    } catch (err) {
      e = err;
    }
    expect(e).toBeInstanceOf(StoreError);
    expect([(e as StoreError).sqliteCode, (e as StoreError).message]).toEqual([
      "SQLITE_CANTOPEN",
      `${path}: unable to open the database file`,
    ]);
    expect(existsSync(path)).toBe(false);
  });

  test("openStore picks the transport from the URL", () => {
    const local = openStore(`file:${join(dir, "o.db")}`);
    expect(local).toBeInstanceOf(LocalStore);
    expect(local.url).toBe(`file:${join(dir, "o.db")}`);
    local.close();
    const mem = openStore(":memory:");
    expect(mem.url).toBe(":memory:");
    mem.close();
    const remote = openStore("http://127.0.0.1:1");
    expect(remote).toBeInstanceOf(RemoteStore);
    expect(remote.url).toBe("http://127.0.0.1:1");
    remote.close();
  });
});

describe("statements that return at most one row", () => {
  test("read the same rows whether SQLite's program loops or not", async () => {
    const s = new LocalStore(":memory:");
    await s.execute("CREATE TABLE u (id INTEGER PRIMARY KEY, email TEXT UNIQUE, team INTEGER)", []);
    await s.execute("INSERT INTO u VALUES (1, 'a@x', 1), (2, 'b@x', 1), (3, 'c@x', 2)", []);
    const q = async (sql: string, params: StoreValueList = []) => (await s.execute(sql, params)).rows;
    expect(await q("SELECT id, email FROM u WHERE id = ?1", [2])).toEqual([[2, "b@x"]]);
    expect(await q("SELECT id, email FROM u WHERE id = ?1", [9])).toEqual([]);
    expect(await q("SELECT id FROM u WHERE email = ?1", ["c@x"])).toEqual([[3]]);
    expect(await q("SELECT id FROM u WHERE team = ?1 ORDER BY id", [1])).toEqual([[1], [2]]);
    expect(await q("SELECT 1 UNION ALL SELECT 2")).toEqual([[1], [2]]);
    expect(await q("SELECT count(*) FROM u")).toEqual([[3]]);
    expect(await q("SELECT id FROM u WHERE id IN (1, 3) ORDER BY id")).toEqual([[1], [3]]);
    expect(
      await q("WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 3) SELECT x FROM n"),
    ).toEqual([[1], [2], [3]]);
    expect(await q("SELECT value FROM json_each('[1,2]')")).toEqual([[1], [2]]);
    s.close();
  });
});

type StoreValueList = (string | number | bigint | null | Uint8Array)[];

describe("a cached one-row statement after a schema change", () => {
  test("returns every row once the unique index it relied on is dropped", async () => {
    const s = new LocalStore(join(dir, "s.db"));
    await s.execute("CREATE TABLE u (id INTEGER PRIMARY KEY, email TEXT)", []);
    await s.execute("CREATE UNIQUE INDEX u_email ON u (email)", []);
    await s.execute("INSERT INTO u VALUES (1, 'a@x')", []);
    const q = "SELECT id FROM u WHERE email = ?1 ORDER BY id";
    expect((await s.execute(q, ["a@x"])).rows).toEqual([[1]]);
    await s.execute("DROP INDEX u_email", []);
    await s.execute("INSERT INTO u VALUES (2, 'a@x')", []);
    expect((await s.execute(q, ["a@x"])).rows).toEqual([[1], [2]]);
    s.close();
  });

  test("returns every row after a rolled-back transaction that had created a unique index", async () => {
    const s = new LocalStore(join(dir, "r.db"));
    await s.execute("CREATE TABLE u (id INTEGER PRIMARY KEY, email TEXT)", []);
    await s.execute("INSERT INTO u VALUES (1, 'a@x'), (2, 'b@x')", []);
    const q = "SELECT id FROM u WHERE email = ?1 ORDER BY id";
    await s.execute("BEGIN", []);
    await s.execute("CREATE UNIQUE INDEX u_email ON u (email)", []);
    expect((await s.execute(q, ["a@x"])).rows).toEqual([[1]]);
    await s.execute("ROLLBACK", []);
    await s.execute("INSERT INTO u VALUES (3, 'a@x')", []);
    expect((await s.execute(q, ["a@x"])).rows).toEqual([[1], [3]]);
    s.close();
  });

  test("names the new columns after ALTER TABLE by this connection", async () => {
    const s = new LocalStore(join(dir, "c.db"));
    await s.execute("CREATE TABLE t (id INTEGER PRIMARY KEY)", []);
    await s.execute("INSERT INTO t VALUES (1)", []);
    const q = "SELECT * FROM t WHERE id = ?1";
    expect((await s.execute(q, [1])).columns).toEqual(["id"]);
    await s.execute("ALTER TABLE t ADD COLUMN note TEXT", []);
    const r = await s.execute(q, [1]);
    expect([r.columns, r.rows]).toEqual([["id", "note"], [[1, null]]]);
    s.close();
  });
});

describe("reads on one connection", () => {
  test("leave no statement active: DROP TABLE right after point reads and scans succeeds", async () => {
    for (const path of [":memory:", join(dir, "drop.db")]) {
      const s = new LocalStore(path);
      await s.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, k TEXT UNIQUE)", []);
      await s.execute("INSERT INTO t VALUES (1, 'a'), (2, 'b')", []);
      await s.execute("SELECT * FROM t WHERE id = ?1", [1]);
      await s.execute("SELECT * FROM t WHERE k = ?1", ["b"]);
      await s.execute("SELECT * FROM t", []);
      expect(await s.execute("DROP TABLE t", [])).toEqual({
        columns: [],
        columnTypes: [],
        rows: [],
        rowsAffected: 0,
        lastInsertRowid: null,
      });
      s.close();
    }
  });

  test.each([
    ["a point select", "SELECT v FROM t WHERE id = ?1", [1]],
    ["an empty point select", "SELECT v FROM t WHERE id = ?1", [-1]],
    ["a scan of 100 rows", "SELECT v FROM t WHERE id <= 100", []],
    ["a scan of 150 rows", "SELECT v FROM t WHERE id <= 150", []],
    ["an aggregate", "SELECT count(*) FROM t", []],
    ["an UPDATE … RETURNING", "UPDATE t SET v = v + 1 WHERE id <= 2 RETURNING v", []],
    ["a PRAGMA through the store", "PRAGMA table_info(t)", []],
  ] as [string, string, number[]][])(
    "end their snapshot: after %s the connection sees another's commit",
    async (_n, sql, params) => {
      const path = join(dir, "snap.db");
      const a = new LocalStore(path);
      const b = new LocalStore(path);
      await a.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER)", []);
      await a.execute(
        "WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s WHERE x < 200) INSERT INTO t SELECT x, x FROM s",
        [],
      );
      await a.execute(sql, params);
      await a.execute(sql, params);
      await b.execute("INSERT INTO t VALUES (1000, 1000)", []);
      expect((await a.execute("SELECT count(*) FROM t", [])).rows).toEqual([[201]]);
      const cp = await b.checkpoint();
      expect(cp.busy).toBe(0);
      a.close();
      b.close();
    },
  );
});

describe("a remote URL", () => {
  test("whose server does not answer fails with SQLITE_CANTOPEN naming the URL", async () => {
    const server = Bun.serve({ port: 0, hostname: "127.0.0.1", fetch: () => new Response("") });
    const url = `http://127.0.0.1:${server.port}`;
    await server.stop(true);
    const s = openStore(url);
    const e = await caught(s.execute("SELECT 1", []));
    expect([e.sqliteCode, e.message]).toEqual([
      "SQLITE_CANTOPEN",
      `${url}: cannot reach the database server: Unable to connect. Is the computer able to access the url? (ECONNREFUSED)`,
    ]);
    s.close();
  });
});

describe("the one-row fast path", () => {
  test("a statement run with changing parameters returns each run's own rows", async () => {
    const s = new LocalStore(":memory:");
    await s.execute("CREATE TABLE u (id INTEGER PRIMARY KEY, e TEXT)", []);
    await s.execute("INSERT INTO u VALUES (1, 'a'), (2, 'b'), (3, 'c')", []);
    const q = "SELECT id, e FROM u WHERE id = ?1";
    const runs: unknown[] = [];
    for (const id of [2, 9, 3, 2, 9, 1]) runs.push((await s.execute(q, [id])).rows);
    expect(runs).toEqual([[[2, "b"]], [], [[3, "c"]], [[2, "b"]], [], [[1, "a"]]]);
    expect(s.readsOneRow(q)).toBe(true);
    s.close();
  });


  test("returns exactly what libsql's all() returns, over many query shapes", async () => {
    const path = join(dir, "shapes.db");
    const s = new LocalStore(path);
    await s.execute("CREATE TABLE a (id INTEGER PRIMARY KEY, k TEXT UNIQUE, g INTEGER, v REAL)", []);
    await s.execute("CREATE TABLE b (id INTEGER PRIMARY KEY, a_id INTEGER, w TEXT)", []);
    await s.execute(
      "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n WHERE x < 50) INSERT INTO a SELECT x, 'k' || x, x % 5, x * 1.5 FROM n",
      [],
    );
    await s.execute("INSERT INTO b SELECT id, id % 7 + 1, 'w' || id FROM a", []);
    const shapes: [string, StoreValueList][] = [
      ["SELECT * FROM a WHERE id = ?1", [3]],
      ["SELECT * FROM a WHERE id = ?1", [999]],
      ["SELECT * FROM a WHERE k = ?1", ["k7"]],
      ["SELECT * FROM a WHERE id = ?1 LIMIT 1", [4]],
      ["SELECT * FROM a WHERE g = ?1", [2]],
      ["SELECT * FROM a WHERE id IN (?1, ?2)", [1, 2]],
      ["SELECT * FROM a WHERE id > ?1 LIMIT 3 OFFSET 1", [10]],
      ["SELECT count(*), sum(v) FROM a", []],
      ["SELECT g, count(*) FROM a GROUP BY g ORDER BY g", []],
      ["SELECT a.id, b.w FROM a JOIN b ON b.a_id = a.id WHERE a.id = ?1", [2]],
      ["SELECT (SELECT k FROM a WHERE id = ?1) AS k", [5]],
      ["SELECT * FROM a WHERE id = ?1 UNION ALL SELECT * FROM a WHERE id = ?2", [1, 2]],
      ["SELECT * FROM a WHERE id = ?1 UNION SELECT * FROM a WHERE id = ?1", [1]],
      ["SELECT EXISTS (SELECT 1 FROM b WHERE a_id = ?1)", [3]],
      ["SELECT id, row_number() OVER (ORDER BY id DESC) FROM a WHERE id < ?1", [4]],
      ["WITH t AS (SELECT * FROM a WHERE id = ?1) SELECT * FROM t, t AS u", [6]],
      ["SELECT DISTINCT g FROM a ORDER BY g", []],
      ["SELECT * FROM a WHERE id = (SELECT max(id) FROM a)", []],
      ["SELECT value FROM json_each(?1)", ["[1,2,3]"]],
      ["SELECT 1 WHERE ?1", [0]],
    ];
    expect(shapes.slice(0, 6).map(([sql]) => s.readsOneRow(sql))).toEqual([true, true, true, false, false, false]);
    const raw = new Libsql(path);
    for (const [sql, params] of shapes) {
      const expected = (raw.prepare(sql).raw(true).all(params) as unknown[][]).map((row) =>
        row.map((v) => (typeof v === "bigint" ? Number(v) : v)),
      );
      expect({ sql, rows: (await s.execute(sql, params)).rows }).toEqual({ sql, rows: expected });
      // Twice: the second run takes the cached statement.
      expect({ sql, rows: (await s.execute(sql, params)).rows }).toEqual({ sql, rows: expected });
    }
    raw.close();
    s.close();
  });
});
