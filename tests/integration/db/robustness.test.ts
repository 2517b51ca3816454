// Whatever the user sends, the engine answers with a DbError or a result: never a crash, never
// a statement passed through to SQLite. Plus EXPLAIN and the plan cache.
import { expect, test } from "bun:test";
import { DbError } from "../../../src/db/errors.ts";
import { describeOnEveryStore, failureOf, run } from "../../helpers/engine.ts";

describeOnEveryStore("robustness", (fx) => {
  test("garbage, SQLite-only statements and deep nesting are refused with a SQLSTATE", async () => {
    await run(fx.engine, "CREATE TABLE t (a int)");
    const inputs = [
      "",
      ";;;",
      "\u0000",
      "SELECT 'unterminated",
      "PRAGMA writable_schema = ON",
      "ATTACH DATABASE '/tmp/x.db' AS x",
      "VACUUM",
      "SELECT * FROM t NOT INDEXED",
      "INSERT OR REPLACE INTO t VALUES (1)",
      "SELECT load_extension('x')",
      "SELECT readfile('/etc/passwd')",
      `SELECT ${"(".repeat(2000)}1${")".repeat(2000)}`,
      `SELECT ${Array.from({ length: 3000 }, (_, i) => i).join(" + ")}`,
      "SELECT 1 FROM t WHERE a IN (SELECT a, a FROM t)",
      "SELECT $0",
      "CREATE TABLE sqlite_x (a int)",
      "DROP TABLE _cave_columns",
    ];
    for (const sql of inputs) {
      let outcome: string;
      try {
        const r = await fx.engine.query(sql);
        outcome = `ok ${r.command}`;
      } catch (e) {
        expect(e).toBeInstanceOf(DbError);
        outcome = (e as DbError).sqlstate;
      }
      expect(outcome).not.toBe("XX000");
    }
    expect((await fx.engine.query("SELECT count(*) FROM t")).rows).toEqual([[0]]);
  });

  test("EXPLAIN shows cave's plan, not SQLite's", async () => {
    await run(fx.engine, "CREATE TABLE u (id int PRIMARY KEY, team text)", "CREATE TABLE p (uid int, n int)");
    const r = await fx.engine.query(
      "EXPLAIN SELECT u.team, sum(p.n) FROM u JOIN p ON p.uid = u.id WHERE p.n > 0 GROUP BY u.team ORDER BY 2 DESC LIMIT 3",
    );
    expect(r).toEqual({
      command: "EXPLAIN",
      columns: [{ name: "QUERY PLAN", type: "text" }],
      rows: [
        ["Limit 3"],
        ["  ->  Sort: 2 DESC"],
        ["      ->  Result (team, sum)"],
        ["          ->  HashAggregate: group by u.team"],
        ["              ->  Filter: (p.n > 0)"],
        ["                  ->  Nested Loop Inner Join on (p.uid = u.id)"],
        ["                      ->  Seq Scan on u"],
        ["                      ->  Seq Scan on p"],
      ],
      rowCount: 8,
    });
  });

  test("a cached statement is planned again after the catalog changes", async () => {
    await run(fx.engine, "CREATE TABLE t (a int)", "INSERT INTO t VALUES (1)");
    expect((await fx.engine.query("SELECT * FROM t")).columns).toEqual([{ name: "a", type: "int4" }]);
    const before = fx.engine.catalogVersion;
    await run(fx.engine, "ALTER TABLE t ADD COLUMN b text DEFAULT 'x'");
    expect(fx.engine.catalogVersion).toBeGreaterThan(before);
    expect(await fx.engine.query("SELECT * FROM t")).toEqual({
      command: "SELECT 1",
      columns: [
        { name: "a", type: "int4" },
        { name: "b", type: "text" },
      ],
      rows: [[1, "x"]],
      rowCount: 1,
    });
  });

  test("several statements in one text run in order and return the last result", async () => {
    expect((await fx.engine.query("CREATE TABLE t (a int); INSERT INTO t VALUES (1), (2); SELECT count(*) FROM t")).rows).toEqual([[2]]);
    expect((await failureOf(fx.engine.query("SELECT 1; SELECT $1", [1])))[0]).toBe("42601");
  });

  test("several statements run in one implicit transaction: a failure undoes the ones before it", async () => {
    await run(fx.engine, "CREATE TABLE t (a int PRIMARY KEY)");
    expect((await failureOf(fx.engine.query("INSERT INTO t VALUES (1); INSERT INTO t VALUES (2); INSERT INTO t VALUES (1)")))[0]).toBe(
      "23505",
    );
    expect((await fx.engine.query("SELECT count(*) FROM t")).rows).toEqual([[0]]);
    await run(fx.engine, "BEGIN; INSERT INTO t VALUES (5); COMMIT");
    expect((await fx.engine.query("SELECT a FROM t")).rows).toEqual([[5]]);
  });
});

test("a table created through another connection to the same file is found without a restart", async () => {
  const { Engine } = await import("../../../src/db/engine.ts");
  const { tempStore } = await import("../../helpers/store.ts");
  const { openStore } = await import("../../../src/db/store/index.ts");
  const t = tempStore("file");
  const a = await Engine.open(t.store);
  const b = await Engine.open(openStore(t.path));
  try {
    await a.query("CREATE TABLE early (x int)");
    expect((await b.query("SELECT count(*) FROM early")).rows).toEqual([[0]]);
    await a.query("CREATE TABLE later (x int)");
    await a.query("INSERT INTO later VALUES (1)");
    expect((await b.query("SELECT x FROM later")).rows).toEqual([[1]]);
    await a.query("ALTER TABLE later RENAME COLUMN x TO y");
    expect(await b.query("SELECT y FROM later")).toEqual({ command: "SELECT 1", columns: [{ name: "y", type: "int4" }], rows: [[1]], rowCount: 1 });
  } finally {
    a.close();
    b.close();
    t.dispose();
  }
});
