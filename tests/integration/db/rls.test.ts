// Row-level security on real libSQL files: policies enforced by the planner on every statement
// and table reference, for request roles (AuthContext), service_role and the owner under FORCE.
import { afterEach, beforeEach, describe, expect, test } from "bun:test";
import { Engine } from "../../../src/db/engine.ts";
import { openStore } from "../../../src/db/store/index.ts";
import type { AuthContext } from "../../../src/db/types.ts";
import { failure, failureOf, run } from "../../helpers/engine.ts";
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

async function ownerOnlyNotes(): Promise<void> {
  await run(
    engine,
    "CREATE TABLE notes (id int PRIMARY KEY, owner uuid DEFAULT auth.uid(), body text)",
    "ALTER TABLE notes ENABLE ROW LEVEL SECURITY",
    "CREATE POLICY own ON notes FOR ALL TO authenticated USING (owner = auth.uid()) WITH CHECK (owner = auth.uid())",
    `INSERT INTO notes VALUES (1, '${ALICE}', 'a1'), (2, '${ALICE}', 'a2'), (3, '${BOB}', 'b1')`,
  );
}

describe("owner-only rows", () => {
  test("each user reads only their rows; anon, with no policy, reads none", async () => {
    await ownerOnlyNotes();
    expect(await rows("SELECT id FROM notes ORDER BY id", alice)).toEqual([[1], [2]]);
    expect(await rows("SELECT id FROM notes ORDER BY id", bob)).toEqual([[3]]);
    expect(await rows("SELECT id FROM notes ORDER BY id", anon)).toEqual([]);
    expect(await rows("SELECT count(*) FROM notes")).toEqual([[3]]);
  });

  test("the same SQL text planned once serves two users without leaking rows (plan cache keyed by role)", async () => {
    await ownerOnlyNotes();
    const sql = "SELECT id FROM notes WHERE id > $1 ORDER BY id";
    expect(await rows(sql, alice, [0])).toEqual([[1], [2]]);
    expect(await rows(sql, bob, [0])).toEqual([[3]]);
    expect(await rows(sql, alice, [0])).toEqual([[1], [2]]);
    expect(await rows(sql, undefined, [0])).toEqual([[1], [2], [3]]);
    expect(await rows(sql, anon, [0])).toEqual([]);
    expect(await rows(sql, service, [0])).toEqual([[1], [2], [3]]);
  });

  test("UPDATE and DELETE of other users' rows affect 0 rows", async () => {
    await ownerOnlyNotes();
    expect((await engine.query("UPDATE notes SET body = 'x' WHERE id = 3", [], alice)).command).toBe("UPDATE 0");
    expect((await engine.query("DELETE FROM notes WHERE id = 3", [], alice)).command).toBe("DELETE 0");
    expect((await engine.query("DELETE FROM notes", [], alice)).command).toBe("DELETE 2");
    expect(await rows("SELECT id, body FROM notes ORDER BY id")).toEqual([[3, "b1"]]);
  });

  test("INSERT of a row for someone else violates WITH CHECK and writes nothing", async () => {
    await ownerOnlyNotes();
    expect(
      await failureOf(engine.query(`INSERT INTO notes VALUES (9, '${BOB}', 'x'), (10, '${ALICE}', 'y')`, [], alice)),
    ).toEqual(["42501", 'new row violates row-level security policy for table "notes"', 0]);
    expect(await rows("SELECT count(*) FROM notes")).toEqual([[3]]);
  });

  test("a DEFAULT auth.uid() is evaluated per statement for the user inserting", async () => {
    await ownerOnlyNotes();
    expect(await rows("INSERT INTO notes (id, body) VALUES (4, 'mine') RETURNING owner", alice)).toEqual([[ALICE]]);
    expect(await rows("INSERT INTO notes (id, body) VALUES (5, 'mine') RETURNING owner", bob)).toEqual([[BOB]]);
    expect(await rows("INSERT INTO notes (id, body) VALUES (6, 'owner') RETURNING owner")).toEqual([[null]]);
    expect(await rows("SELECT id FROM notes WHERE id >= 4 ORDER BY id", bob)).toEqual([[5]]);
  });

  test("UPDATE that moves a row to another owner violates WITH CHECK and changes nothing", async () => {
    await ownerOnlyNotes();
    expect(await failureOf(engine.query(`UPDATE notes SET owner = '${BOB}' WHERE id = 1`, [], alice))).toEqual([
      "42501",
      'new row violates row-level security policy for table "notes"',
      0,
    ]);
    expect(await rows("SELECT owner FROM notes WHERE id = 1")).toEqual([[ALICE]]);
  });

  test("RETURNING, joins, subqueries, CTEs and views see only visible rows", async () => {
    await ownerOnlyNotes();
    await run(engine, "CREATE VIEW note_bodies WITH (security_invoker = true) AS SELECT id, body FROM notes");
    expect(await rows("SELECT n.id FROM notes n JOIN notes m ON m.id = n.id ORDER BY 1", bob)).toEqual([[3]]);
    expect(await rows("SELECT (SELECT count(*) FROM notes)", alice)).toEqual([[2]]);
    expect(await rows("SELECT id FROM notes WHERE id IN (SELECT id FROM notes WHERE id <> 1)", alice)).toEqual([[2]]);
    expect(await rows("WITH c AS (SELECT * FROM notes) SELECT count(*) FROM c", bob)).toEqual([[1]]);
    expect(await rows("SELECT id FROM note_bodies ORDER BY id", alice)).toEqual([[1], [2]]);
    expect(await rows("SELECT id FROM note_bodies ORDER BY id")).toEqual([[1], [2], [3]]);
    expect(await rows("UPDATE notes SET body = 'z' RETURNING id", bob)).toEqual([[3]]);
  });
});

describe("team membership through a subquery", () => {
  async function teams(): Promise<void> {
    await run(
      engine,
      "CREATE TABLE members (team int, uid uuid)",
      "CREATE TABLE docs (id int PRIMARY KEY, team int, title text)",
      "ALTER TABLE members ENABLE ROW LEVEL SECURITY",
      "ALTER TABLE docs ENABLE ROW LEVEL SECURITY",
      "CREATE POLICY self ON members FOR SELECT USING (uid = auth.uid())",
      "CREATE POLICY team_read ON docs FOR SELECT TO authenticated USING (team IN (SELECT team FROM members WHERE uid = auth.uid()))",
      "CREATE POLICY team_write ON docs FOR INSERT TO authenticated WITH CHECK (EXISTS (SELECT 1 FROM members m WHERE m.team = docs.team AND m.uid = auth.uid()))",
      `INSERT INTO members VALUES (1, '${ALICE}'), (2, '${BOB}'), (1, '${BOB}')`,
      "INSERT INTO docs VALUES (1, 1, 'one'), (2, 2, 'two'), (3, 3, 'three')",
    );
  }

  test("members of a team read its documents; the members table's own policy applies inside", async () => {
    await teams();
    expect(await rows("SELECT id FROM docs ORDER BY id", alice)).toEqual([[1]]);
    expect(await rows("SELECT id FROM docs ORDER BY id", bob)).toEqual([[1], [2]]);
    expect(await rows("SELECT team FROM members ORDER BY team", bob)).toEqual([[1], [2]]);
  });

  test("inserting into a team one is not in violates WITH CHECK", async () => {
    await teams();
    expect((await engine.query("INSERT INTO docs VALUES (4, 1, 'four')", [], alice)).command).toBe("INSERT 0 1");
    expect((await failure(engine.query("INSERT INTO docs VALUES (5, 2, 'five')", [], alice))).sqlstate).toBe("42501");
    expect(await rows("SELECT id FROM docs ORDER BY id")).toEqual([[1], [2], [3], [4]]);
  });

  test("RETURNING on INSERT also requires the SELECT policies", async () => {
    await run(
      engine,
      "CREATE TABLE drop_box (id int, v text)",
      "ALTER TABLE drop_box ENABLE ROW LEVEL SECURITY",
      "CREATE POLICY put ON drop_box FOR INSERT WITH CHECK (true)",
    );
    expect((await engine.query("INSERT INTO drop_box VALUES (1, 'a')", [], alice)).command).toBe("INSERT 0 1");
    expect(await failureOf(engine.query("INSERT INTO drop_box VALUES (2, 'b') RETURNING id", [], alice))).toEqual([
      "42501",
      'new row violates row-level security policy for table "drop_box"',
      0,
    ]);
    expect(await rows("SELECT id FROM drop_box")).toEqual([[1]]);
    expect(await rows("SELECT id FROM drop_box", alice)).toEqual([]);
  });

  test("a policy that reads its own table through another's is infinite recursion (42P17)", async () => {
    await teams();
    await run(engine, "CREATE POLICY loop ON members FOR SELECT USING (team IN (SELECT team FROM docs))");
    expect(await failureOf(engine.query("SELECT * FROM docs", [], alice))).toEqual([
      "42P17",
      'infinite recursion detected in policy for relation "docs"',
      0,
    ]);
  });
});

describe("public read, owner write; insert-only audit", () => {
  test("everyone reads posts, only the author changes them", async () => {
    await run(
      engine,
      "CREATE TABLE posts (id int PRIMARY KEY, author uuid DEFAULT auth.uid(), title text)",
      "ALTER TABLE posts ENABLE ROW LEVEL SECURITY",
      "CREATE POLICY read ON posts FOR SELECT USING (true)",
      "CREATE POLICY write ON posts FOR INSERT TO authenticated WITH CHECK (author = auth.uid())",
      "CREATE POLICY edit ON posts FOR UPDATE TO authenticated USING (author = auth.uid())",
    );
    await engine.query("INSERT INTO posts (id, title) VALUES (1, 'hello')", [], alice);
    expect(await rows("SELECT title FROM posts", anon)).toEqual([["hello"]]);
    expect((await engine.query("UPDATE posts SET title = 'x'", [], bob)).command).toBe("UPDATE 0");
    expect((await engine.query("UPDATE posts SET title = 'edited'", [], alice)).command).toBe("UPDATE 1");
    expect((await engine.query("DELETE FROM posts", [], alice)).command).toBe("DELETE 0");
    expect((await failure(engine.query("INSERT INTO posts (id, title) VALUES (2, 'anon')", [], anon))).sqlstate).toBe(
      "42501",
    );
    expect(await rows("SELECT title FROM posts")).toEqual([["edited"]]);
  });

  test("an insert-only audit table takes rows but shows and changes none", async () => {
    await run(
      engine,
      "CREATE TABLE audit (at int, who uuid DEFAULT auth.uid(), what text)",
      "ALTER TABLE audit ENABLE ROW LEVEL SECURITY",
      "CREATE POLICY append ON audit FOR INSERT TO authenticated, anon WITH CHECK (true)",
    );
    expect((await engine.query("INSERT INTO audit (at, what) VALUES (1, 'login')", [], alice)).command).toBe(
      "INSERT 0 1",
    );
    expect((await engine.query("INSERT INTO audit (at, what) VALUES (2, 'view')", [], anon)).command).toBe(
      "INSERT 0 1",
    );
    expect(await rows("SELECT * FROM audit", alice)).toEqual([]);
    expect((await engine.query("UPDATE audit SET what = 'x'", [], alice)).command).toBe("UPDATE 0");
    expect((await engine.query("DELETE FROM audit", [], alice)).command).toBe("DELETE 0");
    expect(await rows("SELECT at, who, what FROM audit ORDER BY at")).toEqual([
      [1, ALICE, "login"],
      [2, null, "view"],
    ]);
  });
});

describe("permissive and restrictive policies", () => {
  test("restrictive policies are AND-ed with the OR of the permissive ones", async () => {
    await run(
      engine,
      "CREATE TABLE items (id int, owner uuid, published bool, deleted bool)",
      "ALTER TABLE items ENABLE ROW LEVEL SECURITY",
      "CREATE POLICY mine ON items FOR SELECT USING (owner = auth.uid())",
      "CREATE POLICY public ON items FOR SELECT USING (published)",
      "CREATE POLICY live ON items AS RESTRICTIVE FOR SELECT USING (NOT deleted)",
      `INSERT INTO items VALUES (1, '${ALICE}', false, false), (2, '${BOB}', true, false), (3, '${BOB}', false, false), (4, '${ALICE}', true, true)`,
    );
    expect(await rows("SELECT id FROM items ORDER BY id", alice)).toEqual([[1], [2]]);
    expect(await rows("SELECT id FROM items ORDER BY id", bob)).toEqual([[2], [3]]);
  });

  test("restrictive policies alone allow nothing; a failed restrictive check is named", async () => {
    await run(
      engine,
      "CREATE TABLE r (id int, v int)",
      "ALTER TABLE r ENABLE ROW LEVEL SECURITY",
      "CREATE POLICY only_small ON r AS RESTRICTIVE USING (v < 10)",
      "INSERT INTO r VALUES (1, 1)",
    );
    expect(await rows("SELECT id FROM r", alice)).toEqual([]);
    await run(engine, "CREATE POLICY any ON r USING (true)");
    expect(await rows("SELECT id FROM r", alice)).toEqual([[1]]);
    expect(await failureOf(engine.query("INSERT INTO r VALUES (2, 50)", [], alice))).toEqual([
      "42501",
      'new row violates row-level security policy "only_small" for table "r"',
      0,
    ]);
  });

  test("policies apply only to the roles they name (PUBLIC: all)", async () => {
    await run(
      engine,
      "CREATE TABLE t (id int)",
      "ALTER TABLE t ENABLE ROW LEVEL SECURITY",
      "CREATE POLICY a ON t FOR SELECT TO anon USING (id = 1)",
      "CREATE POLICY b ON t FOR SELECT TO PUBLIC USING (id = 2)",
      "INSERT INTO t VALUES (1), (2), (3)",
    );
    expect(await rows("SELECT id FROM t ORDER BY id", anon)).toEqual([[1], [2]]);
    expect(await rows("SELECT id FROM t ORDER BY id", alice)).toEqual([[2]]);
  });
});

describe("INSERT … ON CONFLICT", () => {
  async function kv(): Promise<void> {
    await run(
      engine,
      "CREATE TABLE kv (k text PRIMARY KEY, owner uuid, v int)",
      "ALTER TABLE kv ENABLE ROW LEVEL SECURITY",
      "CREATE POLICY own ON kv USING (owner = auth.uid())",
      `INSERT INTO kv VALUES ('a', '${ALICE}', 1), ('b', '${BOB}', 1)`,
    );
  }

  test("updating one's own conflicting row works; someone else's is an error (USING expression)", async () => {
    await kv();
    const up = `INSERT INTO kv VALUES ($1, '${ALICE}', 5) ON CONFLICT (k) DO UPDATE SET v = kv.v + excluded.v`;
    expect((await engine.query(up, ["a"], alice)).command).toBe("INSERT 0 1");
    expect(await failureOf(engine.query(up, ["b"], alice))).toEqual([
      "42501",
      'new row violates row-level security policy (USING expression) for table "kv"',
      0,
    ]);
    expect(await rows("SELECT k, v FROM kv ORDER BY k")).toEqual([
      ["a", 6],
      ["b", 1],
    ]);
  });

  test("the proposed row must meet the INSERT check, the updated row the UPDATE check", async () => {
    await kv();
    expect(
      (await failure(engine.query(`INSERT INTO kv VALUES ('c', '${BOB}', 1) ON CONFLICT DO NOTHING`, [], alice)))
        .sqlstate,
    ).toBe("42501");
    expect(
      (
        await failure(
          engine.query(
            `INSERT INTO kv VALUES ('a', '${ALICE}', 1) ON CONFLICT (k) DO UPDATE SET owner = '${BOB}'`,
            [],
            alice,
          ),
        )
      ).message,
    ).toBe('new row violates row-level security policy for table "kv"');
    expect(await rows("SELECT k, owner FROM kv ORDER BY k")).toEqual([
      ["a", ALICE],
      ["b", BOB],
    ]);
  });
});

describe("who may run what", () => {
  test("service_role bypasses row-level security", async () => {
    await ownerOnlyNotes();
    expect(await rows("SELECT count(*) FROM notes", service)).toEqual([[3]]);
    expect((await engine.query(`INSERT INTO notes VALUES (7, '${BOB}', 'svc')`, [], service)).command).toBe(
      "INSERT 0 1",
    );
  });

  test("FORCE ROW LEVEL SECURITY applies the policies to the owner too", async () => {
    await ownerOnlyNotes();
    await run(engine, "CREATE POLICY owner_sees_alice ON notes TO postgres USING (owner = $$" + ALICE + "$$::uuid)");
    expect(await rows("SELECT count(*) FROM notes")).toEqual([[3]]);
    await run(engine, "ALTER TABLE notes FORCE ROW LEVEL SECURITY");
    expect(await rows("SELECT id FROM notes ORDER BY id")).toEqual([[1], [2]]);
    await run(engine, "ALTER TABLE notes NO FORCE ROW LEVEL SECURITY");
    expect(await rows("SELECT count(*) FROM notes")).toEqual([[3]]);
  });

  test("cave's own tables are refused to every request role, service_role included", async () => {
    await run(engine, "CREATE TABLE cave_users (id int)", "ALTER TABLE cave_users ENABLE ROW LEVEL SECURITY");
    for (const who of [alice, anon, service])
      expect(await failureOf(engine.query("SELECT * FROM cave_users", [], who))).toEqual([
        "42501",
        "permission denied for table cave_users",
        15,
      ]);
    expect((await failure(engine.query("DROP TABLE cave_users", [], service))).sqlstate).toBe("42501");
    expect(await rows("SELECT count(*) FROM cave_users")).toEqual([[0]]);
  });

  test("a table without row-level security is refused to request roles other than service_role", async () => {
    await run(engine, "CREATE TABLE open_t (id int)", "INSERT INTO open_t VALUES (1)");
    const e = await failure(engine.query("SELECT * FROM open_t", [], alice));
    expect([e.sqlstate, e.message]).toEqual(["42501", "permission denied for table open_t"]);
    expect(e.hint).toContain("ALTER TABLE open_t ENABLE ROW LEVEL SECURITY");
    expect((await failure(engine.query("INSERT INTO open_t VALUES (2)", [], anon))).sqlstate).toBe("42501");
    expect(await rows("SELECT id FROM open_t", service)).toEqual([[1]]);
  });

  test("request roles other than service_role may not run DDL or policy statements", async () => {
    await ownerOnlyNotes();
    for (const sql of [
      "CREATE TABLE x (a int)",
      "DROP TABLE notes",
      "ALTER TABLE notes DISABLE ROW LEVEL SECURITY",
      "CREATE POLICY p ON notes USING (true)",
      "DROP POLICY own ON notes",
      "CREATE INDEX ON notes (body)",
    ])
      expect((await failure(engine.query(sql, [], alice))).sqlstate).toBe("42501");
    expect((await engine.query("CREATE POLICY svc ON notes USING (true)", [], service)).command).toBe("CREATE POLICY");
  });
});

describe("policy DDL", () => {
  test("errors are Postgres's", async () => {
    await run(
      engine,
      "CREATE TABLE t (id int)",
      "CREATE POLICY p ON t USING (true)",
      "CREATE VIEW v AS SELECT 1 AS one",
    );
    expect(await failureOf(engine.query("CREATE POLICY p ON t USING (true)"))).toEqual([
      "42710",
      'policy "p" for table "t" already exists',
      0,
    ]);
    expect(await failureOf(engine.query("DROP POLICY q ON t"))).toEqual([
      "42704",
      'policy "q" for table "t" does not exist',
      0,
    ]);
    expect(await failureOf(engine.query("ALTER POLICY q ON t USING (true)"))).toEqual([
      "42704",
      'policy "q" for table "t" does not exist',
      0,
    ]);
    expect(await failureOf(engine.query("CREATE POLICY p ON nope USING (true)"))).toEqual([
      "42P01",
      'relation "nope" does not exist',
      0,
    ]);
    expect((await failure(engine.query("CREATE POLICY x ON t USING (nope = 1)"))).sqlstate).toBe("42703");
    expect(await failureOf(engine.query("CREATE POLICY x ON t FOR INSERT USING (true)"))).toEqual([
      "42601",
      "only WITH CHECK expression allowed for INSERT",
      0,
    ]);
    expect(await failureOf(engine.query("CREATE POLICY x ON t FOR SELECT WITH CHECK (true)"))).toEqual([
      "42601",
      "WITH CHECK cannot be applied to SELECT or DELETE",
      0,
    ]);
    expect(await failureOf(engine.query("CREATE POLICY x ON t FOR DELETE WITH CHECK (true)"))).toEqual([
      "42601",
      "WITH CHECK cannot be applied to SELECT or DELETE",
      0,
    ]);
    expect((await failure(engine.query("CREATE POLICY x ON t USING (id)"))).message).toBe(
      "argument of USING must be type boolean, not type integer",
    );
    expect((await engine.query("DROP POLICY IF EXISTS q ON t")).command).toBe("DROP POLICY");
    expect((await engine.query("ALTER POLICY p ON t RENAME TO p2")).command).toBe("ALTER POLICY");
    expect((await engine.query("DROP POLICY p2 ON t")).command).toBe("DROP POLICY");
  });

  test("policies and row-security flags survive reopening the database; DROP TABLE drops its policies", async () => {
    await ownerOnlyNotes();
    engine.close();
    engine = await Engine.open(openStore(path));
    expect(await rows("SELECT id FROM notes ORDER BY id", bob)).toEqual([[3]]);
    expect(await rows("INSERT INTO notes (id, body) VALUES (8, 'again') RETURNING owner", bob)).toEqual([[BOB]]);
    await run(
      engine,
      "DROP TABLE notes",
      "CREATE TABLE notes (id int)",
      "ALTER TABLE notes ENABLE ROW LEVEL SECURITY",
      "INSERT INTO notes VALUES (1)",
    );
    expect(await rows("SELECT id FROM notes", alice)).toEqual([]);
    await run(engine, "CREATE POLICY own ON notes USING (true)");
    expect(await rows("SELECT id FROM notes", alice)).toEqual([[1]]);
  });

  test("a policy change re-plans cached statements", async () => {
    await ownerOnlyNotes();
    expect(await rows("SELECT count(*) FROM notes", alice)).toEqual([[2]]);
    await run(engine, "ALTER POLICY own ON notes USING (true)");
    expect(await rows("SELECT count(*) FROM notes", alice)).toEqual([[3]]);
    await run(engine, "ALTER TABLE notes DISABLE ROW LEVEL SECURITY");
    expect((await failure(engine.query("SELECT count(*) FROM notes", [], alice))).sqlstate).toBe("42501");
  });

  test("auth.uid(), auth.role() and auth.jwt() are the request's values, NULL for the owner", async () => {
    expect(await rows("SELECT auth.uid(), auth.role(), auth.jwt() ->> 'sub'", alice)).toEqual([
      [ALICE, "authenticated", ALICE],
    ]);
    expect(await rows("SELECT auth.uid(), auth.role(), auth.jwt()")).toEqual([[null, null, null]]);
  });
});
