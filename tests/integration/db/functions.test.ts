// User-defined SQL functions on real libSQL files: CREATE [OR REPLACE] / DROP FUNCTION in the
// catalog, calls in expressions and FROM (arguments by position, by name, $n and DEFAULTs), a
// body that writes called as a whole statement, Postgres's errors for bad definitions and calls,
// and row-level security inside a function's body (SECURITY INVOKER: the caller's policies).
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { Engine } from "../../../src/db/engine.ts";
import { openStore } from "../../../src/db/store/index.ts";
import type { AuthContext } from "../../../src/db/types.ts";
import { failureOf, run } from "../../helpers/engine.ts";
import { ALICE, alice, anon, BOB, bob, service } from "../../helpers/roles.ts";
import { tempStore } from "../../helpers/store.ts";

let engine: Engine;
let path = "";
let dispose = () => {};

beforeEach(async () => {
  const t = tempStore("file");
  path = t.path;
  dispose = t.dispose;
  engine = await Engine.open(t.store);
});

afterEach(() => {
  engine.close();
  dispose();
});

const rows = async (sql: string, opts?: { auth: AuthContext }, params: unknown[] = []) =>
  (await engine.query(sql, params, opts)).rows;

async function notes(): Promise<void> {
  await run(
    engine,
    "CREATE TABLE notes (id int PRIMARY KEY, owner uuid NOT NULL DEFAULT auth.uid(), body text)",
    "ALTER TABLE notes ENABLE ROW LEVEL SECURITY",
    "CREATE POLICY own ON notes FOR ALL TO authenticated USING (owner = auth.uid()) WITH CHECK (owner = auth.uid())",
    `INSERT INTO notes VALUES (1, '${ALICE}', 'a1'), (2, '${ALICE}', 'a2'), (3, '${BOB}', 'b1')`,
  );
}

describe("definitions and calls", () => {
  test("a scalar function is called by position, by name, with $n and DEFAULTs, and with the caller's parameters", async () => {
    await engine.query(
      "CREATE FUNCTION add(a int, b int DEFAULT 10) RETURNS int LANGUAGE sql IMMUTABLE AS $$ SELECT a + $2 $$",
    );
    const r = await engine.query("SELECT add(1, 2), add(5), add(b => 1, a => 2) AS named");
    expect(r.columns).toEqual([
      { name: "add", type: "int4" },
      { name: "add", type: "int4" },
      { name: "named", type: "int4" },
    ]);
    expect(r.rows).toEqual([[3, 15, 3]]);
    expect(await rows("SELECT add($1, $2)", undefined, [3, 4])).toEqual([[7]]);
    expect(await rows("SELECT * FROM add(1, 2) AS s")).toEqual([[3]]);
    expect(await rows("SELECT x, add(x, x) FROM generate_series(1, 3) AS x ORDER BY x")).toEqual([
      [1, 2],
      [2, 4],
      [3, 6],
    ]);
  });

  test("SETOF table and RETURNS TABLE functions are FROM items that WHERE, ORDER BY and joins apply to", async () => {
    await notes();
    await run(
      engine,
      "CREATE FUNCTION notes_like(pattern text DEFAULT '%') RETURNS SETOF notes LANGUAGE sql STABLE AS $$ SELECT * FROM notes WHERE body LIKE pattern $$",
      "CREATE FUNCTION since(n int) RETURNS TABLE (x int, label text) LANGUAGE sql AS 'SELECT id, body FROM notes WHERE id >= n'",
    );
    expect(await rows("SELECT id, body FROM notes_like('a%') WHERE id > 1 ORDER BY id")).toEqual([[2, "a2"]]);
    expect(await rows("SELECT * FROM since(2) ORDER BY x DESC")).toEqual([
      [3, "b1"],
      [2, "a2"],
    ]);
    expect(await rows("SELECT s.label FROM since(1) AS s JOIN notes n ON n.id = s.x WHERE n.body = 'b1'")).toEqual([
      ["b1"],
    ]);
  });

  test("a function whose body writes runs as the whole statement and answers its RETURNING as the declared row", async () => {
    await notes();
    await engine.query(
      "CREATE FUNCTION add_note(i int, b text) RETURNS notes LANGUAGE sql AS $$ INSERT INTO notes (id, body) VALUES (i, b) RETURNING * $$",
    );
    const r = await engine.query("SELECT * FROM add_note(10, 'mine')", [], alice);
    expect([r.command, r.rows]).toEqual(["INSERT 0 1", [[10, ALICE, "mine"]]]);
    await engine.query(
      "CREATE FUNCTION drop_note(i int) RETURNS int LANGUAGE sql AS $$ DELETE FROM notes WHERE id = i RETURNING id $$",
    );
    expect(await rows("SELECT drop_note(3)", alice)).toEqual([]);
    expect(await rows("SELECT drop_note(10) AS gone", alice)).toEqual([[10]]);
    expect(await failureOf(engine.query("SELECT drop_note(1) + 1", [], alice))).toEqual([
      "0A000",
      "function drop_note writes (INSERT/UPDATE/DELETE) and can only be called as a whole statement",
      8,
    ]);
  });
});

describe("row-level security inside a function's body", () => {
  test("the body runs with the caller's role: each user counts and reads only their rows; anon none; service_role all", async () => {
    await notes();
    await run(
      engine,
      "CREATE FUNCTION note_count() RETURNS bigint LANGUAGE sql STABLE AS $$ SELECT count(*) FROM notes $$",
      "CREATE FUNCTION my_notes() RETURNS SETOF notes LANGUAGE sql STABLE AS $$ SELECT * FROM notes ORDER BY id $$",
    );
    expect(await rows("SELECT note_count()", alice)).toEqual([[2]]);
    expect(await rows("SELECT note_count()", bob)).toEqual([[1]]);
    expect(await rows("SELECT note_count()", anon)).toEqual([[0]]);
    expect(await rows("SELECT note_count()", service)).toEqual([[3]]);
    expect(await rows("SELECT id FROM my_notes()", alice)).toEqual([[1], [2]]);
    expect(await rows("SELECT id FROM my_notes()", bob)).toEqual([[3]]);
  });

  test("a write through a function meets the policy's WITH CHECK as the caller (42501)", async () => {
    await notes();
    await engine.query(
      "CREATE FUNCTION give(i int, who uuid) RETURNS int LANGUAGE sql AS $$ INSERT INTO notes VALUES (i, who, 'x') RETURNING id $$",
    );
    expect(await rows("SELECT give(20, $1)", alice, [ALICE])).toEqual([[20]]);
    expect((await failureOf(engine.query("SELECT give(21, $1)", [BOB], alice)))[0]).toBe("42501");
    expect(await rows("SELECT id FROM notes WHERE id >= 20")).toEqual([[20]]);
  });

  test("request roles may call functions but not create or drop them (42501); SECURITY DEFINER is refused (0A000)", async () => {
    await engine.query("CREATE FUNCTION one() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$");
    expect(await rows("SELECT one()", anon)).toEqual([[1]]);
    for (const sql of ["CREATE FUNCTION two() RETURNS int LANGUAGE sql AS $$ SELECT 2 $$", "DROP FUNCTION one()"])
      expect((await failureOf(engine.query(sql, [], alice)))[0]).toBe("42501");
    expect(
      await failureOf(engine.query("CREATE FUNCTION d() RETURNS int LANGUAGE sql SECURITY DEFINER AS $$ SELECT 1 $$")),
    ).toEqual(["0A000", "SECURITY DEFINER functions are not supported", 0]);
  });
});

describe("errors, OR REPLACE, DROP and persistence", () => {
  test("bad definitions fail as in Postgres: 42P13, 42P01, 42P02, 0A000, 42723", async () => {
    await engine.query("CREATE FUNCTION f(a int) RETURNS int LANGUAGE sql AS $$ SELECT a $$");
    const cases: [string, string][] = [
      ["CREATE FUNCTION g() RETURNS int LANGUAGE sql AS $$ SELECT 1, 2 $$", "42P13"],
      ["CREATE FUNCTION g() RETURNS int LANGUAGE sql AS $$ SELECT 'x'::text $$", "42P13"],
      ["CREATE FUNCTION g() RETURNS int LANGUAGE sql AS $$ SELECT x FROM nowhere $$", "42P01"],
      ["CREATE FUNCTION g(a int) RETURNS int LANGUAGE sql AS $$ SELECT $2 $$", "42P02"],
      ["CREATE FUNCTION g(a int DEFAULT 1, b int) RETURNS int LANGUAGE sql AS $$ SELECT a $$", "42P13"],
      ["CREATE FUNCTION g() RETURNS int LANGUAGE sql STABLE AS $$ DELETE FROM t RETURNING 1 $$", "0A000"],
      ["CREATE FUNCTION f(a int) RETURNS int LANGUAGE sql AS $$ SELECT a $$", "42723"],
      ["CREATE FUNCTION g() RETURNS int LANGUAGE plpgsql AS $$ BEGIN RETURN 1; END $$", "0A000"],
    ];
    for (const [sql, state] of cases) expect([sql, (await failureOf(engine.query(sql)))[0]]).toEqual([sql, state]);
    expect(await failureOf(engine.query("SELECT f(1, 2)"))).toEqual([
      "42883",
      "function f(integer, integer) does not exist",
      8,
    ]);
    expect((await failureOf(engine.query("SELECT f(x => 1)")))[0]).toBe("42883");
    expect((await failureOf(engine.query("SELECT f('abc')")))[0]).toBe("22P02");
  });

  test("OR REPLACE changes the body (cached plans follow); a different return type is 42P13; DROP removes it", async () => {
    await engine.query("CREATE FUNCTION v() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$");
    expect(await rows("SELECT v()")).toEqual([[1]]);
    await engine.query("CREATE OR REPLACE FUNCTION v() RETURNS int LANGUAGE sql AS $$ SELECT 2 $$");
    expect(await rows("SELECT v()")).toEqual([[2]]);
    expect(
      (
        await failureOf(engine.query("CREATE OR REPLACE FUNCTION v() RETURNS text LANGUAGE sql AS $$ SELECT 'x' $$"))
      )[0],
    ).toBe("42P13");
    expect((await failureOf(engine.query("DROP FUNCTION v(text)")))[0]).toBe("42883");
    await engine.query("DROP FUNCTION v()");
    expect(await failureOf(engine.query("SELECT v()"))).toEqual(["42883", "function v() does not exist", 8]);
    expect((await engine.query("DROP FUNCTION IF EXISTS v")).command).toBe("DROP FUNCTION");
  });

  test("functions are kept in the catalog across a reopen, and a rolled-back CREATE FUNCTION leaves none", async () => {
    await run(
      engine,
      "CREATE FUNCTION twice(x numeric) RETURNS numeric LANGUAGE sql IMMUTABLE AS $$ SELECT x * 2 $$",
      "BEGIN",
      "CREATE FUNCTION gone() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$",
      "ROLLBACK",
    );
    engine.close();
    engine = await Engine.open(openStore(path));
    expect(await rows("SELECT twice(2.5)")).toEqual([[5]]);
    expect((await failureOf(engine.query("SELECT gone()")))[0]).toBe("42883");
  });
});
