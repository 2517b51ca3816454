// The row-level-security oracle's generator: fast-check arbitraries for a schema (a membership
// table and 1–3 data tables chained by foreign keys), its rows, its policies, and statements run
// as a request role; and the rendering of each to SQL that PostgreSQL 15 and bkg-db both accept.
// Every generated value is made of small indices resolved at render time (modulo what exists),
// so any value fast-check shrinks to still renders to a valid schema and statement.
import fc from "fast-check";

/** Users 0–2 own rows and belong to teams; user 3 is a stranger with a valid JWT and nothing else. */
export const USERS = [
  "a0000000-0000-4000-8000-000000000001",
  "b0000000-0000-4000-8000-000000000002",
  "c0000000-0000-4000-8000-000000000003",
  "d0000000-0000-4000-8000-000000000004",
] as const;
const TIERS = ["gold", "basic", "gold", "basic"] as const;
const TITLES = ["alpha", "beta", "u0@example.com", "u1@example.com", "gamma"] as const;

const q = (s: string) => `'${s.replaceAll("'", "''")}'`;

export type RequestRole = "anon" | "authenticated" | "service_role";

/** Who runs a statement: the table owner (no auth) or a request role with JWT claims. */
export interface Who {
  label: string;
  /** null: the table owner (bkg-db: no auth; PostgreSQL: SET ROLE app_owner). */
  role: RequestRole | null;
  claims: Record<string, unknown>;
}

/** 0 owner, 1 anon, 2 service_role, 3–6 authenticated as USERS[0..3]. */
export function who(index: number): Who {
  const i = index % 7;
  if (i === 0) return { label: "owner (no auth)", role: null, claims: {} };
  if (i === 1) return { label: "anon", role: "anon", claims: { role: "anon" } };
  if (i === 2) return { label: "service_role", role: "service_role", claims: { role: "service_role" } };
  const u = i - 3;
  return {
    label: `authenticated as user ${u}`,
    role: "authenticated",
    claims: { sub: USERS[u], role: "authenticated", aud: "authenticated", email: `u${u}@example.com`, tier: TIERS[u] },
  };
}

// ---------------------------------------------------------------------------------------------
// Specs: plain data, printed in a mismatch report as they are.

/** A policy expression; rendered against the table it is on (members has its own columns). */
export type Pred =
  | { k: "const"; v: boolean }
  | { k: "owner" }
  | { k: "public" }
  | { k: "private" }
  | { k: "role"; role: "anon" | "authenticated" }
  | { k: "tier"; v: "gold" | "basic" }
  | { k: "email" }
  | { k: "member"; form: number }
  | { k: "parent" }
  | { k: "score"; n: number }
  | { k: "and" | "or"; a: Pred; b: Pred };

export type Command = "ALL" | "SELECT" | "INSERT" | "UPDATE" | "DELETE";
export const POLICY_ROLES = ["public", "anon", "authenticated", "anon, authenticated", "service_role"] as const;

export interface PolicySpec {
  /** 0 = members, 1.. = data tables (modulo how many exist). */
  table: number;
  cmd: Command;
  restrictive: boolean;
  to: number;
  using: Pred;
  check: Pred | null;
}

export interface RowSpec {
  table: number;
  owner: number | null;
  team: number | null;
  pub: boolean;
  title: number;
  score: number | null;
  /** A row of the parent table (modulo its rows), or null; -1 is a parent id that does not exist. */
  parent: number | null;
}

export interface SchemaSpec {
  /** Data tables t1..tN (1–3) besides members. */
  nData: number;
  /** t*.owner_id DEFAULT auth.uid(). */
  ownerDefault: boolean;
  /** ON DELETE CASCADE on the parent_id foreign keys (else NO ACTION). */
  cascade: boolean;
  /** FORCE ROW LEVEL SECURITY, per table (0 = members). */
  force: boolean[];
  members: { user: number; team: number }[];
  /** The usual membership policy: an authenticated user reads their own memberships. */
  membersSelf: boolean;
  rows: RowSpec[];
  policies: PolicySpec[];
}

export const STATEMENT_KINDS = [
  "select_all",
  "select_where",
  "select_agg",
  "select_group",
  "select_join",
  "select_left_join",
  "select_in_members",
  "select_exists",
  "select_scalar_sub",
  "select_cte",
  "select_view",
  "select_auth",
  "select_members",
  "select_union",
  "select_limit",
  "insert",
  "insert_do_nothing",
  "insert_do_update",
  "insert_select",
  "insert_member",
  "update_score",
  "update_title",
  "update_owner",
  "update_flip",
  "update_team",
  "update_member",
  "delete_where",
  "delete_all",
  "delete_member",
] as const;
export type StatementKind = (typeof STATEMENT_KINDS)[number];

export interface StatementSpec {
  kind: StatementKind;
  /** Target data table (modulo nData). */
  t: number;
  /** Index into the WHERE filters. */
  where: number;
  n: number;
  id: number;
  user: number;
  team: number;
  /** 0: no RETURNING, 1: RETURNING id, 2: RETURNING *. */
  ret: number;
  /** 0: a user's uuid literal, 1: auth.uid(), 2: NULL, 3: the column left out (its default). */
  ownerForm: number;
  rows: RowSpec[];
}

export interface CaseSpec {
  who: number;
  stmt: StatementSpec;
}

export interface RunSpec {
  schema: SchemaSpec;
  cases: CaseSpec[];
}

/** The WHERE filters statements pick from, over the data tables' columns. */
const WHERES: ((s: StatementSpec) => string)[] = [
  () => "true",
  (s) => `id = ${s.id}`,
  (s) => `score > ${s.n}`,
  () => "is_public",
  () => "owner_id = auth.uid()",
  (s) => `team_id = ${s.team}`,
  (s) => `owner_id = ${q(USERS[s.user % 4]!)}`,
  () => "title = (auth.jwt() ->> 'email')",
  () => "score IS NULL",
];

// ---------------------------------------------------------------------------------------------
// Arbitraries.

const leafPred: fc.Arbitrary<Pred> = fc.oneof(
  { arbitrary: fc.boolean().map((v): Pred => ({ k: "const", v })), weight: 2 },
  { arbitrary: fc.constant<Pred>({ k: "owner" }), weight: 5 },
  { arbitrary: fc.constant<Pred>({ k: "public" }), weight: 3 },
  { arbitrary: fc.constant<Pred>({ k: "private" }), weight: 1 },
  { arbitrary: fc.constantFrom("anon", "authenticated").map((role): Pred => ({ k: "role", role })), weight: 2 },
  { arbitrary: fc.constantFrom("gold", "basic").map((v): Pred => ({ k: "tier", v })), weight: 1 },
  { arbitrary: fc.constant<Pred>({ k: "email" }), weight: 1 },
  { arbitrary: fc.integer({ min: 0, max: 1 }).map((form): Pred => ({ k: "member", form })), weight: 4 },
  { arbitrary: fc.constant<Pred>({ k: "parent" }), weight: 2 },
  { arbitrary: fc.integer({ min: 0, max: 20 }).map((n): Pred => ({ k: "score", n })), weight: 2 },
);

export const predArb: fc.Arbitrary<Pred> = fc.oneof(
  { arbitrary: leafPred, weight: 5 },
  {
    arbitrary: fc
      .record({ k: fc.constantFrom("and" as const, "or" as const), a: leafPred, b: leafPred })
      .map((p): Pred => p),
    weight: 2,
  },
);

const weighted = <T>(pairs: [T, number][]): fc.Arbitrary<T> =>
  fc.oneof(...pairs.map(([v, weight]) => ({ arbitrary: fc.constant(v), weight })));

// Weighted towards policies that let someone read something: most schemas give the roles some
// rows, so the comparisons are about which rows, not only about nothing.
export const policyArb: fc.Arbitrary<PolicySpec> = fc.record({
  table: weighted([
    [1, 3],
    [2, 3],
    [3, 3],
    [0, 2],
  ]),
  cmd: weighted<Command>([
    ["SELECT", 4],
    ["ALL", 3],
    ["INSERT", 2],
    ["UPDATE", 2],
    ["DELETE", 2],
  ]),
  restrictive: weighted([
    [false, 4],
    [true, 1],
  ]),
  to: weighted([
    [0, 3],
    [1, 1],
    [2, 4],
    [3, 2],
    [4, 1],
  ]),
  using: predArb,
  check: fc.option(predArb, { freq: 3 }),
});

const rowArb: fc.Arbitrary<RowSpec> = fc.record({
  table: fc.integer({ min: 1, max: 3 }),
  owner: fc.option(fc.integer({ min: 0, max: 2 }), { freq: 6 }),
  team: fc.option(fc.integer({ min: 1, max: 3 }), { freq: 6 }),
  pub: fc.boolean(),
  title: fc.integer({ min: 0, max: TITLES.length - 1 }),
  score: fc.option(fc.integer({ min: 0, max: 20 }), { freq: 6 }),
  parent: fc.option(fc.integer({ min: -1, max: 5 }), { freq: 4 }),
});

export const schemaArb: fc.Arbitrary<SchemaSpec> = fc.record({
  nData: fc.integer({ min: 1, max: 3 }),
  ownerDefault: fc.boolean(),
  cascade: fc.boolean(),
  force: fc.array(fc.oneof({ arbitrary: fc.constant(false), weight: 4 }, { arbitrary: fc.constant(true), weight: 1 }), {
    minLength: 4,
    maxLength: 4,
  }),
  members: fc.array(fc.record({ user: fc.integer({ min: 0, max: 2 }), team: fc.integer({ min: 1, max: 3 }) }), {
    minLength: 2,
    maxLength: 7,
    size: "max",
  }),
  membersSelf: weighted([
    [true, 3],
    [false, 1],
  ]),
  rows: fc.array(rowArb, { minLength: 3, maxLength: 18, size: "max" }),
  policies: fc.array(policyArb, { minLength: 3, maxLength: 12, size: "max" }),
});

const kindArb: fc.Arbitrary<StatementKind> = fc.oneof(
  ...STATEMENT_KINDS.map((k) => ({
    arbitrary: fc.constant(k),
    weight: k.startsWith("select") ? 4 : k.startsWith("insert") ? 5 : k.startsWith("update") ? 4 : 4,
  })),
);

export const statementArb: fc.Arbitrary<StatementSpec> = fc.record({
  kind: kindArb,
  t: fc.integer({ min: 1, max: 3 }),
  where: fc.integer({ min: 0, max: WHERES.length - 1 }),
  n: fc.integer({ min: 0, max: 20 }),
  id: fc.integer({ min: 1, max: 12 }),
  user: fc.integer({ min: 0, max: 3 }),
  team: fc.integer({ min: 1, max: 3 }),
  ret: fc.integer({ min: 0, max: 2 }),
  ownerForm: fc.integer({ min: 0, max: 3 }),
  rows: fc.array(rowArb, { minLength: 1, maxLength: 2 }),
});

export const caseArb: fc.Arbitrary<CaseSpec> = fc.record({ who: fc.integer({ min: 0, max: 6 }), stmt: statementArb });

export function runArb(maxCases: number): fc.Arbitrary<RunSpec> {
  return fc.record({ schema: schemaArb, cases: fc.array(caseArb, { minLength: 1, maxLength: maxCases }) });
}

// ---------------------------------------------------------------------------------------------
// Rendering.

const lit = (v: string | number | boolean | null) =>
  v === null ? "NULL" : typeof v === "string" ? q(v) : typeof v === "boolean" ? String(v) : String(v);

export const tableName = (spec: SchemaSpec, t: number) => (t === 0 ? "members" : `t${((t - 1) % spec.nData) + 1}`);
const dataIndex = (spec: SchemaSpec, t: number) => ((Math.max(t, 1) - 1) % spec.nData) + 1;

/** The rows of each data table in insertion order, with their ids (1..n per table). */
export function tableRows(spec: SchemaSpec): Map<number, RowSpec[]> {
  const m = new Map<number, RowSpec[]>();
  for (let i = 1; i <= spec.nData; i++) m.set(i, []);
  for (const r of spec.rows) m.get(dataIndex(spec, r.table))!.push(r);
  return m;
}

function parentId(spec: SchemaSpec, table: number, parent: number | null, rows = tableRows(spec)): number | null {
  if (table <= 1 || parent === null) return null;
  if (parent === -1) return 99;
  const n = rows.get(table - 1)!.length;
  return n === 0 ? null : (parent % n) + 1;
}

function memberRows(spec: SchemaSpec): { user: number; team: number }[] {
  const seen = new Set<string>();
  return spec.members.filter((m) => {
    const key = `${m.user}/${m.team}`;
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** A policy expression on table `t` (0 = members). */
export function renderPred(spec: SchemaSpec, t: number, p: Pred): string {
  const name = tableName(spec, t);
  if (t === 0) {
    // members has user_id and team_id only; its policies never read other tables (no cycles).
    switch (p.k) {
      case "const":
        return String(p.v);
      case "owner":
      case "email":
      case "member":
      case "parent":
        return "user_id = auth.uid()";
      case "public":
        return "team_id <= 2";
      case "private":
        return "team_id > 2";
      case "role":
        return `auth.role() = ${q(p.role)}`;
      case "tier":
        return `(auth.jwt() ->> 'tier') = ${q(p.v)}`;
      case "score":
        return `team_id <> ${(p.n % 3) + 1}`;
      case "and":
      case "or":
        return `(${renderPred(spec, t, p.a)} ${p.k.toUpperCase()} ${renderPred(spec, t, p.b)})`;
    }
  }
  const i = dataIndex(spec, t);
  switch (p.k) {
    case "const":
      return String(p.v);
    case "owner":
      return "owner_id = auth.uid()";
    case "public":
      return "is_public";
    case "private":
      return "NOT is_public";
    case "role":
      return `auth.role() = ${q(p.role)}`;
    case "tier":
      return `(auth.jwt() ->> 'tier') = ${q(p.v)}`;
    case "email":
      return "title = (auth.jwt() ->> 'email')";
    case "member":
      return p.form === 0
        ? "team_id IN (SELECT m.team_id FROM members m WHERE m.user_id = auth.uid())"
        : `EXISTS (SELECT 1 FROM members m WHERE m.team_id = ${name}.team_id AND m.user_id = auth.uid())`;
    case "parent":
      // The parent row must be visible to the same role (its own policies apply inside).
      return i === 1
        ? "team_id IN (SELECT m.team_id FROM members m WHERE m.user_id = auth.uid())"
        : `EXISTS (SELECT 1 FROM t${i - 1} p WHERE p.id = ${name}.parent_id)`;
    case "score":
      return `score > ${p.n}`;
    case "and":
    case "or":
      return `(${renderPred(spec, t, p.a)} ${p.k.toUpperCase()} ${renderPred(spec, t, p.b)})`;
  }
}

export function renderPolicy(spec: SchemaSpec, p: PolicySpec, index: number): string {
  const t = p.table === 0 ? 0 : dataIndex(spec, p.table);
  const parts = [`CREATE POLICY p${index} ON ${tableName(spec, t)}`];
  if (p.restrictive) parts.push("AS RESTRICTIVE");
  parts.push(`FOR ${p.cmd}`, `TO ${POLICY_ROLES[p.to % POLICY_ROLES.length]}`);
  // SELECT and DELETE take only USING, INSERT only WITH CHECK; UPDATE and ALL both (a missing
  // WITH CHECK falls back to USING, in both engines).
  if (p.cmd !== "INSERT") parts.push(`USING (${renderPred(spec, t, p.using)})`);
  if (p.cmd === "INSERT") parts.push(`WITH CHECK (${renderPred(spec, t, p.check ?? p.using)})`);
  else if ((p.cmd === "UPDATE" || p.cmd === "ALL") && p.check)
    parts.push(`WITH CHECK (${renderPred(spec, t, p.check)})`);
  return parts.join(" ");
}

const DATA_COLUMNS = "id, owner_id, team_id, is_public, title, score";

function rowValues(spec: SchemaSpec, table: number, id: number, r: RowSpec, rows: Map<number, RowSpec[]>): string {
  const vals = [
    String(id),
    lit(r.owner === null ? null : USERS[r.owner % 3]!),
    lit(r.team),
    lit(r.pub),
    lit(TITLES[r.title % TITLES.length]!),
    lit(r.score),
  ];
  // A dangling parent is for statements only; the schema's own rows always satisfy their key.
  if (table > 1) vals.push(lit(parentId(spec, table, r.parent === -1 ? null : r.parent, rows)));
  return `(${vals.join(", ")})`;
}

export interface RenderedSchema {
  /** CREATE TABLE and the rows, run as the owner before row-level security is on. */
  tables: string[];
  /** ENABLE/FORCE ROW LEVEL SECURITY and CREATE POLICY, as the owner. */
  security: string[];
  /** One view per data table: name and query; PostgreSQL adds WITH (security_invoker = true). */
  views: { name: string; query: string }[];
  /** Tables in dependency order, with the ORDER BY that lists their contents. */
  contents: { table: string; orderBy: string }[];
}

export function renderSchema(spec: SchemaSpec): RenderedSchema {
  const rows = tableRows(spec);
  const tables = ["CREATE TABLE members (user_id uuid NOT NULL, team_id int NOT NULL, PRIMARY KEY (user_id, team_id))"];
  const contents = [{ table: "members", orderBy: "user_id, team_id" }];
  const members = memberRows(spec);
  if (members.length > 0)
    tables.push(`INSERT INTO members VALUES ${members.map((m) => `(${q(USERS[m.user % 3]!)}, ${m.team})`).join(", ")}`);
  const views: RenderedSchema["views"] = [];
  for (let i = 1; i <= spec.nData; i++) {
    const cols = [
      "id int PRIMARY KEY",
      `owner_id uuid${spec.ownerDefault ? " DEFAULT auth.uid()" : ""}`,
      "team_id int",
      "is_public boolean NOT NULL DEFAULT false",
      "title text",
      "score int",
    ];
    if (i > 1) cols.push(`parent_id int REFERENCES t${i - 1} (id)${spec.cascade ? " ON DELETE CASCADE" : ""}`);
    tables.push(`CREATE TABLE t${i} (${cols.join(", ")})`);
    const rs = rows.get(i)!;
    if (rs.length > 0)
      tables.push(
        `INSERT INTO t${i} (${DATA_COLUMNS}${i > 1 ? ", parent_id" : ""}) VALUES ${rs.map((r, k) => rowValues(spec, i, k + 1, r, rows)).join(", ")}`,
      );
    views.push({ name: `v_t${i}`, query: `SELECT ${DATA_COLUMNS} FROM t${i}` });
    contents.push({ table: `t${i}`, orderBy: "id" });
  }
  const security: string[] = [];
  for (let t = 0; t <= spec.nData; t++) {
    security.push(`ALTER TABLE ${tableName(spec, t)} ENABLE ROW LEVEL SECURITY`);
    if (spec.force[t]) security.push(`ALTER TABLE ${tableName(spec, t)} FORCE ROW LEVEL SECURITY`);
  }
  if (spec.membersSelf)
    security.push("CREATE POLICY members_self ON members FOR SELECT TO authenticated USING (user_id = auth.uid())");
  for (const [i, p] of spec.policies.entries()) security.push(renderPolicy(spec, p, i));
  return { tables, security, views, contents };
}

function ownerValue(s: StatementSpec, r: RowSpec): string {
  switch (s.ownerForm % 4) {
    case 0:
      return q(USERS[(r.owner ?? s.user) % 4]!);
    case 1:
      return "auth.uid()";
    default:
      return "NULL";
  }
}

function insertRows(spec: SchemaSpec, s: StatementSpec, t: number): { cols: string; values: string } {
  const rows = tableRows(spec);
  const withOwner = s.ownerForm % 4 !== 3;
  const cols = ["id", ...(withOwner ? ["owner_id"] : []), "team_id", "is_public", "title", "score"];
  if (t > 1) cols.push("parent_id");
  const values = s.rows.map((r, k) => {
    const v = [String(s.id + k)];
    if (withOwner) v.push(ownerValue(s, r));
    v.push(lit(r.team), lit(r.pub), lit(TITLES[r.title % TITLES.length]!), lit(r.score));
    if (t > 1) v.push(lit(parentId(spec, t, r.parent, rows)));
    return `(${v.join(", ")})`;
  });
  return { cols: cols.join(", "), values: values.join(", ") };
}

const returning = (s: StatementSpec) => (s.ret % 3 === 1 ? " RETURNING id" : s.ret % 3 === 2 ? " RETURNING *" : "");
const userRef = (s: StatementSpec) => (s.n % 2 === 0 ? "auth.uid()" : q(USERS[s.user % 4]!));

/** The statement's SQL; the same text runs in both engines. */
export function renderStatement(spec: SchemaSpec, s: StatementSpec): string {
  const t = dataIndex(spec, s.t);
  const T = `t${t}`;
  const where = WHERES[s.where % WHERES.length]!(s);
  // A child/parent pair when there is one, else the table and members.
  const pair = t > 1 ? { c: T, p: `t${t - 1}` } : spec.nData > 1 ? { c: "t2", p: "t1" } : null;
  switch (s.kind) {
    case "select_all":
      return `SELECT * FROM ${T}`;
    case "select_where":
      return `SELECT id, title, score FROM ${T} WHERE ${where}`;
    case "select_agg":
      return `SELECT count(*), sum(score), min(id), max(title) FROM ${T} WHERE ${where}`;
    case "select_group":
      return `SELECT team_id, count(*), bool_or(is_public) FROM ${T} GROUP BY team_id`;
    case "select_join":
      return pair
        ? `SELECT c.id, p.id, p.title FROM ${pair.c} c JOIN ${pair.p} p ON p.id = c.parent_id`
        : `SELECT t.id, m.user_id FROM ${T} t JOIN members m ON m.team_id = t.team_id`;
    case "select_left_join":
      return pair
        ? `SELECT p.id, count(c.id) FROM ${pair.p} p LEFT JOIN ${pair.c} c ON c.parent_id = p.id GROUP BY p.id`
        : `SELECT t.id, m.user_id FROM ${T} t LEFT JOIN members m ON m.team_id = t.team_id AND m.user_id = ${userRef(s)}`;
    case "select_in_members":
      return `SELECT id FROM ${T} WHERE team_id IN (SELECT team_id FROM members WHERE user_id = ${userRef(s)})`;
    case "select_exists":
      return `SELECT id FROM ${T} t WHERE ${s.n % 2 ? "NOT " : ""}EXISTS (SELECT 1 FROM members m WHERE m.team_id = t.team_id)`;
    case "select_scalar_sub":
      return `SELECT id, (SELECT count(*) FROM members m WHERE m.team_id = t.team_id) AS n FROM ${T} t`;
    case "select_cte":
      return `WITH v AS (SELECT id, score FROM ${T} WHERE ${where}) SELECT count(*), coalesce(sum(score), 0) FROM v`;
    case "select_view":
      return `SELECT id, title FROM v_${T} WHERE ${where}`;
    case "select_auth":
      return s.n % 2 === 0
        ? "SELECT auth.uid(), auth.role(), auth.jwt() ->> 'email'"
        : `SELECT count(*) FROM ${T} WHERE owner_id = auth.uid()`;
    case "select_members":
      return `SELECT user_id, team_id FROM members${s.n % 2 ? ` WHERE team_id = ${s.team}` : ""}`;
    case "select_union":
      return `SELECT id FROM ${T} WHERE is_public UNION SELECT id FROM ${T} WHERE owner_id = auth.uid()`;
    case "select_limit":
      return `SELECT id, title FROM ${T} ORDER BY id DESC LIMIT 2`;
    case "insert": {
      const { cols, values } = insertRows(spec, s, t);
      return `INSERT INTO ${T} (${cols}) VALUES ${values}${returning(s)}`;
    }
    case "insert_do_nothing": {
      const { cols, values } = insertRows(spec, s, t);
      return `INSERT INTO ${T} (${cols}) VALUES ${values} ON CONFLICT ${s.n % 2 ? "" : "(id) "}DO NOTHING${returning(s)}`;
    }
    case "insert_do_update": {
      const { cols, values } = insertRows(spec, { ...s, rows: s.rows.slice(0, 1) }, t);
      return `INSERT INTO ${T} (${cols}) VALUES ${values} ON CONFLICT (id) DO UPDATE SET title = excluded.title, score = coalesce(${T}.score, 0) + 1${returning(s)}`;
    }
    case "insert_select":
      return `INSERT INTO ${T} (${DATA_COLUMNS}) SELECT id + 50, owner_id, team_id, is_public, title, score FROM ${T} WHERE ${where}${s.ret % 3 ? " RETURNING id" : ""}`;
    case "insert_member":
      return `INSERT INTO members (user_id, team_id) VALUES (${userRef(s)}, ${s.team})${s.ret % 3 === 2 ? " ON CONFLICT DO NOTHING" : ""}${s.ret % 3 === 1 ? " RETURNING team_id" : ""}`;
    case "update_score":
      return `UPDATE ${T} SET score = coalesce(score, 0) + ${s.n} WHERE ${where}${s.ret % 3 ? " RETURNING id, score" : ""}`;
    case "update_title":
      return `UPDATE ${T} SET title = 'gamma'${returning(s)}`;
    case "update_owner":
      return `UPDATE ${T} SET owner_id = ${s.ownerForm % 4 === 3 ? "DEFAULT" : ownerValue(s, { ...s.rows[0]!, owner: s.user })} WHERE id = ${s.id}${returning(s)}`;
    case "update_flip":
      return `UPDATE ${T} SET is_public = NOT is_public WHERE ${where}${returning(s)}`;
    case "update_team":
      return `UPDATE ${T} SET team_id = ${s.team}${s.n % 2 ? ` WHERE ${where}` : ""}${returning(s)}`;
    case "update_member":
      return `UPDATE members SET team_id = ${s.team} WHERE user_id = ${userRef(s)}${s.ret % 3 ? " RETURNING user_id" : ""}`;
    case "delete_where":
      return `DELETE FROM ${T} WHERE ${where}${returning(s)}`;
    case "delete_all":
      return `DELETE FROM ${T}${returning(s)}`;
    case "delete_member":
      return `DELETE FROM members WHERE user_id = ${userRef(s)}${s.ret % 3 ? " RETURNING team_id" : ""}`;
  }
}

/** Whether the statement writes (its table contents are compared afterwards). */
export const isWrite = (s: StatementSpec) => !s.kind.startsWith("select");

/**
 * One-step simplifications of a run, for minimising a mismatch after fast-check's shrinking
 * (which cannot go below the arrays' minimum lengths): drop a case, a policy, a row or a
 * membership, clear a flag, or drop the last data table.
 */
export function simplerRuns(run: RunSpec): RunSpec[] {
  const out: RunSpec[] = [];
  const withSchema = (schema: Partial<SchemaSpec>): RunSpec => ({ ...run, schema: { ...run.schema, ...schema } });
  const without = <T>(xs: T[], i: number) => xs.filter((_, k) => k !== i);
  const s = run.schema;
  if (run.cases.length > 1) for (const i of run.cases.keys()) out.push({ ...run, cases: without(run.cases, i) });
  if (s.nData > 1) out.push(withSchema({ nData: s.nData - 1 }));
  for (const i of s.policies.keys()) out.push(withSchema({ policies: without(s.policies, i) }));
  for (const i of s.rows.keys()) out.push(withSchema({ rows: without(s.rows, i) }));
  for (const i of s.members.keys()) out.push(withSchema({ members: without(s.members, i) }));
  s.force.forEach((f, i) => {
    if (f) out.push(withSchema({ force: s.force.map((x, k) => (k === i ? false : x)) }));
  });
  if (s.membersSelf) out.push(withSchema({ membersSelf: false }));
  if (s.ownerDefault) out.push(withSchema({ ownerDefault: false }));
  if (s.cascade) out.push(withSchema({ cascade: false }));
  s.policies.forEach((p, i) => {
    const simpler: PolicySpec[] = [];
    if (p.check) simpler.push({ ...p, check: null });
    if (p.restrictive) simpler.push({ ...p, restrictive: false });
    for (const side of ["using", "check"] as const) {
      const e = p[side];
      if (e && (e.k === "and" || e.k === "or")) simpler.push({ ...p, [side]: e.a }, { ...p, [side]: e.b });
    }
    for (const q of simpler) out.push(withSchema({ policies: s.policies.map((x, k) => (k === i ? q : x)) }));
  });
  return out;
}
