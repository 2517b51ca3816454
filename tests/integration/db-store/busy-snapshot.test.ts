// A write that fails with SQLITE_BUSY_SNAPSHOT inside a transaction must not leave the
// connection pinned to its old read snapshot once the transaction is rolled back.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { StoreError } from "../../../src/db/store/errors.ts";
import { LocalStore } from "../../../src/db/store/local.ts";
import { openStore } from "../../../src/db/store/index.ts";
import type { Store } from "../../../src/db/store/types.ts";

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), "cave-busy-snapshot-"));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

async function failure(p: Promise<unknown>): Promise<StoreError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof StoreError) return e;
    throw e;
  }
  throw new Error("expected a StoreError, got success");
}

/** A reads row 1 inside BEGIN, B commits a change to it, A's write `sql` then fails with SQLITE_BUSY_SNAPSHOT. */
async function loseTheRace(a: Store, b: Store, sql = "UPDATE t SET v = 3 WHERE id = 1"): Promise<StoreError> {
  await a.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER)", []);
  await a.execute("INSERT INTO t VALUES (1, 1)", []);
  await a.execute("BEGIN", []);
  expect((await a.execute("SELECT v FROM t WHERE id = 1", [])).rows).toEqual([[1]]);
  expect((await b.execute("UPDATE t SET v = 2 WHERE id = 1", [])).rowsAffected).toBe(1);
  return failure(a.execute(sql, []));
}

const v = async (s: Store) => (await s.execute("SELECT v FROM t WHERE id = 1", [])).rows;

describe("a write that lost a race to another connection's commit", () => {
  let a: Store;
  let b: Store;
  beforeEach(() => {
    a = openStore(join(dir, "t.db"));
    b = openStore(join(dir, "t.db"));
  });
  afterEach(() => {
    a.close();
    b.close();
  });

  test("leaves the connection reading the other connection's commit after ROLLBACK", async () => {
    const e = await loseTheRace(a, b);
    expect(e.sqliteCode).toBe("SQLITE_BUSY_SNAPSHOT");
    await a.execute("ROLLBACK", []);
    expect(a.inTransaction()).toBe(false);
    expect(await v(a)).toEqual([[2]]);
  });

  test.each([
    ["an UPDATE", "UPDATE t SET v = 3 WHERE id = 1"],
    ["an UPDATE … RETURNING", "UPDATE t SET v = 3 WHERE id = 1 RETURNING v"],
    ["an INSERT", "INSERT INTO t VALUES (2, 2)"],
  ])("leaves its transaction open, and after ROLLBACK later commits are seen too (%s)", async (_n, sql) => {
    const e = await loseTheRace(a, b, sql);
    expect(e.sqliteCode).toBe("SQLITE_BUSY_SNAPSHOT");
    expect(a.inTransaction()).toBe(true);
    expect(await v(a)).toEqual([[1]]);
    await a.execute("ROLLBACK", []);
    expect(await v(a)).toEqual([[2]]);
    await b.execute("UPDATE t SET v = 4 WHERE id = 1", []);
    expect(await v(a)).toEqual([[4]]);
    expect((await a.execute("SELECT count(*) FROM t", [])).rows).toEqual([[1]]);
  });

  test("can be run again after ROLLBACK and its write lands", async () => {
    await loseTheRace(a, b);
    await a.execute("ROLLBACK", []);
    expect((await a.execute("UPDATE t SET v = 3 WHERE id = 1", [])).rowsAffected).toBe(1);
    expect(await v(b)).toEqual([[3]]);
    expect((await a.execute("PRAGMA query_only", [])).rows).toEqual([[0]]);
  });
});

describe("an autocommit write that timed out on another connection's write lock", () => {
  test("does not keep the connection on an old snapshot afterwards", async () => {
    const a = new LocalStore(join(dir, "w.db"));
    const b = new LocalStore(join(dir, "w.db"));
    await a.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v INTEGER)", []);
    await a.execute("INSERT INTO t VALUES (1, 1)", []);
    a.pragma("busy_timeout = 0");
    await b.execute("BEGIN IMMEDIATE", []);
    const e = await failure(a.execute("UPDATE t SET v = 3 WHERE id = 1", []));
    expect(e.sqliteCode).toBe("SQLITE_BUSY");
    await b.execute("UPDATE t SET v = 2 WHERE id = 1", []);
    await b.execute("COMMIT", []);
    expect(await v(a)).toEqual([[2]]);
    await b.execute("UPDATE t SET v = 5 WHERE id = 1", []);
    expect(await v(a)).toEqual([[5]]);
    a.close();
    b.close();
  });
});
