// INSERT / UPDATE / DELETE with RETURNING, ON CONFLICT, parameters and typed values.
import { expect, test } from "bun:test";
import { describeOnEveryStore, failureOf, run } from "../../helpers/engine.ts";

describeOnEveryStore("INSERT, UPDATE, DELETE", (fx) => {
  test("INSERT … RETURNING * returns the stored row with defaults filled in", async () => {
    await run(fx.engine, "CREATE TABLE t (id serial PRIMARY KEY, name text NOT NULL, n int DEFAULT 7, ok boolean DEFAULT true)");
    expect(await fx.engine.query("INSERT INTO t (name) VALUES ($1) RETURNING *", ["a"])).toEqual({
      command: "INSERT 0 1",
      columns: [
        { name: "id", type: "int4" },
        { name: "name", type: "text" },
        { name: "n", type: "int4" },
        { name: "ok", type: "bool" },
      ],
      rows: [[1, "a", 7, true]],
      rowCount: 1,
    });
  });

  test("VALUES may name DEFAULT and may list fewer values than columns", async () => {
    await run(fx.engine, "CREATE TABLE t (a int, b int DEFAULT 5, c text)", "INSERT INTO t VALUES (1, DEFAULT, 'x')", "INSERT INTO t VALUES (2)");
    expect((await fx.engine.query("SELECT * FROM t ORDER BY a")).rows).toEqual([
      [1, 5, "x"],
      [2, 5, null],
    ]);
  });

  test("INSERT … SELECT copies rows", async () => {
    await run(fx.engine, "CREATE TABLE a (x int)", "CREATE TABLE b (x int)", "INSERT INTO a VALUES (1), (2)");
    expect((await fx.engine.query("INSERT INTO b SELECT x * 10 FROM a")).command).toBe("INSERT 0 2");
    expect((await fx.engine.query("SELECT x FROM b ORDER BY x")).rows).toEqual([[10], [20]]);
  });

  test("DEFAULT VALUES with ON CONFLICT is refused with 0A000 and a hint, not a SQLite syntax error (found by rest-fuzz)", async () => {
    await run(fx.engine, "CREATE TABLE d (id bigserial PRIMARY KEY, note text DEFAULT 'x')");
    const [sqlstate, message] = await failureOf(fx.engine.query("INSERT INTO d DEFAULT VALUES ON CONFLICT (id) DO NOTHING"));
    expect([sqlstate, message]).toEqual(["0A000", "INSERT … DEFAULT VALUES with ON CONFLICT is not supported"]);
    expect((await fx.engine.query("INSERT INTO d DEFAULT VALUES RETURNING id, note")).rows).toEqual([[1, "x"]]);
  });

  test("ON CONFLICT DO UPDATE updates the existing row from EXCLUDED", async () => {
    await run(fx.engine, "CREATE TABLE kv (k text PRIMARY KEY, v int)", "INSERT INTO kv VALUES ('a', 1)");
    const r = await fx.engine.query(
      "INSERT INTO kv VALUES ('a', 5), ('b', 2) ON CONFLICT (k) DO UPDATE SET v = kv.v + excluded.v RETURNING k, v",
    );
    expect(r.rows).toEqual([
      ["a", 6],
      ["b", 2],
    ]);
  });

  test("ON CONFLICT DO NOTHING skips the conflicting row", async () => {
    await run(fx.engine, "CREATE TABLE kv (k text PRIMARY KEY, v int)", "INSERT INTO kv VALUES ('a', 1)");
    expect((await fx.engine.query("INSERT INTO kv VALUES ('a', 9), ('b', 2) ON CONFLICT DO NOTHING")).command).toBe("INSERT 0 1");
    expect((await fx.engine.query("SELECT v FROM kv WHERE k = 'a'")).rows).toEqual([[1]]);
  });

  test("ON CONFLICT on a column without a unique constraint is 42P10", async () => {
    await run(fx.engine, "CREATE TABLE t (a int, b int)");
    expect((await failureOf(fx.engine.query("INSERT INTO t VALUES (1, 1) ON CONFLICT (b) DO NOTHING")))[0]).toBe("42P10");
  });

  test("UPDATE … FROM joins another table and RETURNING shows the new values", async () => {
    await run(
      fx.engine,
      "CREATE TABLE t (id int PRIMARY KEY, v int)",
      "CREATE TABLE d (id int, delta int)",
      "INSERT INTO t VALUES (1, 10), (2, 20)",
      "INSERT INTO d VALUES (2, 5)",
    );
    const r = await fx.engine.query("UPDATE t SET v = t.v + d.delta FROM d WHERE d.id = t.id RETURNING t.id, v");
    expect([r.command, r.rows]).toEqual(["UPDATE 1", [[2, 25]]]);
  });

  test("DELETE … RETURNING returns the deleted rows", async () => {
    await run(fx.engine, "CREATE TABLE t (a int)", "INSERT INTO t VALUES (1), (2), (3)");
    const r = await fx.engine.query("DELETE FROM t WHERE a > $1 RETURNING a", [1]);
    expect([r.command, r.rows]).toEqual(["DELETE 2", [[2], [3]]]);
  });

  test("a duplicate key is 23505 naming Postgres's constraint", async () => {
    await run(fx.engine, "CREATE TABLE t (id int PRIMARY KEY, email text UNIQUE)", "INSERT INTO t VALUES (1, 'a')");
    expect(await failureOf(fx.engine.query("INSERT INTO t VALUES (2, 'a')"))).toEqual([
      "23505",
      'duplicate key value violates unique constraint "t_email_key"',
      0,
    ]);
    expect(await failureOf(fx.engine.query("INSERT INTO t VALUES (1, 'b')"))).toEqual([
      "23505",
      'duplicate key value violates unique constraint "t_pkey"',
      0,
    ]);
  });

  test("a NULL in a NOT NULL column is 23502 naming the column and table", async () => {
    await run(fx.engine, "CREATE TABLE t (a int NOT NULL)");
    expect(await failureOf(fx.engine.query("INSERT INTO t VALUES (NULL)"))).toEqual([
      "23502",
      'null value in column "a" of relation "t" violates not-null constraint',
      0,
    ]);
  });

  test("a value that does not fit the column's type is 22P02 at the value's position", async () => {
    await run(fx.engine, "CREATE TABLE t (n int, ok boolean, id uuid)");
    expect(await failureOf(fx.engine.query("INSERT INTO t (n) VALUES ('12x')"))).toEqual([
      "22P02",
      'invalid input syntax for type integer: "12x"',
      27,
    ]);
    expect((await failureOf(fx.engine.query("INSERT INTO t (ok) VALUES ($1)", ["maybe"])))[0]).toBe("22P02");
    expect((await failureOf(fx.engine.query("INSERT INTO t (id) VALUES ($1)", ["not-a-uuid"])))[1]).toBe(
      'invalid input syntax for type uuid: "not-a-uuid"',
    );
  });

  test("an unknown target column is 42703 naming the relation", async () => {
    await run(fx.engine, "CREATE TABLE t (a int)");
    expect(await failureOf(fx.engine.query("INSERT INTO t (b) VALUES (1)"))).toEqual([
      "42703",
      'column "b" of relation "t" does not exist',
      16,
    ]);
    expect(await failureOf(fx.engine.query("UPDATE t SET b = 1"))).toEqual(["42703", 'column "b" of relation "t" does not exist', 14]);
  });

  test("DELETE … USING deletes the rows the join finds", async () => {
    await run(fx.engine, "CREATE TABLE t (a int, b text)", "CREATE TABLE u (a int)", "INSERT INTO t VALUES (1, 'x'), (2, 'y'), (3, 'z')", "INSERT INTO u VALUES (2), (3)");
    const r = await fx.engine.query("DELETE FROM t USING u WHERE t.a = u.a AND u.a > 2 RETURNING t.a, b");
    expect([r.command, r.rows]).toEqual(["DELETE 1", [[3, "z"]]]);
    expect((await fx.engine.query("SELECT a FROM t ORDER BY a")).rows).toEqual([[1], [2]]);
  });

  test("TRUNCATE empties the tables it names", async () => {
    await run(fx.engine, "CREATE TABLE t (a int)", "INSERT INTO t VALUES (1), (2)");
    expect((await fx.engine.query("TRUNCATE t")).command).toBe("TRUNCATE TABLE");
    expect((await fx.engine.query("SELECT count(*) FROM t")).rows).toEqual([[0]]);
  });

  test("DEFAULT may sit in different columns of different rows, and UPDATE may SET a column to DEFAULT", async () => {
    await run(fx.engine, "CREATE TABLE t (id serial PRIMARY KEY, a int DEFAULT 7, b text DEFAULT 'x''y')");
    await run(fx.engine, "INSERT INTO t (a, b) VALUES (1, DEFAULT), (DEFAULT, 'q')", "UPDATE t SET a = DEFAULT WHERE id = 1");
    expect((await fx.engine.query("SELECT id, a, b FROM t ORDER BY id")).rows).toEqual([
      [1, 7, "x'y"],
      [2, 7, "q"],
    ]);
  });

  test("ON CONFLICT ON CONSTRAINT names the primary key or a unique index, and violations name the index", async () => {
    await run(
      fx.engine,
      "CREATE TABLE t (id int PRIMARY KEY, a int, b int)",
      "CREATE UNIQUE INDEX t_ab ON t (a, b)",
      "INSERT INTO t VALUES (1, 1, 1)",
    );
    expect(await failureOf(fx.engine.query("INSERT INTO t VALUES (2, 1, 1)"))).toEqual([
      "23505",
      'duplicate key value violates unique constraint "t_ab"',
      0,
    ]);
    expect((await fx.engine.query("INSERT INTO t VALUES (1, 5, 5) ON CONFLICT ON CONSTRAINT t_pkey DO UPDATE SET a = excluded.a RETURNING *")).rows).toEqual([
      [1, 5, 1],
    ]);
    expect((await fx.engine.query("INSERT INTO t VALUES (3, 5, 1) ON CONFLICT ON CONSTRAINT t_ab DO NOTHING")).command).toBe("INSERT 0 0");
    expect((await failureOf(fx.engine.query("INSERT INTO t VALUES (4, 0, 0) ON CONFLICT ON CONSTRAINT nope DO NOTHING")))[0]).toBe("42704");
    await run(fx.engine, "CREATE TABLE u (id int, email text UNIQUE)", "INSERT INTO u VALUES (1, 'a')");
    expect((await fx.engine.query("INSERT INTO u VALUES (2, 'a') ON CONFLICT ON CONSTRAINT u_email_key DO UPDATE SET id = excluded.id RETURNING *")).rows).toEqual([
      [2, "a"],
    ]);
  });

  test("WITH … in front of DELETE, UPDATE and INSERT makes its queries visible to the statement", async () => {
    await run(fx.engine, "CREATE TABLE t (id serial PRIMARY KEY, v text)", "INSERT INTO t (v) VALUES ('a'), ('b'), ('c')");
    expect((await fx.engine.query("WITH x AS (SELECT 2 AS id) DELETE FROM t WHERE id IN (SELECT id FROM x) RETURNING id")).rows).toEqual([[2]]);
    expect((await fx.engine.query("WITH y(n) AS (SELECT 'z') UPDATE t SET v = (SELECT n FROM y) WHERE id = 1 RETURNING v")).rows).toEqual([
      ["z"],
    ]);
    await run(fx.engine, "WITH RECURSIVE s(i) AS (SELECT 10 UNION ALL SELECT i + 1 FROM s WHERE i < 11) INSERT INTO t (id, v) SELECT i, 'r' FROM s");
    expect((await fx.engine.query("SELECT id, v FROM t ORDER BY id")).rows).toEqual([
      [1, "z"],
      [3, "c"],
      [10, "r"],
      [11, "r"],
    ]);
  });
});
