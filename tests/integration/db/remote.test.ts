// The engine over the remote transport (@libsql/client, here on a file: URL, which takes the
// same request and transaction path as a libSQL server): DDL, typed rows, transactions.
import { afterEach, beforeEach, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@libsql/client";
import { Engine } from "../../../src/db/engine.ts";
import { RemoteStore } from "../../../src/db/store/remote.ts";
import { failureOf, run } from "../../helpers/engine.ts";

let dir = "";
let engine: Engine;

beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "cave-db-remote-"));
  const client = createClient({ url: `file:${join(dir, "r.db")}`, intMode: "bigint" });
  engine = await Engine.open(new RemoteStore("file:test", { client }));
});

afterEach(() => {
  engine.close();
  rmSync(dir, { recursive: true, force: true });
});

test("DDL outside a transaction commits as one unit over the remote transport", async () => {
  expect((await engine.query("CREATE TABLE t (id serial PRIMARY KEY, name text UNIQUE, ok boolean, doc jsonb)")).command).toBe(
    "CREATE TABLE",
  );
  expect((await engine.query(`INSERT INTO t (name, ok, doc) VALUES ('a', true, '{"x": 1}') RETURNING *`)).rows).toEqual([
    [1, "a", true, { x: 1 }],
  ]);
});

test("transactions, savepoints and the aborted state work over the remote transport", async () => {
  await run(engine, "CREATE TABLE t (name text PRIMARY KEY)", "BEGIN", "INSERT INTO t VALUES ('b')", "SAVEPOINT s");
  await run(engine, "INSERT INTO t VALUES ('c')", "ROLLBACK TO SAVEPOINT s", "COMMIT");
  expect((await engine.query("SELECT name FROM t")).rows).toEqual([["b"]]);
  await run(engine, "BEGIN");
  expect((await failureOf(engine.query("INSERT INTO t VALUES ('b')")))[0]).toBe("23505");
  expect((await failureOf(engine.query("SELECT 1")))[0]).toBe("25P02");
  expect((await engine.query("ROLLBACK")).command).toBe("ROLLBACK");
});
