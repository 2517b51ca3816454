// CREATE/ALTER/DROP TABLE, CREATE/DROP INDEX and VIEW through the engine.
import { expect, test } from "bun:test";
import { describeOnEveryStore, failureOf, run } from "../../helpers/engine.ts";

describeOnEveryStore("DDL", (fx) => {
  test("CREATE TABLE keeps each column's Postgres type for the results", async () => {
    await run(fx.engine, "CREATE TABLE t (a int, b bigint, c varchar(20), d boolean, e jsonb, f timestamptz, g uuid, h numeric(10,2))");
    const r = await fx.engine.query("SELECT * FROM t");
    expect(r.columns).toEqual([
      { name: "a", type: "int4" },
      { name: "b", type: "int8" },
      { name: "c", type: "varchar(20)" },
      { name: "d", type: "bool" },
      { name: "e", type: "jsonb" },
      { name: "f", type: "timestamptz" },
      { name: "g", type: "uuid" },
      { name: "h", type: "numeric(10,2)" },
    ]);
  });

  test("creating a table twice is 42P07, and IF NOT EXISTS leaves the first one alone", async () => {
    await run(fx.engine, "CREATE TABLE t (a int)");
    expect(await failureOf(fx.engine.query("CREATE TABLE t (b text)"))).toEqual(["42P07", 'relation "t" already exists', 0]);
    expect((await fx.engine.query("CREATE TABLE IF NOT EXISTS t (b text)")).command).toBe("CREATE TABLE");
    expect((await fx.engine.query("SELECT * FROM t")).columns).toEqual([{ name: "a", type: "int4" }]);
  });

  test("serial and identity primary keys number the rows", async () => {
    await run(fx.engine, "CREATE TABLE s (id serial PRIMARY KEY, v text)", "CREATE TABLE i (id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY, v text)");
    expect((await fx.engine.query("INSERT INTO s (v) VALUES ('a'), ('b') RETURNING id")).rows).toEqual([[1], [2]]);
    expect((await fx.engine.query("INSERT INTO i (v) VALUES ('a') RETURNING id, v")).rows).toEqual([[1, "a"]]);
  });

  test("an identity column that is not the primary key is refused as unsupported", async () => {
    expect((await failureOf(fx.engine.query("CREATE TABLE t (id int PRIMARY KEY, n serial)")))[0]).toBe("0A000");
  });

  test("ALTER TABLE adds, renames and drops columns and renames the table", async () => {
    await run(
      fx.engine,
      "CREATE TABLE t (a int)",
      "INSERT INTO t VALUES (1)",
      "ALTER TABLE t ADD COLUMN flag boolean DEFAULT true",
      "ALTER TABLE t RENAME COLUMN a TO n",
    );
    expect(await fx.engine.query("SELECT n, flag FROM t")).toEqual({
      command: "SELECT 1",
      columns: [
        { name: "n", type: "int4" },
        { name: "flag", type: "bool" },
      ],
      rows: [[1, true]],
      rowCount: 1,
    });
    await run(fx.engine, "ALTER TABLE t DROP COLUMN flag", "ALTER TABLE t RENAME TO u");
    expect((await fx.engine.query("SELECT * FROM u")).rows).toEqual([[1]]);
    expect((await failureOf(fx.engine.query("SELECT * FROM t")))[0]).toBe("42P01");
  });

  test("DROP TABLE removes the table, and IF EXISTS tolerates a missing one", async () => {
    await run(fx.engine, "CREATE TABLE t (a int)", "DROP TABLE t");
    expect(await failureOf(fx.engine.query("DROP TABLE t"))).toEqual(["42P01", 'table "t" does not exist', 0]);
    expect((await fx.engine.query("DROP TABLE IF EXISTS t")).command).toBe("DROP TABLE");
  });

  test("a unique index is enforced and can be dropped", async () => {
    await run(fx.engine, "CREATE TABLE t (a text)", "CREATE UNIQUE INDEX t_lower ON t (lower(a))", "INSERT INTO t VALUES ('x')");
    expect((await failureOf(fx.engine.query("INSERT INTO t VALUES ('X')")))[0]).toBe("23505");
    await run(fx.engine, "DROP INDEX t_lower", "INSERT INTO t VALUES ('X')");
    expect((await fx.engine.query("SELECT count(*) FROM t")).rows).toEqual([[2]]);
  });

  test("an unnamed index gets Postgres's table_column_idx name", async () => {
    await run(fx.engine, "CREATE TABLE t (a int)", "CREATE INDEX ON t (a)");
    expect((await fx.engine.query("DROP INDEX t_a_idx")).command).toBe("DROP INDEX");
  });

  test("a view is queried like a table, with its columns typed, and dropped", async () => {
    await run(
      fx.engine,
      "CREATE TABLE t (a int, ok boolean)",
      "INSERT INTO t VALUES (1, true), (2, false)",
      "CREATE VIEW good AS SELECT a, ok FROM t WHERE ok",
    );
    expect(await fx.engine.query("SELECT * FROM good")).toEqual({
      command: "SELECT 1",
      columns: [
        { name: "a", type: "int4" },
        { name: "ok", type: "bool" },
      ],
      rows: [[1, true]],
      rowCount: 1,
    });
    expect(await failureOf(fx.engine.query("DROP TABLE good"))).toEqual(["42809", '"good" is not a table', 12]);
    await run(fx.engine, "DROP VIEW good");
    expect((await failureOf(fx.engine.query("SELECT * FROM good")))[0]).toBe("42P01");
  });

  test("inserting into a view is refused", async () => {
    await run(fx.engine, "CREATE TABLE t (a int)", "CREATE VIEW v AS SELECT a FROM t");
    expect(await failureOf(fx.engine.query("INSERT INTO v VALUES (1)"))).toEqual(["42809", 'cannot insert into view "v"', 13]);
  });

  test("names that belong to the database itself cannot be created or read", async () => {
    expect(await failureOf(fx.engine.query("CREATE TABLE _cave_x (a int)"))).toEqual(["42939", 'name "_cave_x" is reserved', 14]);
    expect(await failureOf(fx.engine.query("SELECT * FROM sqlite_master"))).toEqual([
      "42P01",
      'relation "sqlite_master" does not exist',
      15,
    ]);
  });

  test("foreign keys are enforced, with ON DELETE CASCADE", async () => {
    await run(
      fx.engine,
      "CREATE TABLE p (id int PRIMARY KEY)",
      "CREATE TABLE c (id int PRIMARY KEY, p_id int REFERENCES p (id) ON DELETE CASCADE)",
      "INSERT INTO p VALUES (1)",
      "INSERT INTO c VALUES (10, 1)",
    );
    expect((await failureOf(fx.engine.query("INSERT INTO c VALUES (11, 2)")))[0]).toBe("23503");
    await run(fx.engine, "DELETE FROM p WHERE id = 1");
    expect((await fx.engine.query("SELECT count(*) FROM c")).rows).toEqual([[0]]);
  });

  test("CHECK constraints are enforced as 23514", async () => {
    await run(fx.engine, "CREATE TABLE t (a int CHECK (a > 0))");
    expect((await failureOf(fx.engine.query("INSERT INTO t VALUES (-1)")))[0]).toBe("23514");
  });

  test("CREATE TABLE … AS copies the query's rows and column types", async () => {
    await run(fx.engine, "CREATE TABLE t (a int, b text, ok boolean)", "INSERT INTO t VALUES (1, 'x', true), (2, 'y', false)");
    expect((await fx.engine.query("CREATE TABLE c AS SELECT a, b || '!' AS bb, ok FROM t WHERE a > 0")).command).toBe("SELECT 2");
    expect(await fx.engine.query("SELECT * FROM c ORDER BY a")).toEqual({
      command: "SELECT 2",
      columns: [
        { name: "a", type: "int4" },
        { name: "bb", type: "text" },
        { name: "ok", type: "bool" },
      ],
      rows: [
        [1, "x!", true],
        [2, "y!", false],
      ],
      rowCount: 2,
    });
  });

  test("columns added after others were dropped keep their types and order", async () => {
    await run(
      fx.engine,
      "CREATE TABLE t (a int)",
      "ALTER TABLE t ADD COLUMN b text, ADD COLUMN c boolean",
      "ALTER TABLE t DROP COLUMN b",
      "ALTER TABLE t ADD COLUMN d jsonb",
      `INSERT INTO t VALUES (1, true, '{"x": 1}')`,
    );
    expect(await fx.engine.query("SELECT * FROM t")).toEqual({
      command: "SELECT 1",
      columns: [
        { name: "a", type: "int4" },
        { name: "c", type: "bool" },
        { name: "d", type: "jsonb" },
      ],
      rows: [[1, true, { x: 1 }]],
      rowCount: 1,
    });
  });

  test("a table that views read cannot be dropped without CASCADE, which drops the views too", async () => {
    await run(fx.engine, "CREATE TABLE t (a int, b int)", "CREATE VIEW v AS SELECT b FROM t", "CREATE VIEW w AS SELECT * FROM v");
    expect(await failureOf(fx.engine.query("DROP TABLE t"))).toEqual(["2BP01", "cannot drop table t because other objects depend on it", 12]);
    expect((await failureOf(fx.engine.query("ALTER TABLE t DROP COLUMN b")))[0]).toBe("2BP01");
    await run(fx.engine, "DROP TABLE t CASCADE");
    expect((await failureOf(fx.engine.query("SELECT * FROM w")))[0]).toBe("42P01");
  });

  test("ALTER TABLE adds and drops UNIQUE constraints; other added constraints are 0A000", async () => {
    await run(fx.engine, "CREATE TABLE t (a int, b int)", "INSERT INTO t VALUES (1, 1), (1, 2)");
    expect((await failureOf(fx.engine.query("ALTER TABLE t ADD UNIQUE (a)")))[0]).toBe("23505");
    await run(fx.engine, "ALTER TABLE t ADD CONSTRAINT t_ab UNIQUE (a, b)");
    expect((await failureOf(fx.engine.query("INSERT INTO t VALUES (1, 1)")))[0]).toBe("23505");
    await run(fx.engine, "ALTER TABLE t DROP CONSTRAINT t_ab", "INSERT INTO t VALUES (1, 1)");
    expect((await failureOf(fx.engine.query("ALTER TABLE t ADD CONSTRAINT c CHECK (a > 0)")))[0]).toBe("0A000");
    expect(await failureOf(fx.engine.query("ALTER TABLE t DROP CONSTRAINT nope"))).toEqual([
      "42704",
      'constraint "nope" of relation "t" does not exist',
      13,
    ]);
  });
});
