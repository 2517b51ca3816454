// The promise-API store that POST /query runs on: the same results as the synchronous
// LocalStore for every kind of statement, on one real file; and what it is for: a statement runs
// off the event loop (timers keep firing) and is cancelled at its timeout with SQLITE_INTERRUPT.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { StoreError } from "../../../src/db/store/errors.ts";
import { LocalStore } from "../../../src/db/store/local.ts";
import { LocalAsyncStore } from "../../../src/db/store/local-async.ts";
import type { Store } from "../../../src/db/store/types.ts";

let dir: string;
let sync: LocalStore;
let async_: LocalAsyncStore;
beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "cave-async-store-"));
  sync = new LocalStore(join(dir, "a.db"));
  async_ = await LocalAsyncStore.open(join(dir, "b.db"), { statementTimeoutMs: 300 });
});
afterEach(() => {
  sync.close();
  async_.close();
  rmSync(dir, { recursive: true, force: true });
});

async function outcome(store: Store, sql: string, params: (string | number | bigint | null)[] = []) {
  try {
    return { ok: await store.execute(sql, params) };
  } catch (e) {
    return { error: e instanceof StoreError ? e.sqliteCode : String(e) };
  }
}

describe("LocalAsyncStore next to LocalStore", () => {
  test("DDL, writes with and without RETURNING, reads with big integers, errors and transactions answer alike", async () => {
    const script: [string, (string | number | bigint | null)[]][] = [
      ["CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE, big INTEGER)", []],
      ["INSERT INTO t (name, big) VALUES (?1, ?2)", ["a", 9007199254740993n]],
      ["INSERT INTO t (name, big) VALUES (?1, ?2), (?3, ?4) RETURNING id, name", ["b", 1, "c", 2]],
      ["SELECT id, name, big FROM t ORDER BY id", []],
      ["UPDATE t SET big = big + 1 WHERE id > ?1", [1]],
      ["DELETE FROM t WHERE name = ?1 RETURNING id", ["c"]],
      ["INSERT INTO t (name) VALUES (?1)", ["a"]],
      ["SELECT nope FROM t", []],
      ["BEGIN", []],
      ["INSERT INTO t (name) VALUES (?1)", ["d"]],
      ["ROLLBACK", []],
      ["SELECT count(*) FROM t", []],
    ];
    for (const [sql, params] of script) {
      const a = await outcome(sync, sql, params);
      const b = await outcome(async_, sql, params);
      expect({ sql, ...b }).toEqual({ sql, ...a });
      expect(async_.inTransaction()).toBe(sync.inTransaction());
    }
  });
});

describe("what it is for", () => {
  test("an endless statement is cancelled at the timeout while the event loop goes on", async () => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 10);
    const t0 = performance.now();
    const r = await outcome(
      async_,
      "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r",
    );
    const took = performance.now() - t0;
    clearInterval(timer);
    expect(r).toEqual({ error: "SQLITE_INTERRUPT" });
    expect(took).toBeGreaterThan(250);
    expect(took).toBeLessThan(2000);
    expect(ticks).toBeGreaterThan(10);
    // the connection goes on, and a statement that ends in time is not touched by the old timer
    expect((await async_.execute("SELECT 1", [])).rows).toEqual([[1]]);
    await Bun.sleep(350);
    expect((await async_.execute("SELECT 2", [])).rows).toEqual([[2]]);
  });
});

describe("a server's connection that finds the write lock taken (yieldOnBusy)", () => {
  test("waits on timers, so the holder's COMMIT, sent from the event loop, can come", async () => {
    const path = join(dir, "c.db");
    const holder = new LocalStore(path);
    const waiter = new LocalStore(path, { yieldOnBusy: true });
    try {
      await holder.execute("CREATE TABLE t (x int)", []);
      await holder.execute("BEGIN IMMEDIATE", []);
      await holder.execute("INSERT INTO t VALUES (1)", []);
      let committedAt = 0;
      // the holder commits from a timer: with SQLite's own busy handler the waiter would sleep
      // on this thread and the timer would fire only after the busy timeout
      setTimeout(async () => {
        await holder.execute("COMMIT", []);
        committedAt = performance.now();
      }, 50);
      const t0 = performance.now();
      const r = await waiter.execute("INSERT INTO t VALUES (2)", []);
      const doneAt = performance.now();
      expect(r.rowsAffected).toBe(1);
      expect(committedAt).toBeGreaterThan(0);
      expect(doneAt).toBeGreaterThanOrEqual(committedAt);
      expect(doneAt - t0).toBeLessThan(1000);
      expect((await waiter.execute("SELECT count(*) FROM t", [])).rows).toEqual([[2]]);
    } finally {
      holder.close();
      waiter.close();
    }
  });
});

describe("garbage collection while a statement runs", () => {
  // libsql finalizes a statement on the JS thread, and the finalizer waits for the connection's
  // mutex, held by the pool thread for as long as a statement runs: a collection during an
  // endless statement blocked the event loop, so the interrupt never fired. In a child process,
  // killed after 20 s, since a regression blocks the JS thread itself.
  for (const mode of ["many", "ddl"] as const) {
    test(`after ${mode === "many" ? "more distinct statements than the cache keeps" : "DDL"}, a collection mid-statement does not block the interrupt`, async () => {
      const child = Bun.spawn(
        [process.execPath, join(import.meta.dir, "fixtures/gc-during-statement.ts"), join(dir, `gc-${mode}.db`), mode],
        { stdout: "pipe", stderr: "pipe" },
      );
      const killer = setTimeout(() => child.kill(9), 20_000);
      const [out, err, exit] = await Promise.all([new Response(child.stdout).text(), new Response(child.stderr).text(), child.exited]);
      clearTimeout(killer);
      expect({ exit, err }).toEqual({ exit: 0, err: "" });
      const r = JSON.parse(out) as { code: string; ms: number; ticks: number; after: unknown[][] };
      expect(r.code).toBe("SQLITE_INTERRUPT");
      expect(r.ms).toBeLessThan(5000);
      // the event loop went on during the statement
      expect(r.ticks).toBeGreaterThan(10);
      expect(r.after).toEqual([[42]]);
    }, 30_000);
  }
});
