// The engine end to end on real libSQL databases (a temp file in WAL mode, and :memory:):
// CREATE TABLE / INSERT / SELECT / UPDATE / DELETE through parse → plan → emit → execute.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { Engine } from "../../../src/db/engine.ts";
import { DbError } from "../../../src/db/errors.ts";
import { tempStore } from "../../helpers/store.ts";

async function failure(p: Promise<unknown>): Promise<DbError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof DbError) return e;
    throw e;
  }
  throw new Error("expected the statement to fail");
}

for (const kind of ["file", "memory"] as const) {
  describe(`the pipeline on a ${kind === "file" ? "temp libSQL file" : ":memory: database"}`, () => {
    let engine: Engine;
    let dispose: () => void;

    beforeEach(async () => {
      const t = tempStore(kind);
      dispose = t.dispose;
      engine = await Engine.open(t.store);
    });
    afterEach(() => {
      engine.close();
      dispose();
    });

    test("a created table takes rows and returns them typed", async () => {
      expect(await engine.query("CREATE TABLE items (id serial PRIMARY KEY, name text NOT NULL, done boolean DEFAULT false)")).toEqual({
        command: "CREATE TABLE",
        columns: [],
        rows: [],
        rowCount: 0,
      });
      expect(await engine.query("INSERT INTO items (name) VALUES ($1), ($2)", ["a", "b"])).toEqual({
        command: "INSERT 0 2",
        columns: [],
        rows: [],
        rowCount: 2,
      });
      expect(await engine.query("SELECT id, name, done FROM items ORDER BY id")).toEqual({
        command: "SELECT 2",
        columns: [
          { name: "id", type: "int4" },
          { name: "name", type: "text" },
          { name: "done", type: "bool" },
        ],
        rows: [
          [1, "a", false],
          [2, "b", false],
        ],
        rowCount: 2,
      });
    });

    test("UPDATE and DELETE report the rows they touched", async () => {
      await engine.query("CREATE TABLE t (a int, b text)");
      await engine.query("INSERT INTO t VALUES (1, 'x'), (2, 'y'), (3, 'z')");
      expect((await engine.query("UPDATE t SET b = b || '!' WHERE a >= 2")).command).toBe("UPDATE 2");
      expect((await engine.query("DELETE FROM t WHERE a = 1")).command).toBe("DELETE 1");
      expect((await engine.query("SELECT a, b FROM t ORDER BY a")).rows).toEqual([
        [2, "y!"],
        [3, "z!"],
      ]);
    });

    test("an unknown table is 42P01 with the position of its name", async () => {
      const e = await failure(engine.query("SELECT * FROM missing"));
      expect([e.sqlstate, e.message, e.position, e.code]).toEqual(["42P01", 'relation "missing" does not exist', 15, "DB_42P01"]);
    });

    test("an unknown column is 42703 with the position of the name", async () => {
      await engine.query("CREATE TABLE t (a int)");
      const e = await failure(engine.query("SELECT a, nope FROM t"));
      expect([e.sqlstate, e.message, e.position]).toEqual(["42703", 'column "nope" does not exist', 11]);
    });
  });
}
