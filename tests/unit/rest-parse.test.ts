// The PostgREST query-string parser and its translation to SQL: every operator, nesting,
// quoting, embedding, and the 400s that name the bad part. No database: the schema model is data.
import { describe, expect, test } from "bun:test";
import type { SchemaModel, TableModel } from "../../src/server/data/model.ts";
import { planDelete, planInsert, planRead, planUpdate } from "../../src/server/data/rest/build.ts";
import { RestError } from "../../src/server/data/rest/errors.ts";
import {
  parseCondition,
  parseLogic,
  parseOrder,
  parsePrefer,
  parseQuery,
  parseRange,
  parseSelect,
  splitTop,
} from "../../src/server/data/rest/parse.ts";

function table(name: string, cols: [string, string][], pk: string[] = ["id"]): TableModel {
  const columns = cols.map(([n, type]) => ({ name: n, type, notNull: false, hasDefault: false }));
  return { name, kind: "table", columns, byName: new Map(columns.map((c) => [c.name, c])), primaryKey: pk };
}

const model: SchemaModel = {
  version: 1,
  tables: new Map([
    [
      "todos",
      table("todos", [
        ["id", "int8"],
        ["title", "text"],
        ["done", "bool"],
        ["team_id", "int8"],
        ["owner", "uuid"],
      ]),
    ],
    [
      "teams",
      table("teams", [
        ["id", "int8"],
        ["name", "text"],
      ]),
    ],
    ["docs", table("docs", [["id", "int8"], ["data", "jsonb"]])],
    [
      "members",
      table(
        "members",
        [
          ["team_id", "int8"],
          ["user_id", "uuid"],
        ],
        ["team_id", "user_id"],
      ),
    ],
  ]),
  foreignKeys: [
    { name: "todos_team_id_fkey", table: "todos", columns: ["team_id"], refTable: "teams", refColumns: ["id"] },
    { name: "members_team_id_fkey", table: "members", columns: ["team_id"], refTable: "teams", refColumns: ["id"] },
  ],
};

const qs = (s: string) => parseQuery(new URLSearchParams(s));

function rejects(fn: () => unknown): RestError {
  try {
    fn();
  } catch (e) {
    if (e instanceof RestError) return e;
    throw e;
  }
  throw new Error("expected a RestError");
}

describe("the filter operators", () => {
  test.each([
    ["eq.5", "=", "5"],
    ["neq.5", "<>", "5"],
    ["gt.5", ">", "5"],
    ["gte.5", ">=", "5"],
    ["lt.5", "<", "5"],
    ["lte.5", "<=", "5"],
  ])("%s compares with %s and binds the value", (filter, op, value) => {
    const p = planRead(model, "todos", qs(`select=id&id=${filter}`), null);
    expect(p.sql).toBe(`SELECT "id" FROM "todos" WHERE "id" ${op} $1`);
    expect(p.params).toEqual([value]);
  });

  test("like and ilike turn * into %", () => {
    const p = planRead(model, "todos", qs("select=id&title=like.a*b&owner=ilike.*X"), null);
    expect(p.sql).toBe(`SELECT "id" FROM "todos" WHERE "title" LIKE $1 AND "owner" ILIKE $2`);
    expect(p.params).toEqual(["a%b", "%X"]);
  });

  test.each([
    ["null", "IS NULL"],
    ["not_null", "IS NOT NULL"],
    ["true", "IS TRUE"],
    ["false", "IS FALSE"],
    ["unknown", "IS UNKNOWN"],
  ])("is.%s is %s without a parameter", (v, sql) => {
    const p = planRead(model, "todos", qs(`select=id&done=is.${v}`), null);
    expect(p.sql).toBe(`SELECT "id" FROM "todos" WHERE "done" ${sql}`);
    expect(p.params).toEqual([]);
  });

  test("in binds one array, typed by the column, so the SQL does not depend on the list", () => {
    const p = planRead(model, "todos", qs('select=id&id=in.(1,2,3)&title=in.("a,b",c)&done=in.(true)'), null);
    expect(p.sql).toBe(`SELECT "id" FROM "todos" WHERE "id" = ANY($1) AND "title" = ANY($2) AND "done" = ANY($3)`);
    expect(p.params).toEqual([[1, 2, 3], ["a,b", "c"], [true]]);
  });

  test("not. negates any operator", () => {
    const p = planRead(model, "todos", qs("select=id&id=not.eq.1&done=not.is.null&title=not.in.(a)"), null);
    expect(p.sql).toBe(
      `SELECT "id" FROM "todos" WHERE NOT ("id" = $1) AND NOT ("done" IS NULL) AND NOT ("title" = ANY($2))`,
    );
  });

  test("like(any) and like(all) expand to OR and AND", () => {
    const p = planRead(model, "todos", qs("select=id&title=like(any).{a*,b*}&owner=ilike(all).{*x*,*y*}"), null);
    expect(p.sql).toBe(
      `SELECT "id" FROM "todos" WHERE ("title" LIKE $1 OR "title" LIKE $2) AND ("owner" ILIKE $3 AND "owner" ILIKE $4)`,
    );
    expect(p.params).toEqual(["a%", "b%", "%x%", "%y%"]);
  });

  test("isdistinct binds its value", () => {
    expect(planRead(model, "todos", qs("select=id&title=isdistinct.x"), null).sql).toBe(
      `SELECT "id" FROM "todos" WHERE "title" IS DISTINCT FROM $1`,
    );
  });

  test("a value keeps its dots and the quoted value its commas", () => {
    expect(parseCondition("title", "eq.a.b.c")).toEqual({
      kind: "op",
      column: "title",
      path: [],
      op: "eq",
      negate: false,
      quantifier: null,
      value: "a.b.c",
    });
    expect(parseCondition("title", 'eq."x,y"')).toEqual({
      kind: "op",
      column: "title",
      path: [],
      op: "eq",
      negate: false,
      quantifier: null,
      value: "x,y",
    });
  });
});

describe("or= and and= trees", () => {
  test("nest with not. at any level", () => {
    const p = planRead(
      model,
      "todos",
      qs("select=id&or=(id.eq.1,and(title.like.a*,not.or(done.is.true,team_id.gt.3)))"),
      null,
    );
    expect(p.sql).toBe(
      `SELECT "id" FROM "todos" WHERE ("id" = $1 OR ("title" LIKE $2 AND NOT ("done" IS TRUE OR "team_id" > $3)))`,
    );
    expect(p.params).toEqual(["1", "a%", "3"]);
  });

  test("not.and= negates the whole group, and values hold quoted commas and parentheses", () => {
    const f = parseLogic("and", true, '(title.eq."a,(b)",id.in.(1,2))');
    expect(f).toEqual({
      kind: "logic",
      op: "and",
      negate: true,
      children: [
        { kind: "op", column: "title", path: [], op: "eq", negate: false, quantifier: null, value: "a,(b)" },
        { kind: "op", column: "id", path: [], op: "in", negate: false, quantifier: null, value: ["1", "2"] },
      ],
    });
    expect(planRead(model, "todos", qs("select=id&not.and=(id.gt.1,id.lt.5)"), null).sql).toBe(
      `SELECT "id" FROM "todos" WHERE NOT ("id" > $1 AND "id" < $2)`,
    );
  });

  test("unbalanced parentheses and quotes are 400s naming the text", () => {
    expect(rejects(() => qs("or=(id.eq.1,and(id.eq.2)")).message).toContain('unclosed "("');
    expect(rejects(() => qs('or=(title.eq."x)')).message).toContain("unclosed double quote");
    expect(rejects(() => qs("or=id.eq.1")).message).toContain('expected "(" … ")"');
    expect(rejects(() => qs("or=(idEq1)")).message).toContain('expected column.operator.value, not "idEq1"');
  });
});

describe("bad input", () => {
  test("an unknown operator is a PGRST100 that names it and lists the supported ones", () => {
    const e = rejects(() => qs("id=zz.1"));
    expect([e.status, e.code, e.message, e.details]).toEqual([
      400,
      "PGRST100",
      'failed to parse filter (zz.1): unknown or unsupported operator "zz"',
      "id=zz.1",
    ]);
    expect(e.hint).toContain("eq, neq");
  });

  test("a filter without an operator, is. with another value, in without parentheses", () => {
    expect(rejects(() => qs("id=5")).message).toBe("failed to parse filter (5): expected operator.value");
    expect(rejects(() => qs("done=is.maybe")).message).toContain("is takes null, not_null, true, false or unknown");
    expect(rejects(() => qs("id=in.1,2")).message).toContain("in needs a list in parentheses");
  });

  test("unknown columns, tables and order modifiers", () => {
    expect(rejects(() => planRead(model, "todos", qs("nope=eq.1"), null)).code).toBe("42703");
    expect(rejects(() => planRead(model, "todos", qs("select=nope"), null)).message).toBe(
      "column todos.nope does not exist",
    );
    const t = rejects(() => planRead(model, "nope", qs(""), null));
    expect([t.status, t.code]).toEqual([404, "PGRST205"]);
    expect(rejects(() => parseOrder("id.sideways")).message).toContain('unknown modifier "sideways"');
    expect(rejects(() => qs("limit=ten")).message).toBe('failed to parse limit: "ten" is not a whole number');
  });

  test("an identifier that is SQL is refused before it reaches SQL", () => {
    expect(rejects(() => qs("select=id;drop table todos")).code).toBe("PGRST100");
    // a JSON key is an SQL literal, quoted by the one quoting function; a bare key cannot hold a quote
    expect(planRead(model, "docs", qs(`select="data"->>"x' OR 1=1 --"`), null).sql).toBe(
      `SELECT ("data" ->> 'x'' OR 1=1 --') FROM "docs"`,
    );
    expect(rejects(() => qs("select=data->>x'y")).code).toBe("PGRST100");
    expect(rejects(() => qs("select=id::int;drop")).code).toBe("PGRST100");
    // A quoted name is only ever an identifier: checked against the catalog, then quoted.
    expect(rejects(() => planRead(model, "todos", qs('select="id"" FROM x --"'), null)).code).toBe("42703");
  });

  test("a Range that is not from-to is 416", () => {
    expect(parseRange("0-9")).toEqual({ offset: 0, limit: 10 });
    expect(parseRange("5-")).toEqual({ offset: 5, limit: null });
    expect(rejects(() => parseRange("bytes")).status).toBe(416);
  });
});

describe("select, order, limit", () => {
  test("aliases, star and quoted names", () => {
    expect(parseSelect('id,t:title,"done"')).toEqual([
      { kind: "column", name: "id", alias: null, path: [], cast: null },
      { kind: "column", name: "title", alias: "t", path: [], cast: null },
      { kind: "column", name: "done", alias: null, path: [], cast: null },
    ]);
    const p = planRead(model, "teams", qs("select=*,label:name"), null);
    expect(p.sql).toBe(`SELECT "id", "name", "name" AS "label" FROM "teams"`);
  });

  test("JSON paths in select (named by their last key), filters and order; casts in select", () => {
    expect(parseSelect("data->a->>b,n:data->items->0,id::text")).toEqual([
      { kind: "column", name: "data", alias: null, path: [{ arrow: "->", key: "a" }, { arrow: "->>", key: "b" }], cast: null },
      { kind: "column", name: "data", alias: "n", path: [{ arrow: "->", key: "items" }, { arrow: "->", key: "0" }], cast: null },
      { kind: "column", name: "id", alias: null, path: [], cast: "text" },
    ]);
    const p = planRead(
      model,
      "docs",
      qs("select=id,data->a->>b,total:data->>n::int&data->>kind=eq.x&or=(data->>n.gt.2,data->tags->0.eq.y)&order=data->>n.desc"),
      null,
    );
    expect(p.sql).toBe(
      `SELECT "id", ("data" -> 'a' ->> 'b'), CAST(("data" ->> 'n') AS int) FROM "docs" WHERE ("data" ->> 'kind') = $1 AND (("data" ->> 'n') > $2 OR ("data" -> 'tags' -> 0) = $3) ORDER BY ("data" ->> 'n') DESC`,
    );
    expect(p.params).toEqual(["x", "2", "y"]);
    expect(p.shape.outputs.map((o) => o.key)).toEqual(["id", "b", "total"]);
    // a path on a column the table does not have is still 42703; a step that is not ->key is a 400
    expect(rejects(() => planRead(model, "docs", qs("select=nope->>a"), null)).code).toBe("42703");
    expect(rejects(() => qs("select=data->")).code).toBe("PGRST100");
    expect(rejects(() => qs("select=data->a.b")).code).toBe("PGRST100");
  });

  test("order with nulls, limit and offset bound as parameters; Range narrows them", () => {
    const p = planRead(model, "todos", qs("select=id&order=done.desc.nullslast,id&limit=10&offset=20"), null);
    expect(p.sql).toBe(`SELECT "id" FROM "todos" ORDER BY "done" DESC NULLS LAST, "id" ASC LIMIT $1 OFFSET $2`);
    expect(p.params).toEqual([10, 20]);
    const r = planRead(model, "todos", qs("select=id"), { offset: 5, limit: 5 });
    expect([r.sql, r.params, r.offset]).toEqual([`SELECT "id" FROM "todos" LIMIT $1 OFFSET $2`, [5, 5], 5]);
    expect(r.countSql).toBe(`SELECT count(*) FROM "todos"`);
  });

  test("embeds: many-to-one as one batched statement keyed by = ANY($1), with a hidden join column", () => {
    const p = planRead(model, "todos", qs("select=title,team:teams(name)"), null);
    expect(p.sql).toBe(`SELECT "title", "team_id" FROM "todos"`);
    const e = p.shape.embeds[0]!;
    expect([e.key, e.many, e.sql, e.parentIndex, e.childIndex]).toEqual([
      "team",
      false,
      `SELECT "name", "id" FROM "teams" WHERE "id" = ANY($1)`,
      1,
      1,
    ]);
  });

  test("embeds: one-to-many with its own filters, order and limit, nested", () => {
    const p = planRead(
      model,
      "teams",
      qs("select=name,todos(title,teams(name))&todos.done=is.false&todos.order=title.desc&todos.limit=2"),
      null,
    );
    const e = p.shape.embeds[0]!;
    expect(e.many).toBe(true);
    expect(e.sql).toBe(
      `SELECT "title", "team_id", "team_id" FROM "todos" WHERE "team_id" = ANY($1) AND "done" IS FALSE ORDER BY "title" DESC`,
    );
    expect([e.limit, e.shape.embeds[0]?.many]).toEqual([2, false]);
  });

  test("!inner filters the parents with EXISTS; a hint picks the key; ambiguity and no relation are errors", () => {
    const p = planRead(model, "teams", qs("select=id,todos!inner(id)&todos.done=is.true"), null);
    expect(p.sql).toBe(
      `SELECT "id" FROM "teams" WHERE EXISTS (SELECT 1 FROM "todos" AS "cave_inner_0" WHERE "cave_inner_0"."team_id" = "teams"."id" AND "cave_inner_0"."done" IS TRUE)`,
    );
    expect(planRead(model, "todos", qs("select=id,teams!todos_team_id_fkey(name)"), null).shape.embeds[0]?.many).toBe(
      false,
    );
    const none = rejects(() => planRead(model, "members", qs("select=todos(id)"), null));
    expect([none.status, none.code]).toEqual([400, "PGRST200"]);
    const path = rejects(() => planRead(model, "todos", qs("select=id&teams.limit=1"), null));
    expect(path.message).toContain('"teams" is not an embedded resource');
  });
});

describe("writes", () => {
  const prefer = parsePrefer;
  test("insert of an array binds every value; columns= fills missing keys with NULL", () => {
    const p = planInsert(
      model,
      "todos",
      qs('columns="title","done"'),
      prefer(null),
      [{ title: "a" }, { title: "b", done: true }],
      false,
    );
    expect(p.sql).toBe(`INSERT INTO "todos" ("title", "done") VALUES ($1, NULL), ($2, $3)`);
    expect(p.params).toEqual(["a", "b", true]);
  });

  test("upserts: merge-duplicates updates the other columns, ignore-duplicates does nothing", () => {
    const m = planInsert(
      model,
      "todos",
      qs("select=id"),
      prefer("resolution=merge-duplicates"),
      { id: 1, title: "x" },
      true,
    );
    expect(m.sql).toBe(
      `INSERT INTO "todos" ("id", "title") VALUES ($1, $2) ON CONFLICT ("id") DO UPDATE SET "title" = EXCLUDED."title" RETURNING "id"`,
    );
    const i = planInsert(
      model,
      "members",
      qs("on_conflict=team_id,user_id"),
      prefer("resolution=ignore-duplicates"),
      { team_id: 1, user_id: "u" },
      false,
    );
    expect(i.sql).toBe(
      `INSERT INTO "members" ("team_id", "user_id") VALUES ($1, $2) ON CONFLICT ("team_id", "user_id") DO NOTHING`,
    );
  });

  test("objects with different keys, unknown columns and non-objects are refused", () => {
    expect(
      rejects(() => planInsert(model, "todos", qs(""), prefer(null), [{ title: "a" }, { done: true }], false)).code,
    ).toBe("PGRST102");
    expect(rejects(() => planInsert(model, "todos", qs(""), prefer(null), { nope: 1 }, false)).code).toBe("PGRST204");
    expect(rejects(() => planInsert(model, "todos", qs(""), prefer(null), [1], false)).code).toBe("PGRST102");
  });

  test("update and delete take the filters; JSON values are bound as JSON text", () => {
    const u = planUpdate(model, "todos", qs("id=eq.3"), { title: { a: 1 } }, true);
    expect([u.sql, u.params]).toEqual([
      `UPDATE "todos" SET "title" = $1 WHERE "id" = $2 RETURNING "id", "title", "done", "team_id", "owner"`,
      ['{"a":1}', "3"],
    ]);
    const d = planDelete(model, "todos", qs("done=is.true"), false);
    expect(d.sql).toBe(`DELETE FROM "todos" WHERE "done" IS TRUE`);
  });
});

describe("headers", () => {
  test("Prefer settings from one or several values", () => {
    expect(
      parsePrefer("return=representation, count=exact,resolution=merge-duplicates,missing=default,tx=rollback"),
    ).toEqual({
      return: "representation",
      count: "exact",
      resolution: "merge-duplicates",
      missing: "default",
      txRollback: true,
    });
  });

  test("splitTop keeps groups and quotes together", () => {
    expect(splitTop('a,b(c,d),"e,f",g', "x")).toEqual(["a", "b(c,d)", '"e,f"', "g"]);
  });
});
