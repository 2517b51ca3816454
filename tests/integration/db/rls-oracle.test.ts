// Row-level security checked against a real PostgreSQL 15 (the differential oracle, issue 6).
// The same schema, rows and policies are set up in both engines as the tables' owner; then each
// statement runs as a request role (anon, authenticated with a user's JWT claims, service_role)
// or as the owner, in a transaction that is rolled back. Compared: the rows returned (sorted
// multisets of normalised values), the affected-row count, the SQLSTATE of an error (42501 against
// success is the difference that matters), and after a successful write every table's contents
// read past row-level security. Generated cases (tests/helpers/rls-gen.ts, fast-check, seeded and
// shrunk on failure) and hand-written classics. Skipped, saying why, without PostgreSQL 15.
//
// RLS_ORACLE_SEED=<n>|random replays or explores a run (the seed is printed), RLS_ORACLE_RUNS sets how
// many generated schemas (each with up to RLS_ORACLE_CASES statements), RLS_ORACLE_PATH replays
// fast-check's shrunk counterexample, RLS_ORACLE_PG_ONLY=1 runs PostgreSQL's side alone, and
// RLS_ORACLE_REPORT=<file> surveys: every mismatch of every run, unshrunk, written to the file.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import fc from "fast-check";
import { Engine } from "../../../src/db/engine.ts";
import { DbError } from "../../../src/db/errors.ts";
import { openStore } from "../../../src/db/store/index.ts";
import type { QueryOptions, QueryResult } from "../../../src/db/types.ts";
import {
  connectPg,
  isPgServerError,
  type PgClient,
  type PgResult,
  postgresUnavailable,
  startPostgres,
  type ThrowawayPostgres,
} from "../../helpers/postgres.ts";
import {
  type CaseSpec,
  isWrite,
  type RenderedSchema,
  type RunSpec,
  renderSchema,
  renderStatement,
  runArb,
  type StatementKind,
  simplerRuns,
  USERS,
  type Who,
  who,
} from "../../helpers/rls-gen.ts";

const unavailable = postgresUnavailable();
if (unavailable) console.warn(`skipping the row-level-security oracle: ${unavailable}`);

const envInt = (name: string, fallback: number) => {
  const v = process.env[name];
  return v === undefined || v === "" ? fallback : Number.parseInt(v, 10);
};
// A fixed seed by default so `make test` is the same run for everyone; RLS_ORACLE_SEED=random
// explores (the seed it drew is printed, and on a mismatch, the replay line).
const SEED = process.env.RLS_ORACLE_SEED === "random" ? Date.now() % 2 ** 31 : envInt("RLS_ORACLE_SEED", 20_260_601);
const RUNS = envInt("RLS_ORACLE_RUNS", 150);
const CASES = envInt("RLS_ORACLE_CASES", 16);
/** Only PostgreSQL's side: for working on the generator (every statement must be valid there). */
const PG_ONLY = process.env.RLS_ORACLE_PG_ONLY === "1";
/** Survey mode: no shrinking, every mismatch of every run written to this file. */
const REPORT_FILE = process.env.RLS_ORACLE_REPORT || "";

// ---------------------------------------------------------------------------------------------
// Outcomes, normalised so the two engines' drivers compare (pg returns int8 as text, bkg-db
// returns numbers; booleans as t/f; NULL as ∅).

type Outcome =
  | { ok: true; columns: number; rows: string[]; count: number; contents: string[] | null }
  | { ok: false; sqlstate: string; message: string };

function norm(v: unknown): string {
  if (v === null || v === undefined) return "∅";
  if (typeof v === "boolean") return v ? "t" : "f";
  if (typeof v === "number" || typeof v === "bigint") return String(Number(v));
  if (typeof v === "string") return /^-?\d+(\.\d+)?$/.test(v) ? String(Number(v)) : v;
  return JSON.stringify(v);
}
const normRows = (rows: unknown[][]) => rows.map((r) => r.map(norm).join(" | ")).sort();

function describeOutcome(o: Outcome | null): string {
  if (!o) return "(not run)";
  if (!o.ok) return `ERROR ${o.sqlstate}: ${o.message}`;
  const lines = [`ok, ${o.count} row(s) counted, ${o.columns} column(s)`, ...o.rows.map((r) => `    ${r}`)];
  if (o.contents) lines.push("  contents after:", ...o.contents.map((r) => `    ${r}`));
  return lines.join("\n");
}

/** Whether two outcomes agree; errors agree on the SQLSTATE alone (messages are worded apart). */
function same(a: Outcome, b: Outcome): boolean {
  if (!a.ok || !b.ok) return !a.ok && !b.ok && a.sqlstate === b.sqlstate;
  return (
    a.columns === b.columns &&
    a.count === b.count &&
    JSON.stringify(a.rows) === JSON.stringify(b.rows) &&
    JSON.stringify(a.contents) === JSON.stringify(b.contents)
  );
}

// ---------------------------------------------------------------------------------------------
// PostgreSQL: roles as Supabase has them, the owner a plain role (a superuser would bypass RLS),
// auth.uid()/role()/jwt() as Supabase defines them over request.jwt.claims.

const PG_BOOTSTRAP = [
  "CREATE ROLE app_owner NOLOGIN",
  "CREATE ROLE anon NOLOGIN",
  "CREATE ROLE authenticated NOLOGIN",
  "CREATE ROLE service_role NOLOGIN BYPASSRLS",
  "CREATE SCHEMA auth",
  "GRANT USAGE ON SCHEMA auth TO app_owner, anon, authenticated, service_role",
  `CREATE FUNCTION auth.uid() RETURNS uuid LANGUAGE sql STABLE AS $$
     SELECT coalesce(nullif(current_setting('request.jwt.claim.sub', true), ''),
                     (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'sub'))::uuid $$`,
  `CREATE FUNCTION auth.role() RETURNS text LANGUAGE sql STABLE AS $$
     SELECT coalesce(nullif(current_setting('request.jwt.claim.role', true), ''),
                     (nullif(current_setting('request.jwt.claims', true), '')::jsonb ->> 'role'))::text $$`,
  `CREATE FUNCTION auth.jwt() RETURNS jsonb LANGUAGE sql STABLE AS $$
     SELECT coalesce(nullif(current_setting('request.jwt.claim', true), ''),
                     nullif(current_setting('request.jwt.claims', true), ''))::jsonb $$`,
];

class PostgresSide {
  constructor(private readonly client: PgClient) {}

  async bootstrap(): Promise<void> {
    for (const s of PG_BOOTSTRAP) await this.client.query(s);
  }

  async setup(schema: RenderedSchema): Promise<void> {
    const c = this.client;
    await c.query("DROP SCHEMA IF EXISTS public CASCADE");
    await c.query("CREATE SCHEMA public");
    await c.query("GRANT USAGE, CREATE ON SCHEMA public TO app_owner");
    await c.query("GRANT USAGE ON SCHEMA public TO anon, authenticated, service_role");
    await c.query("SET ROLE app_owner");
    try {
      for (const s of [...schema.tables, ...schema.security]) await c.query(s);
      // bkg-db's views are always security-invoker; PostgreSQL's must say so.
      for (const v of schema.views) await c.query(`CREATE VIEW ${v.name} WITH (security_invoker = true) AS ${v.query}`);
    } finally {
      await c.query("RESET ROLE");
    }
    // bkg-db has no GRANTs: every table is open to the request roles, policies decide.
    await c.query("GRANT ALL ON ALL TABLES IN SCHEMA public TO anon, authenticated, service_role");
  }

  async run(schema: RenderedSchema, w: Who, sql: string, write: boolean): Promise<Outcome> {
    const c = this.client;
    await c.query("BEGIN");
    try {
      await c.query(`SET LOCAL ROLE ${w.role ?? "app_owner"}`);
      await c.query({
        text: "SELECT set_config('request.jwt.claims', $1, true)",
        values: [w.role ? JSON.stringify(w.claims) : ""],
        rowMode: "array",
      });
      let r: PgResult;
      try {
        r = await c.query({ text: sql, rowMode: "array" });
      } catch (e) {
        if (!isPgServerError(e)) throw e;
        return { ok: false, sqlstate: e.code, message: e.message };
      }
      let contents: string[] | null = null;
      if (write) {
        await c.query("RESET ROLE");
        contents = [];
        for (const t of schema.contents) {
          const rows = await c.query({ text: `SELECT * FROM ${t.table} ORDER BY ${t.orderBy}`, rowMode: "array" });
          contents.push(...normRows(rows.rows).map((row) => `${t.table}: ${row}`));
        }
      }
      return { ok: true, columns: r.fields.length, rows: normRows(r.rows), count: r.rowCount ?? 0, contents };
    } finally {
      await c.query("ROLLBACK");
    }
  }
}

// ---------------------------------------------------------------------------------------------
// bkg-db: a fresh engine on a temp libSQL file per schema; the owner is a query without auth.

const SERVICE: QueryOptions = { auth: { role: "service_role", claims: { role: "service_role" } } };
const optionsOf = (w: Who): QueryOptions | undefined =>
  w.role ? { auth: { role: w.role, claims: w.claims } } : undefined;

class CaveSide {
  private constructor(
    private readonly engine: Engine,
    private readonly dir: string,
  ) {}

  static async open(schema: RenderedSchema): Promise<CaveSide> {
    const dir = mkdtempSync(join(tmpdir(), "cave-rls-oracle-"));
    const engine = await Engine.open(openStore(join(dir, "db.sqlite")));
    const side = new CaveSide(engine, dir);
    try {
      // One transaction: one sync of the file instead of one per statement.
      await engine.query("BEGIN");
      for (const s of [...schema.tables, ...schema.security]) await engine.query(s);
      for (const v of schema.views) await engine.query(`CREATE VIEW ${v.name} AS ${v.query}`);
      await engine.query("COMMIT");
    } catch (e) {
      side.close();
      throw e;
    }
    return side;
  }

  close(): void {
    this.engine.close();
    rmSync(this.dir, { recursive: true, force: true });
  }

  private query(sql: string, options?: QueryOptions): Promise<QueryResult> {
    return this.engine.query(sql, [], options);
  }

  async run(schema: RenderedSchema, w: Who, sql: string, write: boolean): Promise<Outcome> {
    await this.query("BEGIN");
    try {
      let r: QueryResult;
      try {
        r = await this.query(sql, optionsOf(w));
      } catch (e) {
        if (!(e instanceof DbError)) throw e;
        return { ok: false, sqlstate: e.sqlstate, message: e.message };
      }
      let contents: string[] | null = null;
      if (write) {
        contents = [];
        for (const t of schema.contents) {
          const rows = await this.query(`SELECT * FROM ${t.table} ORDER BY ${t.orderBy}`, SERVICE);
          contents.push(...normRows(rows.rows).map((row) => `${t.table}: ${row}`));
        }
      }
      return { ok: true, columns: r.columns.length, rows: normRows(r.rows), count: r.rowCount, contents };
    } finally {
      await this.query("ROLLBACK");
    }
  }
}

// ---------------------------------------------------------------------------------------------
// Hand-written classics: each case states PostgreSQL's answer (a row count, or a SQLSTATE), so
// a classic checks the harness and its author's reading of PostgreSQL as well as bkg-db.

const [U0, U1, U2] = USERS.map((u) => `'${u}'`);
const AS = { owner: 0, anon: 1, service: 2, u0: 3, u1: 4, u2: 5, stranger: 6 } as const;

interface Classic {
  name: string;
  schema: RenderedSchema;
  cases: [who: number, sql: string, expected: number | string][];
}

const contentsOf = (...tables: [string, string][]) => tables.map(([table, orderBy]) => ({ table, orderBy }));

const CLASSICS: Classic[] = [
  {
    name: "owner-only rows: each user reads and writes only their own",
    schema: {
      tables: [
        "CREATE TABLE todos (id int PRIMARY KEY, owner_id uuid NOT NULL DEFAULT auth.uid(), task text)",
        `INSERT INTO todos VALUES (1, ${U0}, 'a'), (2, ${U0}, 'b'), (3, ${U1}, 'c')`,
      ],
      security: [
        "ALTER TABLE todos ENABLE ROW LEVEL SECURITY",
        "CREATE POLICY own ON todos FOR ALL TO authenticated USING (owner_id = auth.uid())",
      ],
      views: [{ name: "my_todos", query: "SELECT id, task FROM todos" }],
      contents: contentsOf(["todos", "id"]),
    },
    cases: [
      [AS.u0, "SELECT * FROM todos", 2],
      [AS.u1, "SELECT id, task FROM todos", 1],
      [AS.stranger, "SELECT * FROM todos", 0],
      [AS.anon, "SELECT * FROM todos", 0],
      [AS.owner, "SELECT * FROM todos", 3],
      [AS.service, "SELECT * FROM todos", 3],
      [AS.u0, "SELECT * FROM my_todos", 2],
      [AS.u0, "WITH mine AS (SELECT * FROM todos) SELECT count(*) FROM mine", 1],
      [AS.u1, "SELECT id FROM todos WHERE id IN (SELECT id FROM todos WHERE task <> 'zz')", 1],
      [AS.u0, "INSERT INTO todos (id, task) VALUES (4, 'd') RETURNING owner_id", 1],
      [AS.u0, `INSERT INTO todos VALUES (5, ${U1}, 'x')`, "42501"],
      [AS.anon, "INSERT INTO todos (id, task) VALUES (6, 'x')", "42501"],
      [AS.u0, "UPDATE todos SET task = 'z'", 2],
      [AS.u0, `UPDATE todos SET owner_id = ${U1} WHERE id = 1`, "42501"],
      [AS.u1, "UPDATE todos SET task = 'mine now' WHERE id = 1", 0],
      [AS.u1, "DELETE FROM todos WHERE id = 1", 0],
      [AS.u1, "DELETE FROM todos RETURNING id", 1],
      [AS.u0, `INSERT INTO todos VALUES (3, ${U0}, 'c2') ON CONFLICT (id) DO UPDATE SET task = excluded.task`, "42501"],
      [AS.u0, `INSERT INTO todos VALUES (1, ${U0}, 'a2') ON CONFLICT (id) DO UPDATE SET task = excluded.task`, 1],
      [AS.u0, `INSERT INTO todos VALUES (3, ${U0}, 'c2') ON CONFLICT (id) DO NOTHING`, 0],
    ],
  },
  {
    name: "team membership: rows of the teams a user belongs to, through a policy subquery",
    schema: {
      tables: [
        "CREATE TABLE members (user_id uuid NOT NULL, team_id int NOT NULL, PRIMARY KEY (user_id, team_id))",
        `INSERT INTO members VALUES (${U0}, 1), (${U1}, 1), (${U1}, 2), (${U2}, 3)`,
        "CREATE TABLE projects (id int PRIMARY KEY, team_id int NOT NULL, name text)",
        "INSERT INTO projects VALUES (1, 1, 'a'), (2, 2, 'b'), (3, 3, 'c'), (4, 1, 'd')",
      ],
      security: [
        "ALTER TABLE members ENABLE ROW LEVEL SECURITY",
        "ALTER TABLE projects ENABLE ROW LEVEL SECURITY",
        "CREATE POLICY members_self ON members FOR SELECT TO authenticated USING (user_id = auth.uid())",
        "CREATE POLICY team_read ON projects FOR SELECT TO authenticated USING (team_id IN (SELECT team_id FROM members WHERE user_id = auth.uid()))",
        "CREATE POLICY team_write ON projects FOR INSERT TO authenticated WITH CHECK (EXISTS (SELECT 1 FROM members m WHERE m.team_id = projects.team_id AND m.user_id = auth.uid()))",
      ],
      views: [],
      contents: contentsOf(["members", "user_id, team_id"], ["projects", "id"]),
    },
    cases: [
      [AS.u0, "SELECT * FROM projects", 2],
      [AS.u1, "SELECT * FROM projects", 3],
      [AS.u2, "SELECT name FROM projects", 1],
      [AS.stranger, "SELECT * FROM projects", 0],
      [AS.anon, "SELECT * FROM projects", 0],
      [AS.u1, "SELECT p.name, m.user_id FROM projects p JOIN members m ON m.team_id = p.team_id", 3],
      [AS.u0, "SELECT p.id, (SELECT count(*) FROM members m WHERE m.team_id = p.team_id) FROM projects p", 2],
      [AS.u0, "SELECT team_id, count(*) FROM projects GROUP BY team_id", 1],
      [AS.u0, "INSERT INTO projects VALUES (10, 2, 'x')", "42501"],
      [AS.u0, "INSERT INTO projects VALUES (10, 1, 'x')", 1],
      [AS.u0, "INSERT INTO projects VALUES (10, 1, 'x') RETURNING *", 1],
      [AS.u0, "UPDATE projects SET name = 'y'", 0],
      [AS.u0, "INSERT INTO members VALUES (auth.uid(), 2)", "42501"],
    ],
  },
  {
    name: "public read, owner write: published posts for everyone, drafts and edits for the author",
    schema: {
      tables: [
        "CREATE TABLE posts (id int PRIMARY KEY, author_id uuid, body text, published boolean NOT NULL DEFAULT false)",
        `INSERT INTO posts VALUES (1, ${U0}, 'a', true), (2, ${U0}, 'b', false), (3, ${U1}, 'c', true)`,
      ],
      security: [
        "ALTER TABLE posts ENABLE ROW LEVEL SECURITY",
        "CREATE POLICY read ON posts FOR SELECT TO anon, authenticated USING (published OR author_id = auth.uid())",
        "CREATE POLICY write ON posts FOR INSERT TO authenticated WITH CHECK (author_id = auth.uid())",
        "CREATE POLICY edit ON posts FOR UPDATE TO authenticated USING (author_id = auth.uid()) WITH CHECK (author_id = auth.uid())",
        "CREATE POLICY remove ON posts FOR DELETE TO authenticated USING (author_id = auth.uid())",
      ],
      views: [],
      contents: contentsOf(["posts", "id"]),
    },
    cases: [
      [AS.anon, "SELECT * FROM posts", 2],
      [AS.u0, "SELECT * FROM posts", 3],
      [AS.u1, "SELECT id FROM posts", 2],
      [AS.anon, `INSERT INTO posts VALUES (9, ${U0}, 'x', true)`, "42501"],
      [AS.u1, `INSERT INTO posts VALUES (9, ${U1}, 'x', false) RETURNING id`, 1],
      [AS.u1, "UPDATE posts SET body = 'x' WHERE id = 1", 0],
      [AS.u0, "UPDATE posts SET body = 'x' WHERE id = 1", 1],
      [AS.u0, `UPDATE posts SET author_id = ${U1} WHERE id = 2`, "42501"],
      [AS.u0, "DELETE FROM posts WHERE id = 3", 0],
      [AS.u1, "DELETE FROM posts WHERE id = 3 RETURNING id", 1],
      [AS.u0, "UPDATE posts SET published = NOT published RETURNING id, published", 2],
    ],
  },
  {
    name: "insert-only audit table: INSERT allowed; SELECT, UPDATE, DELETE and RETURNING denied",
    schema: {
      tables: [
        "CREATE TABLE audit (id int PRIMARY KEY, actor uuid DEFAULT auth.uid(), action text NOT NULL)",
        `INSERT INTO audit VALUES (1, ${U0}, 'signup')`,
      ],
      security: [
        "ALTER TABLE audit ENABLE ROW LEVEL SECURITY",
        "CREATE POLICY append ON audit FOR INSERT TO anon, authenticated WITH CHECK (true)",
      ],
      views: [],
      contents: contentsOf(["audit", "id"]),
    },
    cases: [
      [AS.u0, "INSERT INTO audit (id, action) VALUES (10, 'login')", 1],
      [AS.anon, "INSERT INTO audit (id, action) VALUES (11, 'visit')", 1],
      [AS.u0, "INSERT INTO audit (id, action) VALUES (12, 'login') RETURNING id", "42501"],
      [AS.u0, "SELECT * FROM audit", 0],
      [AS.u0, "SELECT count(*) FROM audit", 1],
      [AS.u0, "UPDATE audit SET action = 'forged'", 0],
      [AS.u0, "DELETE FROM audit", 0],
      // A conflict target needs SELECT on its columns, so the new row must pass the SELECT
      // policies (there are none): PostgreSQL refuses even when nothing conflicts.
      [AS.u0, "INSERT INTO audit (id, action) VALUES (1, 'again') ON CONFLICT (id) DO NOTHING", "42501"],
      [AS.u0, "INSERT INTO audit (id, action) VALUES (13, 'new') ON CONFLICT (id) DO NOTHING", "42501"],
      [AS.u0, "INSERT INTO audit (id, action) VALUES (1, 'again') ON CONFLICT DO NOTHING", 0],
      [AS.u0, "INSERT INTO audit (id, action) VALUES (14, 'new') ON CONFLICT DO NOTHING", 1],
      [
        AS.u0,
        "INSERT INTO audit (id, action) VALUES (1, 'again') ON CONFLICT (id) DO UPDATE SET action = 'x'",
        "42501",
      ],
      [AS.service, "SELECT * FROM audit", 1],
    ],
  },
  {
    name: "restrictive policies narrow permissive ones, and alone allow nothing",
    schema: {
      tables: [
        "CREATE TABLE docs (id int PRIMARY KEY, owner_id uuid, archived boolean NOT NULL DEFAULT false, body text)",
        `INSERT INTO docs VALUES (1, ${U0}, false, 'a'), (2, ${U0}, true, 'b'), (3, ${U1}, false, 'c'), (4, ${U1}, true, 'd')`,
      ],
      security: [
        "ALTER TABLE docs ENABLE ROW LEVEL SECURITY",
        "CREATE POLICY everyone ON docs FOR SELECT TO authenticated USING (true)",
        "CREATE POLICY live ON docs AS RESTRICTIVE FOR SELECT TO authenticated USING (NOT archived)",
        "CREATE POLICY mine ON docs AS RESTRICTIVE FOR ALL TO authenticated USING (owner_id = auth.uid())",
        "CREATE POLICY edit ON docs FOR UPDATE TO authenticated USING (true)",
        "CREATE POLICY only_restrictive ON docs AS RESTRICTIVE FOR DELETE TO authenticated USING (true)",
      ],
      views: [],
      contents: contentsOf(["docs", "id"]),
    },
    cases: [
      [AS.u0, "SELECT * FROM docs", 1],
      [AS.u1, "SELECT id FROM docs", 1],
      [AS.anon, "SELECT * FROM docs", 0],
      [AS.u0, "UPDATE docs SET body = 'x'", 2],
      [AS.u0, "UPDATE docs SET body = body || '!'", 1],
      [AS.u0, "UPDATE docs SET archived = true WHERE id = 1", "42501"],
      [AS.u0, `UPDATE docs SET owner_id = ${U1}`, "42501"],
      [AS.u0, "DELETE FROM docs", 0],
      [AS.u0, "INSERT INTO docs VALUES (9, auth.uid(), false, 'n')", "42501"],
    ],
  },
  {
    name: "FORCE ROW LEVEL SECURITY subjects the owner to the policies; service_role still bypasses",
    schema: {
      tables: [
        "CREATE TABLE secrets (id int PRIMARY KEY, owner_id uuid, v text)",
        `INSERT INTO secrets VALUES (1, ${U0}, 'x'), (2, NULL, 'shared')`,
        "CREATE TABLE notes (id int PRIMARY KEY, v text)",
        "INSERT INTO notes VALUES (1, 'n')",
      ],
      security: [
        "ALTER TABLE secrets ENABLE ROW LEVEL SECURITY",
        "ALTER TABLE secrets FORCE ROW LEVEL SECURITY",
        "CREATE POLICY own ON secrets FOR ALL TO public USING (owner_id = auth.uid() OR owner_id IS NULL)",
        "CREATE POLICY mine ON secrets FOR SELECT TO authenticated USING (owner_id = auth.uid())",
        "ALTER TABLE notes ENABLE ROW LEVEL SECURITY",
        "ALTER TABLE notes FORCE ROW LEVEL SECURITY",
      ],
      views: [],
      contents: contentsOf(["secrets", "id"], ["notes", "id"]),
    },
    cases: [
      [AS.owner, "SELECT * FROM secrets", 1],
      [AS.owner, "SELECT * FROM notes", 0],
      [AS.owner, "INSERT INTO notes VALUES (2, 'm')", "42501"],
      [AS.owner, `INSERT INTO secrets VALUES (3, ${U0}, 'y')`, "42501"],
      [AS.owner, "INSERT INTO secrets VALUES (3, NULL, 'y')", 1],
      [AS.owner, "UPDATE secrets SET v = 'z'", 1],
      [AS.owner, "DELETE FROM secrets", 1],
      [AS.u0, "SELECT * FROM secrets", 2],
      [AS.u1, "SELECT * FROM secrets", 1],
      [AS.service, "SELECT * FROM secrets", 2],
      [AS.service, "DELETE FROM notes", 1],
    ],
  },
];

// ---------------------------------------------------------------------------------------------
// bkg-db bugs the oracle found and that are not fixed yet, each with its minimal repro. A
// generated case is let through only when its statement has the bug's shape AND the two engines
// differ exactly as the repro does; any other difference on that shape still fails. Remove an
// entry when its bug is fixed (the count printed per run shows whether it still occurs).

interface KnownBug {
  id: string;
  /** The minimal repro: schema, policy, role, statement, and what PostgreSQL answers. */
  repro: string;
  /** Whether this mismatch is that bug: the shape and both engines' answers must match it. */
  tolerates(c: CaseSpec, pg: Outcome, cave: Outcome): boolean;
}

// Both bugs the oracle found and this list once tolerated are fixed in the planner:
// "upsert-policy-subqueries-overflow-sqlite-parser" (ON CONFLICT DO UPDATE under two restrictive
// membership policies gave XX000 parser stack overflow, PostgreSQL 42501) and
// "update-unique-violation-before-with-check" (UPDATE gave 23505 before WITH CHECK's 42501,
// revealing that a row exists). Add an entry here, with its repro, only for a bug being fixed.
const KNOWN_BKG_DB_BUGS: KnownBug[] = [];
const isErr = (o: Outcome, re: RegExp) => !o.ok && re.test(o.sqlstate);

/**
 * Differences docs/compatibility.md documents under "Row-level security / Known differences":
 * when a statement with several rows (multi-row VALUES, INSERT … SELECT) has both a policy
 * violation and a constraint violation, bkg-db may report the other one; nothing is written.
 */
const DOCUMENTED_DIFFERENCES: KnownBug[] = [
  {
    id: "documented: several rows, policy and constraint violation, the other error reported",
    repro: "docs/compatibility.md, Row-level security, Known differences (WITH CHECK of INSERT … SELECT; several rows)",
    tolerates: (c, pg, cave) =>
      (c.stmt.kind === "insert_select" || (c.stmt.kind.startsWith("insert") && c.stmt.rows.length > 1)) &&
      ((isErr(pg, /^23/) && isErr(cave, /^42501$/)) || (isErr(pg, /^42501$/) && isErr(cave, /^23/))),
  },
];

const knownBug = (c: CaseSpec, pg: Outcome, cave: Outcome) =>
  [...KNOWN_BKG_DB_BUGS, ...DOCUMENTED_DIFFERENCES].find((b) => b.tolerates(c, pg, cave));

// ---------------------------------------------------------------------------------------------

function schemaText(schema: RenderedSchema): string {
  return [
    ...schema.tables,
    ...schema.security,
    ...schema.views.map((v) => `CREATE VIEW ${v.name} AS ${v.query}  -- PostgreSQL: WITH (security_invoker = true)`),
  ]
    .map((s) => `  ${s};`)
    .join("\n");
}

function mismatchReport(schema: RenderedSchema, w: Who, sql: string, pg: Outcome, cave: Outcome | null): string {
  return [
    "schema (as the owner):",
    schemaText(schema),
    `as: ${w.label}${w.role ? ` — role ${w.role}, claims ${JSON.stringify(w.claims)}` : ""}`,
    `statement: ${sql};`,
    `PostgreSQL 15: ${describeOutcome(pg)}`,
    `bkg-db:        ${describeOutcome(cave)}`,
  ].join("\n");
}

/** What PostgreSQL answered across the generated cases, to keep the generator honest. */
interface Stats {
  cases: number;
  excluded: Map<string, number>;
  byOutcome: Map<string, number>;
  byKind: Map<StatementKind, number>;
  /** Failures that mean the generator wrote something PostgreSQL does not accept. */
  invalid: string[];
}

/** SQLSTATEs a valid statement may meet: RLS (42501) and the constraints the data can break. */
const EXPECTED_ERRORS = new Set(["42501", "23505", "23503", "23502"]);

const bump = <K>(m: Map<K, number>, k: K) => m.set(k, (m.get(k) ?? 0) + 1);

describe.skipIf(unavailable !== null)(
  `row-level security next to PostgreSQL 15${unavailable ? ` (skipped: ${unavailable})` : ""}`,
  () => {
    let server: ThrowawayPostgres | null = null;
    let client: PgClient | null = null;
    let pg: PostgresSide;

    beforeAll(async () => {
      server = startPostgres();
      client = await connectPg(server);
      pg = new PostgresSide(client);
      await pg.bootstrap();
    }, 60_000);

    afterAll(async () => {
      await client?.end();
      server?.stop();
    });

    /** Runs every case of a run in both engines; returns the mismatch reports. */
    async function runBoth(run: RunSpec, stats: Stats | null): Promise<string[]> {
      const schema = renderSchema(run.schema);
      await pg.setup(schema);
      const cave = PG_ONLY ? null : await CaveSide.open(schema);
      const reports: string[] = [];
      try {
        for (const c of run.cases) {
          const sql = renderStatement(run.schema, c.stmt);
          const w = who(c.who);
          const write = isWrite(c.stmt);
          const p = await pg.run(schema, w, sql, write);
          if (stats) {
            stats.cases++;
            bump(stats.byKind, c.stmt.kind);
            bump(stats.byOutcome, p.ok ? "ok" : p.sqlstate);
            if (!p.ok && !EXPECTED_ERRORS.has(p.sqlstate)) stats.invalid.push(`${sql} → ${p.sqlstate} ${p.message}`);
          }
          if (!cave) continue;
          const b = await cave.run(schema, w, sql, write);
          if (same(p, b)) continue;
          const bug = knownBug(c, p, b);
          if (bug) {
            if (stats) bump(stats.excluded, bug.id);
            continue;
          }
          reports.push(mismatchReport(schema, w, sql, p, b));
        }
      } finally {
        cave?.close();
      }
      return reports;
    }

    for (const classic of CLASSICS) {
      test(`classic: ${classic.name}`, async () => {
        await pg.setup(classic.schema);
        const cave = PG_ONLY ? null : await CaveSide.open(classic.schema);
        const problems: string[] = [];
        try {
          for (const [index, sql, expected] of classic.cases) {
            const w = who(index);
            const write = !/^\s*(SELECT|WITH)/i.test(sql);
            const p = await pg.run(classic.schema, w, sql, write);
            const answered = p.ok ? p.count : p.sqlstate;
            if (answered !== expected)
              problems.push(
                `PostgreSQL does not give the classic's expected ${expected}:\n${mismatchReport(classic.schema, w, sql, p, null)}`,
              );
            const b = await cave?.run(classic.schema, w, sql, write);
            if (b && !same(p, b)) problems.push(mismatchReport(classic.schema, w, sql, p, b));
          }
        } finally {
          cave?.close();
        }
        expect(problems.join("\n\n")).toBe("");
      }, 30_000);
    }

    /** Greedy minimisation past fast-check's shrinking: keeps each simplification that still mismatches. */
    async function minimise(run: RunSpec, report: string): Promise<string> {
      let current = run;
      let best = report;
      for (let improved = true; improved; ) {
        improved = false;
        for (const candidate of simplerRuns(current)) {
          const reports = await runBoth(candidate, null);
          if (reports.length > 0) {
            current = candidate;
            best = reports[0]!;
            improved = true;
            break;
          }
        }
      }
      return best;
    }

    test(`generated schemas, policies and statements behave as in PostgreSQL (seed ${SEED}, ${RUNS} runs)`, async () => {
      const stats: Stats = { cases: 0, excluded: new Map(), byOutcome: new Map(), byKind: new Map(), invalid: [] };
      let counting = true;
      let last = "";
      const all: string[] = [];
      const started = performance.now();
      const result = await fc.check(
        fc.asyncProperty(runArb(CASES), async (run) => {
          const reports = await runBoth(run, counting ? stats : null);
          if (REPORT_FILE) {
            all.push(...reports);
            return true;
          }
          if (reports.length === 0) return true;
          counting = false; // shrinking re-runs smaller inputs; the statistics are the first pass's
          last = reports[0]!;
          return false;
        }),
        {
          seed: SEED,
          numRuns: RUNS,
          path: process.env.RLS_ORACLE_PATH || undefined,
          endOnFailure: false,
          interruptAfterTimeLimit: 240_000,
        },
      );
      const seconds = ((performance.now() - started) / 1000).toFixed(1);
      console.log(
        `rls oracle: seed ${SEED}, ${RUNS} runs, ${stats.cases} cases in ${seconds} s; PostgreSQL answered ${JSON.stringify(Object.fromEntries(stats.byOutcome))}` +
          (stats.excluded.size
            ? `; known bkg-db bugs tolerated ${JSON.stringify(Object.fromEntries(stats.excluded))}`
            : ""),
      );
      if (REPORT_FILE) {
        writeFileSync(REPORT_FILE, all.join("\n\n=====\n\n"));
        expect(`${all.length} mismatches, written to ${REPORT_FILE}`).toBe(`0 mismatches, written to ${REPORT_FILE}`);
      }
      if (result.failed) {
        const how = `RLS_ORACLE_SEED=${SEED} RLS_ORACLE_RUNS=${RUNS} RLS_ORACLE_CASES=${CASES} RLS_ORACLE_PATH=${result.counterexamplePath}`;
        if (!last) throw new Error(`the oracle itself failed (replay: ${how}): ${String(result.errorInstance)}`);
        const [shrunk] = result.counterexample ?? [];
        const minimal = shrunk ? await minimise(shrunk, last) : last;
        throw new Error(
          `bkg-db and PostgreSQL disagree (seed ${SEED}; shrunk after ${result.numShrinks} steps, then minimised; replay: ${how})\n${minimal}`,
        );
      }
      // Statements PostgreSQL rejects for reasons other than RLS or the data are generator bugs.
      expect(stats.invalid).toEqual([]);
      expect(stats.cases).toBeGreaterThan(RUNS);
    }, 300_000);
  },
);
