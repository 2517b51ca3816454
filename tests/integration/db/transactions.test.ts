// BEGIN / COMMIT / ROLLBACK / SAVEPOINT, and Postgres's aborted-transaction state.
import { expect, test } from "bun:test";
import { describeOnEveryStore, failureOf, run } from "../../helpers/engine.ts";

describeOnEveryStore("transactions", (fx) => {
  const count = async () => (await fx.engine.query("SELECT count(*) FROM t")).rows[0]![0];

  test("COMMIT keeps the rows and ROLLBACK discards them", async () => {
    await run(fx.engine, "CREATE TABLE t (a int)", "BEGIN", "INSERT INTO t VALUES (1)", "COMMIT");
    await run(fx.engine, "BEGIN", "INSERT INTO t VALUES (2)");
    expect(await count()).toBe(2);
    expect((await fx.engine.query("ROLLBACK")).command).toBe("ROLLBACK");
    expect(await count()).toBe(1);
  });

  test("ROLLBACK TO SAVEPOINT undoes only what followed the savepoint", async () => {
    await run(
      fx.engine,
      "CREATE TABLE t (a int)",
      "BEGIN",
      "INSERT INTO t VALUES (1)",
      "SAVEPOINT s",
      "INSERT INTO t VALUES (2)",
      "ROLLBACK TO SAVEPOINT s",
      "RELEASE SAVEPOINT s",
      "COMMIT",
    );
    expect(await count()).toBe(1);
  });

  test("after an error, statements fail with 25P02 until ROLLBACK, and COMMIT rolls back", async () => {
    await run(fx.engine, "CREATE TABLE t (a int)", "BEGIN", "INSERT INTO t VALUES (1)");
    expect((await failureOf(fx.engine.query("SELECT nope FROM t")))[0]).toBe("42703");
    expect(await failureOf(fx.engine.query("SELECT 1"))).toEqual([
      "25P02",
      "current transaction is aborted, commands ignored until end of transaction block",
      0,
    ]);
    expect((await fx.engine.query("COMMIT")).command).toBe("ROLLBACK");
    expect(await count()).toBe(0);
  });

  test("ROLLBACK TO SAVEPOINT recovers an aborted transaction", async () => {
    await run(fx.engine, "CREATE TABLE t (a int PRIMARY KEY)", "BEGIN", "INSERT INTO t VALUES (1)", "SAVEPOINT s");
    expect((await failureOf(fx.engine.query("INSERT INTO t VALUES (1)")))[0]).toBe("23505");
    await run(fx.engine, "ROLLBACK TO SAVEPOINT s", "INSERT INTO t VALUES (2)", "COMMIT");
    expect(await count()).toBe(2);
  });

  test("a table created in a rolled-back transaction is gone, and the catalog knows it", async () => {
    await run(fx.engine, "BEGIN", "CREATE TABLE gone (a int)", "INSERT INTO gone VALUES (1)", "ROLLBACK");
    expect(await failureOf(fx.engine.query("SELECT * FROM gone"))).toEqual(["42P01", 'relation "gone" does not exist', 15]);
  });

  test("SAVEPOINT outside a transaction block is 25P01, and an unknown savepoint is 3B001", async () => {
    expect(await failureOf(fx.engine.query("SAVEPOINT s"))).toEqual(["25P01", "SAVEPOINT can only be used in transaction blocks", 0]);
    await run(fx.engine, "BEGIN");
    expect(await failureOf(fx.engine.query("RELEASE SAVEPOINT nope"))).toEqual(["3B001", 'savepoint "nope" does not exist', 0]);
    await run(fx.engine, "ROLLBACK");
  });

  test("BEGIN inside a transaction and COMMIT outside one are accepted, as Postgres only warns", async () => {
    expect((await fx.engine.query("COMMIT")).command).toBe("COMMIT");
    await run(fx.engine, "BEGIN");
    expect((await fx.engine.query("BEGIN")).command).toBe("BEGIN");
    expect((await fx.engine.query("COMMIT")).command).toBe("COMMIT");
  });

  test("SHOW reports the settings clients ask for, and SET is accepted", async () => {
    expect(await fx.engine.query("SHOW transaction isolation level")).toEqual({
      command: "SHOW",
      columns: [{ name: "transaction_isolation", type: "text" }],
      rows: [["serializable"]],
      rowCount: 1,
    });
    expect((await fx.engine.query("SET search_path = public")).command).toBe("SET");
    expect((await failureOf(fx.engine.query("SHOW nope")))[0]).toBe("42704");
  });

  test("migrations' CREATE EXTENSION for built-in features and COMMENT ON are accepted", async () => {
    expect((await fx.engine.query('CREATE EXTENSION IF NOT EXISTS "uuid-ossp"')).command).toBe("CREATE EXTENSION");
    expect((await fx.engine.query("COMMENT ON TABLE t IS 'notes'")).command).toBe("COMMENT");
    expect((await failureOf(fx.engine.query("CREATE EXTENSION postgis")))[0]).toBe("0A000");
  });
});

test("a write after another connection changed what the transaction read is 40001, and FOR UPDATE is accepted", async () => {
  const { Engine } = await import("../../../src/db/engine.ts");
  const { tempStore } = await import("../../helpers/store.ts");
  const { openStore } = await import("../../../src/db/store/index.ts");
  const t = tempStore("file");
  const a = await Engine.open(t.store);
  const b = await Engine.open(openStore(t.path));
  try {
    await a.query("CREATE TABLE acct (id int PRIMARY KEY, n int)");
    await a.query("INSERT INTO acct VALUES (1, 10)");
    await a.query("BEGIN");
    expect((await a.query("SELECT n FROM acct WHERE id = 1 FOR UPDATE")).rows).toEqual([[10]]);
    await b.query("UPDATE acct SET n = 20 WHERE id = 1");
    expect((await failureOf(a.query("UPDATE acct SET n = n + 1 WHERE id = 1")))[0]).toBe("40001");
    expect((await a.query("ROLLBACK")).command).toBe("ROLLBACK");
    expect((await b.query("SELECT n FROM acct")).rows).toEqual([[20]]);
  } finally {
    a.close();
    b.close();
    t.dispose();
  }
});
