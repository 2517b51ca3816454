// The planner and emitter without a database: a catalog in memory, SQL text in, SQLite SQL and
// bound values out. User values never appear in the SQL text; identifiers are always quoted.
import { expect, test } from "bun:test";
import { Catalog } from "../../../src/db/catalog/catalog.ts";
import { emitDdl, emitDml } from "../../../src/db/emit/statement.ts";
import { quoteIdent, quoteLiteral } from "../../../src/db/emit/quote.ts";
import { parseSql } from "../../../src/db/parse/parser.ts";
import { planStatement } from "../../../src/db/plan/plan.ts";

const catalog = new Catalog(
  1,
  [
    {
      name: "t",
      kind: "table",
      sql: "",
      primaryKey: [],
      columns: [
        { name: "a", type: "int4", notNull: false, hasDefault: false },
        { name: "b", type: "text", notNull: false, hasDefault: false },
        { name: "ok", type: "bool", notNull: false, hasDefault: false },
      ],
    },
    { name: 'we"ird', kind: "table", sql: "", primaryKey: [], columns: [{ name: "x y", type: "text", notNull: false, hasDefault: false }] },
  ],
  [],
);

async function emit(sql: string) {
  const parsed = await parseSql(sql);
  const { plan, paramTypes } = planStatement(parsed.statements[0], catalog, parsed.positionOf);
  if (plan.kind === "query" || plan.kind === "insert" || plan.kind === "update" || plan.kind === "delete") {
    const e = emitDml(plan, paramTypes);
    return { sql: e.sql, slots: e.slots };
  }
  if (plan.kind === "create_table" || plan.kind === "create_view" || plan.kind === "create_index" || plan.kind === "drop" || plan.kind === "alter_table")
    return { sql: emitDdl(plan)[0]!.sql, slots: [] };
  throw new Error(`unexpected plan ${plan.kind}`);
}

test("quoteIdent doubles embedded quotes and quoteLiteral doubles embedded apostrophes", () => {
  expect(quoteIdent('a"b')).toBe('"a""b"');
  expect(quoteLiteral("it's")).toBe("'it''s'");
});

test("a string literal is bound, never written into the SQL", async () => {
  expect(await emit("SELECT a FROM t WHERE b = 'x''; DROP TABLE t; --'")).toEqual({
    sql: 'SELECT "t"."a" AS "a" FROM "t" WHERE ("t"."b" = ?1)',
    slots: [{ kind: "const", value: "x'; DROP TABLE t; --" }],
  });
});

test("user parameters become numbered placeholders typed by what they meet", async () => {
  expect(await emit("SELECT b FROM t WHERE a = $2 OR a = $1 OR ok = $2")).toEqual({
    sql: 'SELECT "t"."b" AS "b" FROM "t" WHERE ((("t"."a" = ?1) OR ("t"."a" = ?2)) OR ("t"."ok" = ?1))',
    slots: [
      { kind: "param", index: 2, type: "int4" },
      { kind: "param", index: 1, type: "int4" },
    ],
  });
});

test("every compound expression is parenthesized, so precedence survives the round trip", async () => {
  expect((await emit("SELECT - - a * 2 + 1 % 3, NOT a > 1 AND b IS NULL FROM t")).sql).toBe(
    'SELECT (((- (- "t"."a")) * 2) + (1 % 3)) AS "?column?", ((NOT ("t"."a" > 1)) AND ("t"."b" IS NULL)) AS "?column?" FROM "t"',
  );
});

test("identifiers with quotes and spaces are quoted by the one quoting function", async () => {
  expect((await emit('SELECT "x y" FROM "we""ird"')).sql).toBe('SELECT "we""ird"."x y" AS "x y" FROM "we""ird"');
});

test("ORDER BY writes Postgres's NULL placement explicitly", async () => {
  expect((await emit("SELECT a FROM t ORDER BY a, b DESC, a DESC NULLS LAST")).sql).toBe(
    'SELECT "t"."a" AS "a" FROM "t" ORDER BY 1 ASC NULLS LAST, "t"."b" DESC NULLS FIRST, 1 DESC NULLS LAST',
  );
});

test("ILIKE becomes a case-folded LIKE and LIKE escapes with backslash as in Postgres", async () => {
  expect((await emit("SELECT a FROM t WHERE b ILIKE 'A%' AND b NOT LIKE 'x'")).sql).toBe(
    `SELECT "t"."a" AS "a" FROM "t" WHERE ((lower("t"."b") LIKE lower(?1) ESCAPE '\\') AND ("t"."b" NOT LIKE ?2 ESCAPE '\\'))`,
  );
});

test("booleans are written as 1 and 0", async () => {
  expect((await emit("UPDATE t SET ok = true WHERE ok = false")).sql).toBe('UPDATE "t" AS "t" SET "ok" = 1 WHERE ("t"."ok" = 0)');
});

test("a self-join gets distinct emitted aliases", async () => {
  expect((await emit("SELECT x.a FROM t x JOIN t y ON x.a = y.a WHERE EXISTS (SELECT 1 FROM t x2 WHERE x2.a = x.a)")).sql).toBe(
    'SELECT "x"."a" AS "a" FROM "t" AS "x" JOIN "t" AS "y" ON ("x"."a" = "y"."a") WHERE (EXISTS (SELECT 1 AS "?column?" FROM "t" AS "x2" WHERE ("x2"."a" = "x"."a")))',
  );
});

test("DDL writes literals inline, because SQLite takes no parameters there", async () => {
  expect((await emit("CREATE TABLE n (id serial PRIMARY KEY, s text DEFAULT 'it''s', ok boolean NOT NULL DEFAULT false)")).sql).toBe(
    `CREATE TABLE "n" ("id" INTEGER PRIMARY KEY AUTOINCREMENT NOT NULL, "s" TEXT DEFAULT ('it''s'), "ok" INTEGER NOT NULL DEFAULT (0))`,
  );
});
