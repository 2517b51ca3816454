// Random PostgREST query strings, from pieces of the real grammar mixed with stray characters,
// through the parser, the SQL builder and a real engine: each must give rows or a clear client
// error (RestError, or a DbError with a SQLSTATE of the user's class), never a crash, an internal
// error or SQL that the engine cannot even parse. Seeded (REST_FUZZ_SEED), so a failure replays.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import fc from "fast-check";
import { Engine } from "../../../src/db/engine.ts";
import { isDbError } from "../../../src/db/errors.ts";
import { openStore } from "../../../src/db/store/index.ts";
import { loadModel } from "../../../src/server/data/model.ts";
import { planInsert, planRead, planUpdate } from "../../../src/server/data/rest/build.ts";
import { RestError } from "../../../src/server/data/rest/errors.ts";
import { parsePrefer, parseQuery, parseRange } from "../../../src/server/data/rest/parse.ts";
import { tempStore } from "../../helpers/store.ts";

const SEED = Number(process.env.REST_FUZZ_SEED ?? 20261126);
const RUNS = Number(process.env.REST_FUZZ_RUNS ?? 400);
const service = { auth: { role: "service_role", claims: { role: "service_role" } } };

let engine: Engine;
let dispose = () => {};
beforeAll(async () => {
  const t = tempStore("file");
  dispose = t.dispose;
  engine = await Engine.open(openStore(t.path));
  for (const sql of [
    "CREATE TABLE teams (id bigserial PRIMARY KEY, name text NOT NULL)",
    "CREATE TABLE todos (id bigserial PRIMARY KEY, title text, done bool DEFAULT false, team_id bigint REFERENCES teams(id), data jsonb)",
    "INSERT INTO teams (name) VALUES ('red'), ('blue')",
    `INSERT INTO todos (title, done, team_id, data) VALUES ('a', true, 1, '{"k": 1}'), ('b', false, 2, null), (null, null, null, '[1,2]')`,
  ])
    await engine.query(sql);
});
afterAll(() => {
  engine.close();
  dispose();
});

const pick = <T>(xs: readonly T[]) => fc.constantFrom(...xs);
const column = pick([
  "id",
  "title",
  "done",
  "team_id",
  "data",
  "name",
  "nope",
  '"title"',
  "*",
  "teams",
  "x y",
  // JSON paths, on a jsonb column and on others
  "data->>k",
  "data->k",
  "data->0",
  'data->"a b"->>c',
  "title->>x",
  "data->",
  "data->>k->",
]);
const op = pick([
  "eq",
  "neq",
  "gt",
  "gte",
  "lt",
  "lte",
  "like",
  "ilike",
  "is",
  "in",
  "isdistinct",
  "not.eq",
  "not.in",
  "fts",
  "cs",
  "",
]);
const value = fc.oneof(
  pick([
    "1",
    "0",
    "-3",
    "2.5",
    "true",
    "false",
    "null",
    "a",
    "a*",
    "%",
    "(1,2)",
    '("a","b,c")',
    "()",
    "'",
    '"',
    "\\",
    "1e309",
  ]),
  fc.string({ maxLength: 8 }),
);
const filter = fc.tuple(column, op, value).map(([c, o, v]) => [c, `${o}${o ? "." : ""}${v}`] as [string, string]);
const logic = fc
  .tuple(pick(["or", "and", "not.or"]), fc.array(fc.tuple(column, op, value), { maxLength: 3 }), pick(["", ")", "(("]))
  .map(
    ([l, parts, junk]) => [l, `(${parts.map(([c, o, v]) => `${c}.${o}.${v}`).join(",")}${junk})`] as [string, string],
  );
const select = fc
  .array(
    pick([
      "id",
      "title",
      "t:title",
      "*",
      "teams(*)",
      "teams(name)",
      "teams!inner(id)",
      "nope",
      "data->k",
      "id::text",
      "data->>k::int",
      "n:data->k->0",
      "data->>",
      "id::nope",
      "title::",
      "",
      "(",
      ")",
    ]),
    {
      maxLength: 4,
    },
  )
  .map((xs) => ["select", xs.join(",")] as [string, string]);
const order = fc
  .array(fc.tuple(column, pick(["", ".asc", ".desc", ".nullsfirst", ".desc.nullslast", ".sideways"])), { maxLength: 3 })
  .map((xs) => ["order", xs.map(([c, d]) => `${c}${d}`).join(",")] as [string, string]);
const paging = fc
  .tuple(pick(["limit", "offset"]), pick(["0", "1", "10", "-1", "x", "1.5", "99999999999999999999"]))
  .map(([k, v]) => [k, v] as [string, string]);
const params = fc.array(fc.oneof(filter, logic, select, order, paging), { maxLength: 6 });
const range = fc.option(pick(["0-1", "1-", "5-2", "items=0-9", "0-99999999999999999999", "x"]), { nil: null });

describe("random query strings through parser, builder and engine", () => {
  test(`${RUNS} cases (seed ${SEED}): rows or a client error, never a crash`, async () => {
    let answered = 0;
    let refused = 0;
    await fc.assert(
      fc.asyncProperty(params, range, async (pairs, rangeHeader) => {
        const search = new URLSearchParams(pairs);
        let plan: ReturnType<typeof planRead>;
        try {
          plan = planRead(await loadModel(engine.store), "todos", parseQuery(search), parseRange(rangeHeader));
        } catch (e) {
          // the parser and builder refuse with PostgREST's errors, and nothing else
          if (!(e instanceof RestError)) throw new Error(`?${search} (Range: ${rangeHeader}): ${String(e)}`);
          expect(e.status).toBeGreaterThanOrEqual(400);
          expect(e.status).toBeLessThan(500);
          refused++;
          return;
        }
        try {
          await engine.query(plan.sql, plan.params, service);
          await engine.query(plan.countSql, plan.countParams, service);
          answered++;
        } catch (e) {
          // Bad input may reach the engine (a value of the wrong type): a user-class SQLSTATE,
          // never a syntax error in SQL we wrote, an internal error or a crash.
          if (!isDbError(e)) throw new Error(`?${search}: not a DbError: ${String(e)}\n${plan.sql}`);
          if (e.sqlstate === "42601" || e.sqlstate.startsWith("XX") || e.sqlstate === "42P01")
            throw new Error(`?${search}: ${e.sqlstate} ${e.message}\n${plan.sql}`);
          refused++;
        }
      }),
      { seed: SEED, numRuns: RUNS },
    );
    // both outcomes are exercised, or the generator is not testing much
    expect(answered).toBeGreaterThan(RUNS / 10);
    expect(refused).toBeGreaterThan(RUNS / 10);
  });
});

const anyValue = fc.oneof(
  fc.integer(),
  fc.double(),
  fc.boolean(),
  fc.constant(null),
  fc.string({ maxLength: 6 }),
  fc.constantFrom(9007199254740993n.toString(), "2026-01-01", "{}", "[]"),
  fc.array(fc.integer(), { maxLength: 2 }),
  fc.dictionary(fc.string({ maxLength: 3 }), fc.integer(), { maxKeys: 2 }),
);
const rowObject = fc.dictionary(pick(["id", "title", "done", "team_id", "data", "nope", ""]), anyValue, { maxKeys: 4 });
const body = fc.oneof(rowObject, fc.array(rowObject, { maxLength: 3 }), anyValue);
const prefer = pick([
  null,
  "return=representation",
  "return=minimal",
  "resolution=merge-duplicates",
  "resolution=ignore-duplicates,return=representation",
  "count=exact",
  "junk",
]);

describe("random write bodies through the builder and engine", () => {
  test(`${RUNS} inserts and updates (seed ${SEED}): rows or a client error, never a crash; rolled back`, async () => {
    let answered = 0;
    let refused = 0;
    await fc.assert(
      fc.asyncProperty(
        body,
        prefer,
        fc.boolean(),
        fc.array(fc.oneof(filter, logic), { maxLength: 2 }),
        async (b, pref, update, filters) => {
          const query = parseQueryOrNull(new URLSearchParams(filters));
          if (!query) return void refused++;
          let plan: { sql: string; params: unknown[] };
          try {
            const model = await loadModel(engine.store);
            plan = update
              ? planUpdate(model, "todos", query, b, true)
              : planInsert(model, "todos", query, parsePrefer(pref), b, true);
          } catch (e) {
            if (!(e instanceof RestError)) throw new Error(`${JSON.stringify(b)}: ${String(e)}`);
            return void refused++;
          }
          await engine.query("BEGIN");
          try {
            await engine.query(plan.sql, plan.params, service);
            answered++;
          } catch (e) {
            if (!isDbError(e)) throw new Error(`${JSON.stringify(b)}: not a DbError: ${String(e)}\n${plan.sql}`);
            if (e.sqlstate === "42601" || e.sqlstate.startsWith("XX") || e.sqlstate === "42P01")
              throw new Error(`${JSON.stringify(b)}: ${e.sqlstate} ${e.message}\n${plan.sql}`);
            refused++;
          } finally {
            await engine.query("ROLLBACK");
          }
        },
      ),
      { seed: SEED, numRuns: RUNS },
    );
    expect(answered).toBeGreaterThan(RUNS / 20);
    expect(refused).toBeGreaterThan(RUNS / 20);
    // nothing of it stayed
    expect((await engine.query("SELECT count(*) FROM todos")).rows).toEqual([[3]]);
  });
});

function parseQueryOrNull(search: URLSearchParams) {
  try {
    return parseQuery(search);
  } catch (e) {
    if (e instanceof RestError) return null;
    throw e;
  }
}
