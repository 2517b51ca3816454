// /rest/v1/{table}: PostgREST's HTTP contract over the engine. GET/HEAD read (with embedding,
// Range and counts), POST inserts or upserts, PATCH updates, DELETE deletes; Prefer, Accept
// (vnd.pgrst.object+json for single()) and Content-Range as PostgREST answers them. Plans are
// cached per (method, table, query string, headers that shape them) for one schema version.
import type { AuthContext } from "../../../auth/types.ts";
import type { QueryResult } from "../../../db/types.ts";
import type { DataContext } from "../context.ts";
import type { SchemaModel } from "../model.ts";
import {
  type EmbedPlan,
  planDelete,
  planInsert,
  planRead,
  planUpdate,
  type ReadPlan,
  type Shape,
  type WritePlan,
} from "./build.ts";
import { RestError, restErrorOf } from "./errors.ts";
import { handleRpc, type RpcHelpers } from "./rpc.ts";
import { type ParsedQuery, type Prefer, parsePrefer, parseQuery, parseRange } from "./parse.ts";

type Run = (sql: string, params: readonly unknown[]) => Promise<QueryResult>;
type Json = Record<string, unknown>;

const PLAN_CACHE_LIMIT = 5000;
const plans = new WeakMap<SchemaModel, Map<string, ReadPlan>>();

function jsonText(body: unknown): string {
  return JSON.stringify(body, (_k, v) =>
    typeof v === "bigint" ? (Number.isSafeInteger(Number(v)) ? Number(v) : v.toString()) : v,
  );
}

function keyOf(v: unknown): string {
  return typeof v === "string" ? `s${v}` : `v${String(v)}`;
}

function bindable(v: unknown): unknown {
  return typeof v === "bigint" ? (Number.isSafeInteger(Number(v)) ? Number(v) : v.toString()) : v;
}

/** Rows → PostgREST's objects, with each embedded relation fetched in one statement for all rows. */
export async function toObjects(rows: unknown[][], shape: Shape, run: Run): Promise<Json[]> {
  const embedded: Map<string, Json[]>[] = [];
  for (const e of shape.embeds) embedded.push(await fetchEmbed(rows, e, run));
  const out: Json[] = [];
  rowLoop: for (const row of rows) {
    const o: Json = {};
    for (const f of shape.outputs) {
      if (f.kind === "col") {
        o[f.key] = row[f.index];
        continue;
      }
      const e = shape.embeds[f.embed]!;
      const parentKey = row[e.parentIndex];
      let children =
        parentKey === null || parentKey === undefined ? [] : (embedded[f.embed]!.get(keyOf(parentKey)) ?? []);
      if (e.many) {
        if (e.offset !== null || e.limit !== null)
          children = children.slice(e.offset ?? 0, e.limit === null ? undefined : (e.offset ?? 0) + e.limit);
        if (e.inner && children.length === 0) continue rowLoop;
        o[f.key] = children;
      } else {
        const child = children[0] ?? null;
        if (e.inner && child === null) continue rowLoop;
        o[f.key] = child;
      }
    }
    out.push(o);
  }
  return out;
}

async function fetchEmbed(parents: unknown[][], e: EmbedPlan, run: Run): Promise<Map<string, Json[]>> {
  const groups = new Map<string, Json[]>();
  const seen = new Set<string>();
  const keys: unknown[] = [];
  for (const r of parents) {
    const k = r[e.parentIndex];
    if (k === null || k === undefined) continue;
    const id = keyOf(k);
    if (seen.has(id)) continue;
    seen.add(id);
    keys.push(bindable(k));
  }
  if (keys.length === 0) return groups;
  const res = await run(e.sql, [keys, ...e.params]);
  const objects = await toObjects(res.rows, e.shape, run);
  // toObjects keeps rows in order unless an inner embed dropped some: match them by position then.
  const kept = objects.length === res.rows.length ? res.rows : null;
  if (!kept) {
    // Re-derive which rows survived: rerun shaping per row (rare: nested !inner).
    for (const row of res.rows) {
      const one = await toObjects([row], e.shape, run);
      if (one.length === 0) continue;
      const id = keyOf(row[e.childIndex]);
      let g = groups.get(id);
      if (!g) groups.set(id, (g = []));
      g.push(one[0]!);
    }
    return groups;
  }
  for (let i = 0; i < kept.length; i++) {
    const id = keyOf(kept[i]![e.childIndex]);
    let g = groups.get(id);
    if (!g) groups.set(id, (g = []));
    g.push(objects[i]!);
  }
  return groups;
}

interface Negotiated {
  single: boolean;
  stripNulls: boolean;
}

function negotiate(accept: string | null): Negotiated {
  const a = (accept ?? "").toLowerCase();
  const stripNulls = a.includes("nulls=stripped");
  if (a.includes("application/vnd.pgrst.object+json")) return { single: true, stripNulls };
  if (a === "" || a.includes("application/json") || a.includes("application/vnd.pgrst.array+json") || a.includes("*/*"))
    return { single: false, stripNulls };
  throw new RestError(
    406,
    "PGRST107",
    `None of these media types are available: ${accept}`,
    null,
    "use application/json or application/vnd.pgrst.object+json",
  );
}

function stripNulls(rows: Json[]): Json[] {
  return rows.map((r) => Object.fromEntries(Object.entries(r).filter(([, v]) => v !== null)));
}

function singleError(n: number): RestError {
  return new RestError(
    406,
    "PGRST116",
    "JSON object requested, multiple (or no) rows returned",
    `The result contains ${n} rows`,
  );
}

function response(status: number, body: unknown, headers: Record<string, string>): Response {
  const h = new Headers(headers);
  if (body === undefined) return new Response(null, { status, headers: h });
  h.set("content-type", "application/json; charset=utf-8");
  return new Response(jsonText(body), { status, headers: h });
}

function respond(rows: Json[], n: Negotiated, status: number, headers: Record<string, string>): Response {
  const list = n.stripNulls ? stripNulls(rows) : rows;
  if (n.single) {
    if (list.length !== 1) throw singleError(list.length);
    return response(status, list[0], headers);
  }
  return response(status, list, headers);
}

async function readBody(req: Request): Promise<unknown> {
  const text = await req.text();
  if (text.trim() === "") return {};
  try {
    return JSON.parse(text);
  } catch (e) {
    throw new RestError(400, "PGRST102", "Empty or invalid json", (e as Error).message);
  }
}

/**
 * The plan of a request for the current schema; a name the model does not know is looked up
 * once more after re-reading the schema (another connection may have made it).
 */
async function withSchema<T>(ctx: DataContext, make: (model: SchemaModel) => T): Promise<T> {
  try {
    return make(await ctx.schema());
  } catch (e) {
    const stale = e instanceof RestError && ["PGRST205", "PGRST200", "PGRST204", "42703"].includes(e.code);
    if (!stale || !(await ctx.refreshSchema())) throw e;
    return make(await ctx.schema());
  }
}

/** Runs a request's statements as one unit: a transaction when it writes or reads more than once. */
async function unit<T>(ctx: DataContext, tx: boolean, rollback: boolean, fn: () => Promise<T>): Promise<T> {
  if (!tx) return fn();
  await ctx.control("BEGIN");
  try {
    const out = await fn();
    await ctx.control(rollback ? "ROLLBACK" : "COMMIT");
    return out;
  } catch (e) {
    if (ctx.inTransaction()) await ctx.control("ROLLBACK").catch(() => {});
    throw e;
  }
}

function contentRange(offset: number, n: number, total: number | null): string {
  const t = total === null ? "*" : String(total);
  return n === 0 ? `*/${t}` : `${offset}-${offset + n - 1}/${t}`;
}

async function handleRead(
  ctx: DataContext,
  req: Request,
  table: string,
  url: URL,
  auth: AuthContext,
): Promise<Response> {
  const neg = negotiate(req.headers.get("accept"));
  const prefer = parsePrefer(req.headers.get("prefer"));
  const rangeHeader = req.headers.get("range");
  const plan = await withSchema(ctx, (model) => {
    const cacheKey = `${table}?${url.search}\n${rangeHeader ?? ""}`;
    let cache = plans.get(model);
    if (!cache) plans.set(model, (cache = new Map()));
    const hit = cache.get(cacheKey);
    if (hit) return hit;
    const p = planRead(model, table, parseQuery(url.searchParams), parseRange(rangeHeader), ctx.maxRows);
    if (cache.size >= PLAN_CACHE_LIMIT) cache.clear();
    cache.set(cacheKey, p);
    return p;
  });
  const exact = prefer.count === "exact" || prefer.count === "planned" || prefer.count === "estimated";
  const run: Run = (sql, params) => ctx.run(sql, params, auth);
  const { rows, total } = await ctx.exclusive(() =>
    unit(ctx, exact || plan.shape.embeds.length > 0, false, async () => {
      const res = await run(plan.sql, plan.params);
      const rows = await toObjects(res.rows, plan.shape, run);
      const total = exact ? Number((await run(plan.countSql, plan.countParams)).rows[0]?.[0] ?? 0) : null;
      return { rows, total };
    }),
  );
  const headers = { "content-range": contentRange(plan.offset, rows.length, total) };
  const partial = total !== null && rows.length < total;
  const res = respond(rows, neg, partial ? 206 : 200, headers);
  return req.method === "HEAD" ? new Response(null, { status: res.status, headers: res.headers }) : res;
}

async function handleWrite(
  ctx: DataContext,
  req: Request,
  table: string,
  url: URL,
  auth: AuthContext,
): Promise<Response> {
  const neg = negotiate(req.headers.get("accept"));
  const prefer: Prefer = parsePrefer(req.headers.get("prefer"));
  const wantRows = prefer.return === "representation";
  const body = req.method === "DELETE" ? undefined : await readBody(req);
  const query: ParsedQuery = parseQuery(url.searchParams);
  const plan: WritePlan = await withSchema(ctx, (model) => {
    if (req.method === "POST") return planInsert(model, table, query, prefer, body, wantRows || neg.single);
    if (req.method === "PATCH") return planUpdate(model, table, query, body, wantRows || neg.single);
    return planDelete(model, table, query, wantRows || neg.single);
  });
  const run: Run = (sql, params) => ctx.run(sql, params, auth);
  const { rows, count } = await ctx.exclusive(() =>
    unit(ctx, true, prefer.txRollback, async () => {
      if (plan.sql === "") return { rows: [] as Json[], count: 0 };
      const res = await run(plan.sql, plan.params);
      const rows = plan.shape ? await toObjects(res.rows, plan.shape, run) : [];
      // single() on a write: anything but one row undoes the write, as PostgREST does.
      if (neg.single && rows.length !== 1) throw singleError(rows.length);
      return { rows, count: res.rowCount };
    }),
  );
  const total = prefer.count ? count : null;
  const created = req.method === "POST";
  const headers: Record<string, string> = {
    "content-range": created ? `*/${total ?? "*"}` : contentRange(0, count, total),
  };
  if (prefer.return) headers["preference-applied"] = `return=${prefer.return}`;
  if (!wantRows) return response(created ? 201 : 204, undefined, headers);
  return respond(rows, neg, created ? 201 : 200, headers);
}

const RPC_HELPERS: RpcHelpers = {
  readBody,
  negotiate,
  respond,
  response,
  toObjects,
  unit,
  contentRange,
  parsePrefer,
};

/** The /rest/v1 handler; `rest` is the path after /rest/v1/. */
export async function handleRest(
  ctx: DataContext,
  req: Request,
  url: URL,
  rest: string,
  auth: AuthContext,
): Promise<Response> {
  try {
    const table = decodeURIComponent(rest);
    if (table === "") {
      throw new RestError(404, "PGRST125", "Invalid path specified in request URL", null, "use /rest/v1/<table>");
    }
    if (table.startsWith("rpc/")) return await handleRpc(ctx, req, url, table.slice(4), auth, RPC_HELPERS);
    if (table.includes("/")) throw new RestError(404, "PGRST125", "Invalid path specified in request URL");
    switch (req.method) {
      case "GET":
      case "HEAD":
        return await handleRead(ctx, req, table, url, auth);
      case "POST":
      case "PATCH":
      case "DELETE":
        return await handleWrite(ctx, req, table, url, auth);
      default:
        throw new RestError(405, "PGRST117", `Unsupported HTTP method: ${req.method}`);
    }
  } catch (e) {
    const { status, body } = restErrorOf(e, auth.role);
    return response(status, body, {});
  }
}
