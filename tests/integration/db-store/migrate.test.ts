// Numbered migrations through the real engine on a real libSQL file: applied once each, in
// order, each in a transaction; a failure rolls back only its own file.
import { afterEach, beforeEach, expect, test } from "bun:test";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { CaveError } from "../../../src/core/errors.ts";
import { Engine } from "../../../src/db/engine.ts";
import { listMigrations, migrate } from "../../../src/db/migrate.ts";
import { LocalStore } from "../../../src/db/store/local.ts";

let dir: string;
let migrations: string;
let store: LocalStore;
let engine: Engine;
beforeEach(async () => {
  dir = mkdtempSync(join(tmpdir(), "cave-migrate-"));
  migrations = join(dir, "migrations");
  mkdirSync(migrations);
  store = new LocalStore(join(dir, "m.db"));
  engine = await Engine.open(store);
});
afterEach(() => {
  engine.close();
  store.close();
  rmSync(dir, { recursive: true, force: true });
});

const file = (name: string, text: string) => writeFileSync(join(migrations, name), text);
const thrown = async (p: Promise<unknown>) => {
  try {
    await p;
  } catch (e) {
    if (e instanceof CaveError) return [e.code, e.message];
    throw e;
  }
  throw new Error("expected an error");
};

test("files apply in number order, not name order, and only once", async () => {
  file("10_second.sql", "INSERT INTO log VALUES (2);");
  file("9_first.sql", "CREATE TABLE log (n int);\nINSERT INTO log VALUES (1);");
  file("README.md", "not a migration");
  expect(listMigrations(migrations).map((m) => m.file)).toEqual(["9_first.sql", "10_second.sql"]);
  expect(await migrate(engine, migrations)).toEqual({
    applied: [
      { version: 9, file: "9_first.sql", statements: 2 },
      { version: 10, file: "10_second.sql", statements: 1 },
    ],
    skipped: 0,
    changed: [],
  });
  expect(await migrate(engine, migrations)).toEqual({ applied: [], skipped: 2, changed: [] });
  expect((await engine.query("SELECT n FROM log ORDER BY n")).rows).toEqual([[1], [2]]);
});

test("a file edited after it was applied is reported, not applied again", async () => {
  file("001_t.sql", "CREATE TABLE t (n int);");
  await migrate(engine, migrations);
  file("001_t.sql", "CREATE TABLE t (n int, m int);");
  expect(await migrate(engine, migrations)).toEqual({ applied: [], skipped: 1, changed: ["001_t.sql"] });
});

test("a failing file rolls back all of its statements and keeps the files before it", async () => {
  file("001_ok.sql", "CREATE TABLE a (n int);");
  file("002_bad.sql", "CREATE TABLE b (n int);\nINSERT INTO a VALUES (1);\n\nINSERT INTO a VALUES ('x', 'y');\n");
  file("003_never.sql", "CREATE TABLE c (n int);");
  const [code, message] = await thrown(migrate(engine, migrations));
  expect(code).toBe("DB_MIGRATION_FAILED");
  expect(message).toBe("002_bad.sql, line 4: INSERT has more expressions than target columns");
  expect((await engine.query("SELECT version FROM cave_migrations")).rows).toEqual([[1]]);
  expect((await engine.query("SELECT count(*) FROM a")).rows).toEqual([[0]]);
  expect(await thrown(engine.query("SELECT * FROM b"))).toEqual(["DB_42P01", 'relation "b" does not exist']);
  expect(await thrown(engine.query("SELECT * FROM c"))).toEqual(["DB_42P01", 'relation "c" does not exist']);
  expect(store.inTransaction()).toBe(false);
});

test("two files with one number, or a missing directory, are refused before anything runs", async () => {
  file("001_a.sql", "CREATE TABLE a (n int);");
  file("1_b.sql", "CREATE TABLE b (n int);");
  expect(await thrown(migrate(engine, migrations))).toEqual([
    "DB_MIGRATION_DIR",
    "1_b.sql and 001_a.sql have the same number 1",
  ]);
  expect(() => listMigrations(join(dir, "nope"))).toThrow(
    `cannot read the migrations directory ${join(dir, "nope")}: ENOENT`,
  );
});
