// Two connections to one libSQL file, as cave serve's REST and /query engines (or the server and
// `cave db query`) are: every DDL bumps the catalog generation (SQLite's user_version), and
// syncCatalog() makes a connection that cached the catalog and its plans read them again, so a
// policy one connection narrows or drops is what the other enforces next.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { Engine } from "../../../src/db/engine.ts";
import { openStore } from "../../../src/db/store/index.ts";
import { run } from "../../helpers/engine.ts";
import { alice, ALICE, BOB } from "../../helpers/roles.ts";
import { tempStore } from "../../helpers/store.ts";

let a: Engine;
let b: Engine;
let dispose = () => {};

beforeEach(async () => {
  const t = tempStore("file");
  dispose = t.dispose;
  a = await Engine.open(t.store);
  b = await Engine.open(openStore(t.path));
  await run(
    b,
    "CREATE TABLE notes (id int PRIMARY KEY, owner uuid, body text)",
    "ALTER TABLE notes ENABLE ROW LEVEL SECURITY",
    "CREATE POLICY everyone ON notes FOR SELECT TO authenticated USING (true)",
    `INSERT INTO notes VALUES (1, '${ALICE}', 'a1'), (2, '${BOB}', 'b1')`,
  );
});

afterEach(() => {
  a.close();
  b.close();
  dispose();
});

const generation = async (e: Engine) => Number((await e.store.execute("PRAGMA user_version", [])).rows[0]?.[0]);
const aliceSees = async (e: Engine) => (await e.query("SELECT id FROM notes ORDER BY id", [], alice)).rows;

describe("catalog changes by another connection", () => {
  test("every DDL bumps the generation once, a failed one not at all, and plain writes never", async () => {
    const before = await generation(b);
    await b.query("CREATE POLICY p ON notes FOR SELECT TO authenticated USING (id = 1)");
    expect(await generation(b)).toBe(before + 1);
    await b.query("DROP POLICY p ON notes");
    expect(await generation(b)).toBe(before + 2);
    await expect(b.query("CREATE POLICY p ON nope FOR SELECT USING (true)")).rejects.toThrow();
    await b.query("INSERT INTO notes VALUES (3, NULL, 'x')");
    expect(await generation(a)).toBe(before + 2);
  });

  test("a narrowed policy: stale until syncCatalog, then enforced; a dropped one likewise", async () => {
    expect(await aliceSees(a)).toEqual([[1], [2]]);
    await b.query("DROP POLICY everyone ON notes");
    await b.query("CREATE POLICY own ON notes FOR SELECT TO authenticated USING (owner = auth.uid())");
    // the cached plan of `a` still carries the old policy: this is what a request boundary fixes
    expect(await aliceSees(a)).toEqual([[1], [2]]);
    await a.syncCatalog();
    expect(await aliceSees(a)).toEqual([[1]]);
    await b.query("DROP POLICY own ON notes");
    await a.syncCatalog();
    expect(await aliceSees(a)).toEqual([]);
  });

  test("inside a transaction block the catalog stays as the block began; after it, the change applies", async () => {
    expect(await aliceSees(a)).toEqual([[1], [2]]);
    await a.query("BEGIN");
    expect(await aliceSees(a)).toEqual([[1], [2]]);
    await b.query("DROP POLICY everyone ON notes");
    await a.syncCatalog();
    // same transaction, same snapshot of the data and of the catalog
    expect(await aliceSees(a)).toEqual([[1], [2]]);
    await a.query("COMMIT");
    await a.syncCatalog();
    // RLS on and no policy left: no rows, as in Postgres
    expect(await aliceSees(a)).toEqual([]);
  });

  test("its own DDL does not make a connection read the catalog twice", async () => {
    await a.syncCatalog();
    await a.query("CREATE POLICY mine ON notes FOR SELECT TO authenticated USING (id = 2)");
    const version = a.catalogVersion;
    await a.syncCatalog();
    expect(a.catalogVersion).toBe(version);
  });
});
