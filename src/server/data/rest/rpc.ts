// /rest/v1/rpc/{fn}: PostgREST's call of a user-defined SQL function. POST takes the named
// arguments as a JSON object; GET takes them from the query string (STABLE / IMMUTABLE functions
// only). A scalar answers its JSON value, a void function 204, a row-returning one its rows as
// objects with select=, filters, order, limit and Range applied like a table's. The call is SQL
// through the engine as the caller's role (arguments are bound parameters), so policies apply
// inside the function's body.
import type { AuthContext } from "../../../auth/types.ts";
import { type FunctionInfo, readFunction } from "../../../db/catalog/catalog.ts";
import { toDbError } from "../../../db/exec/errors.ts";
import type { QueryResult } from "../../../db/types.ts";
import type { DataContext } from "../context.ts";
import type { TableModel } from "../model.ts";
import { planRead, q } from "./build.ts";
import { RestError } from "./errors.ts";
import { parseQuery, parseRange } from "./parse.ts";

type Json = Record<string, unknown>;
type Run = (sql: string, params: readonly unknown[]) => Promise<QueryResult>;

/** What the route needs from the shared REST handler (kept there: negotiation, responses, transactions). */
export interface RpcHelpers {
  readBody(req: Request): Promise<unknown>;
  negotiate(accept: string | null): { single: boolean; stripNulls: boolean };
  respond(
    rows: Json[],
    n: { single: boolean; stripNulls: boolean },
    status: number,
    headers: Record<string, string>,
  ): Response;
  response(status: number, body: unknown, headers: Record<string, string>): Response;
  toObjects(rows: unknown[][], shape: ReturnType<typeof planRead>["shape"], run: Run): Promise<Json[]>;
  unit<T>(ctx: DataContext, tx: boolean, rollback: boolean, fn: () => Promise<T>): Promise<T>;
  contentRange(offset: number, n: number, total: number | null): string;
  parsePrefer(header: string | null): { count?: string | null; txRollback: boolean };
}

/** Query-string keys that shape the answer, never arguments. */
const RESERVED = new Set([
  "select",
  "order",
  "limit",
  "offset",
  "or",
  "and",
  "not.or",
  "not.and",
  "columns",
  "on_conflict",
]);

function notFound(fn: string, names: string[], why: string | null): RestError {
  return new RestError(
    404,
    "PGRST202",
    `Could not find the function public.${fn}(${names.join(", ")}) in the schema cache`,
    why,
    "Check the function's name and its argument names (rpc arguments are passed by name).",
  );
}

/** The rows a call yields, as a table the read planner can select, filter and order. */
async function resultTable(ctx: DataContext, info: FunctionInfo, alias: string): Promise<TableModel | null> {
  const r = info.returns;
  let columns: { name: string; type: string }[] | null = r.columns;
  if (!columns) {
    let rel = (await ctx.schema()).tables.get(r.type);
    if (!rel && (await ctx.refreshSchema())) rel = (await ctx.schema()).tables.get(r.type);
    columns = rel ? rel.columns.map((c) => ({ name: c.name, type: c.type })) : null;
  }
  if (!columns) return null;
  const cols = columns.map((c) => ({ name: c.name, type: c.type, notNull: false, hasDefault: false }));
  return { name: alias, kind: "view", columns: cols, byName: new Map(cols.map((c) => [c.name, c])), primaryKey: [] };
}

export async function handleRpc(
  ctx: DataContext,
  req: Request,
  url: URL,
  fn: string,
  auth: AuthContext,
  h: RpcHelpers,
): Promise<Response> {
  if (req.method !== "GET" && req.method !== "HEAD" && req.method !== "POST")
    throw new RestError(405, "PGRST101", "For functions, only GET and POST verbs are allowed");
  if (fn === "" || fn.includes("/")) throw new RestError(404, "PGRST125", "Invalid path specified in request URL");
  let info: FunctionInfo | undefined;
  try {
    info = await readFunction(ctx.engine.store, fn);
  } catch (e) {
    throw toDbError(e);
  }
  const post = req.method === "POST";
  // Arguments: the body's keys (POST) or the query string's keys that name parameters (GET).
  const given = new Map<string, unknown>();
  const search = new URLSearchParams(url.search);
  if (post) {
    const body = await h.readBody(req);
    if (body === null || typeof body !== "object" || Array.isArray(body))
      throw new RestError(400, "PGRST102", "rpc arguments must be a JSON object of named arguments");
    for (const [k, v] of Object.entries(body as Json)) given.set(k, v);
  } else if (info) {
    for (const a of info.args) {
      if (a.name === null || RESERVED.has(a.name) || !search.has(a.name)) continue;
      given.set(a.name, search.get(a.name));
      search.delete(a.name);
    }
  }
  if (!info) throw notFound(fn, [...given.keys()].sort(), null);
  const names = info.args.map((a) => a.name);
  for (const k of given.keys())
    if (!names.includes(k)) throw notFound(fn, [...given.keys()].sort(), `the function has no argument named "${k}"`);
  const missing = info.args.find((a) => a.default === null && (a.name === null || !given.has(a.name)));
  if (missing)
    throw notFound(
      fn,
      [...given.keys()].sort(),
      missing.name === null ? "an argument without a name cannot be passed" : `argument "${missing.name}" is missing`,
    );
  if (!post && info.volatility === "volatile")
    throw new RestError(
      405,
      "25006",
      `cannot call the volatile function ${fn} with GET`,
      null,
      "Use POST, or declare the function STABLE or IMMUTABLE if it does not write.",
    );
  const call = (bind: (v: unknown) => string) =>
    `${q(info.name)}(${[...given].map(([k, v]) => `${q(k)} => ${bind(v)}`).join(", ")})`;
  const run: Run = (sql, params) => ctx.run(sql, params, auth);
  const neg = h.negotiate(req.headers.get("accept"));
  const prefer = h.parsePrefer(req.headers.get("prefer"));
  const writes = info.volatility === "volatile";
  const answer = (res: Response) =>
    req.method === "HEAD" ? new Response(null, { status: res.status, headers: res.headers }) : res;
  const table = await resultTable(ctx, info, info.name);

  if (!table) {
    // A base type: SELECT fn(…) is its value; SETOF a base type is an array of values.
    const params: unknown[] = [];
    const bind = (v: unknown) => {
      params.push(v);
      return `$${params.length}`;
    };
    const sql = info.returns.set ? `SELECT * FROM ${call(bind)}` : `SELECT ${call(bind)}`;
    const res = await ctx.exclusive(() => h.unit(ctx, writes, prefer.txRollback, () => run(sql, params)));
    if (info.returns.type === "void") return answer(h.response(204, undefined, {}));
    if (info.returns.set)
      return answer(
        h.response(
          200,
          res.rows.map((r) => r[0]),
          {},
        ),
      );
    return answer(h.response(200, res.rows[0]?.[0] ?? null, {}));
  }

  const query = parseQuery(search);
  const rangeHeader = req.headers.get("range");
  const plain =
    query.select.length === 1 &&
    query.select[0]!.kind === "star" &&
    query.resources.size === 1 &&
    [...query.resources.values()].every(
      (r) => !r.filters.length && !r.order.length && r.limit === null && r.offset === null,
    ) &&
    rangeHeader === null;
  // Without select/filters/order/limit the call is the whole statement, which a function whose
  // body writes needs (SELECT * FROM fn(…)); otherwise it is a FROM item under an alias.
  const params: unknown[] = [];
  const plan = plain
    ? {
        sql: `SELECT * FROM ${call((v) => {
          params.push(v);
          return `$${params.length}`;
        })}`,
        params,
        shape: {
          outputs: table.columns.map((c, index) => ({ kind: "col" as const, key: c.name, index })),
          embeds: [],
        },
        countSql: null,
        countParams: [],
        offset: 0,
      }
    : planRead(
        await ctx.schema(),
        { table, from: (bind) => `${call(bind)} AS ${q(table.name)}` },
        query,
        parseRange(rangeHeader),
        ctx.maxRows,
      );
  const exact = prefer.count === "exact" || prefer.count === "planned" || prefer.count === "estimated";
  const { rows, total } = await ctx.exclusive(() =>
    h.unit(ctx, writes || exact || plan.shape.embeds.length > 0, prefer.txRollback, async () => {
      const res = await run(plan.sql, plan.params);
      const rows = await h.toObjects(res.rows, plan.shape, run);
      const total = !exact
        ? null
        : plan.countSql === null
          ? rows.length
          : Number((await run(plan.countSql, plan.countParams)).rows[0]?.[0] ?? 0);
      // single() on a call that yields anything but one row fails (and undoes what it wrote).
      if (neg.single && info.returns.set && rows.length !== 1)
        throw new RestError(
          406,
          "PGRST116",
          "JSON object requested, multiple (or no) rows returned",
          `The result contains ${rows.length} rows`,
        );
      return { rows, total };
    }),
  );
  if (!info.returns.set) {
    // A function returning one row (RETURNS table_name): the object itself, or null.
    return answer(h.response(200, rows[0] ?? null, {}));
  }
  const headers = { "content-range": h.contentRange(plan.offset, rows.length, total) };
  const partial = total !== null && rows.length < total;
  return answer(h.respond(rows, neg, partial ? 206 : 200, headers));
}
