// The plain data endpoints: POST /query (SQL as the caller's role), GET /schema (tables,
// columns, keys, row-level-security flags and, for the service role, policies) and /policy
// (list, create, drop; service role only), the last built as CREATE/DROP POLICY statements that
// go through the engine like any other.
import * as v from "valibot";
import { PolicyCreateSchema, PolicyDropSchema, QueryBodySchema } from "../../../schema/api.ts";
import type { AuthContext } from "../../auth/types.ts";
import { quoteIdent } from "../../db/emit/quote.ts";
import { isDbError } from "../../db/errors.ts";
import type { DataContext } from "./context.ts";
import { loadModel } from "./model.ts";

const OBJECTS_TABLE = "_cave_objects";

/** Errors of the plain endpoints: the server's one shape, {error: {code, message, …}}. */
export class PlainError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
    readonly extra: Record<string, unknown> = {},
  ) {
    super(message);
  }
}

function json(status: number, body: unknown): Response {
  return new Response(
    JSON.stringify(body, (_k, val) =>
      typeof val === "bigint" ? (Number.isSafeInteger(Number(val)) ? Number(val) : val.toString()) : val,
    ),
    { status, headers: { "content-type": "application/json" } },
  );
}

export function plainErrorResponse(e: unknown, auth: AuthContext | null): Response {
  if (e instanceof PlainError) return json(e.status, { error: { code: e.code, message: e.message, ...e.extra } });
  if (isDbError(e)) {
    const status =
      e.sqlstate === "42501"
        ? auth?.role === "anon"
          ? 401
          : 403
        : e.sqlstate.startsWith("XX") || e.sqlstate.startsWith("58")
          ? 500
          : 400;
    return json(status, {
      error: {
        code: `DB_${e.sqlstate}`,
        sqlstate: e.sqlstate,
        message: e.message,
        position: e.position,
        ...(e.hint ? { hint: e.hint } : {}),
      },
    });
  }
  return json(500, { error: { code: "INTERNAL", message: e instanceof Error ? e.message : String(e) } });
}

async function body<T extends v.GenericSchema>(req: Request, schema: T): Promise<v.InferOutput<T>> {
  const raw = await req.text();
  let data: unknown;
  try {
    data = raw.trim() === "" ? {} : JSON.parse(raw);
  } catch {
    throw new PlainError(400, "BAD_REQUEST", "the body is not valid JSON");
  }
  return validate(schema, data);
}

function validate<T extends v.GenericSchema>(schema: T, data: unknown): v.InferOutput<T> {
  const r = v.safeParse(schema, data);
  if (!r.success) {
    const issue = r.issues[0];
    const field = issue ? v.getDotPath(issue) : null;
    throw new PlainError(400, "BAD_REQUEST", `${field ? `field ${field}` : "body"}: ${issue?.message ?? "invalid"}`);
  }
  return r.output;
}

/** POST /query: one request's SQL (one or more statements) as the caller; no transaction outlives it. */
export async function handleQuery(ctx: DataContext, req: Request, auth: AuthContext): Promise<Response> {
  const b = await body(req, QueryBodySchema);
  // The SQL runs on the query engine: off the event loop, cancelled at the statement timeout.
  const q = ctx.sql;
  return ctx.exclusive(async () => {
    const wasOpen = q.inTransaction();
    try {
      const r = await q.run(b.sql, b.params ?? [], auth);
      if (!wasOpen && q.inTransaction()) {
        await q.control("ROLLBACK");
        throw new PlainError(400, "BAD_REQUEST", "the SQL left a transaction open: it was rolled back", {
          hint: "each /query request is its own unit; send BEGIN … COMMIT in one request",
        });
      }
      return json(200, { command: r.command, columns: r.columns, rows: r.rows, rowCount: r.rowCount });
    } catch (e) {
      if (!wasOpen && q.inTransaction()) await q.control("ROLLBACK").catch(() => {});
      throw e;
    }
  }, "sql");
}

interface PolicyRow {
  table: string;
  name: string;
  command: string;
  roles: string[];
  permissive: boolean;
  using: string | null;
  check: string | null;
}

/** The policy's expression as SQL text where the catalog keeps it, else null. */
function exprText(data: Record<string, unknown>, which: "using" | "check"): string | null {
  for (const k of [`${which}Sql`, `${which}_sql`, `${which}Text`])
    if (typeof data[k] === "string") return data[k] as string;
  const x = data[which];
  if (typeof x === "string") return x;
  return x === null || x === undefined ? null : JSON.stringify(x);
}

async function readObjects(
  ctx: DataContext,
): Promise<{ rls: Map<string, { enabled: boolean; forced: boolean }>; policies: PolicyRow[] }> {
  const rls = new Map<string, { enabled: boolean; forced: boolean }>();
  const policies: PolicyRow[] = [];
  let rows: unknown[][] = [];
  try {
    rows = (
      await ctx.engine.store.execute(
        `SELECT kind, rel, name, data FROM "${OBJECTS_TABLE}" WHERE kind IN ('rls', 'policy') ORDER BY rel, name`,
        [],
      )
    ).rows;
  } catch {
    // No row-level security in this database's catalog yet: no flags, no policies.
    return { rls, policies };
  }
  for (const [kind, rel, name, data] of rows as [string, string, string, string][]) {
    const d = JSON.parse(data) as Record<string, unknown>;
    if (kind === "rls") rls.set(rel, { enabled: !!d.enabled, forced: !!d.forced });
    else
      policies.push({
        table: rel,
        name,
        command: String(d.command ?? "all"),
        roles: Array.isArray(d.roles) ? (d.roles as string[]) : ["public"],
        permissive: d.permissive !== false,
        using: exprText(d, "using"),
        check: exprText(d, "check"),
      });
  }
  return { rls, policies };
}

const isInternal = (name: string) =>
  name.startsWith("cave_") || name.startsWith("_cave_") || name.startsWith("sqlite_");

/**
 * GET /schema. Every valid key sees the application's tables, columns, keys and RLS flags
 * (what PostgREST's OpenAPI root shows any client); only the service role also sees the
 * policies' expressions. cave's own tables are listed to nobody: no request role may read
 * them (the planner refuses them even to service_role), and their columns are nobody's
 * business (tests/security/data-api.test.ts).
 */
export async function handleSchema(ctx: DataContext, auth: AuthContext): Promise<Response> {
  const service = auth.role === "service_role";
  const { model, objects } = await ctx.exclusive(async () => ({
    model: await loadModel(ctx.engine.store),
    objects: await readObjects(ctx),
  }));
  const tables = [...model.tables.values()]
    .filter((t) => !isInternal(t.name))
    .sort((a, b) => a.name.localeCompare(b.name))
    .map((t) => {
      const rls = objects.rls.get(t.name) ?? { enabled: false, forced: false };
      return {
        name: t.name,
        kind: t.kind,
        columns: t.columns.map((c) => ({
          name: c.name,
          type: c.type,
          nullable: !c.notNull,
          default: c.defaultSql ?? null,
        })),
        primaryKey: t.primaryKey,
        foreignKeys: model.foreignKeys
          .filter((k) => k.table === t.name)
          .map((k) => ({ name: k.name, columns: k.columns, references: { table: k.refTable, columns: k.refColumns } })),
        rls: { enabled: rls.enabled, forced: rls.forced },
        ...(service
          ? { policies: objects.policies.filter((p) => p.table === t.name).map(({ table: _t, ...p }) => p) }
          : {}),
      };
    });
  return json(200, { tables });
}

function requireService(auth: AuthContext): void {
  if (auth.role !== "service_role") {
    throw new PlainError(403, "FORBIDDEN", "managing policies needs the service role", {
      hint: "send the service-role key (cave db keys) as apikey and bearer",
    });
  }
}

/** The CREATE POLICY statement of a /policy body: names quoted, expressions as the service role wrote them. */
export function createPolicySql(p: v.InferOutput<typeof PolicyCreateSchema>): string {
  const roles = (p.roles ?? ["public"])
    .map((r) => (r.toLowerCase() === "public" ? "PUBLIC" : quoteIdent(r)))
    .join(", ");
  let sql = `CREATE POLICY ${quoteIdent(p.name)} ON ${quoteIdent(p.table)} AS ${p.permissive === false ? "RESTRICTIVE" : "PERMISSIVE"} FOR ${(p.command ?? "all").toUpperCase()} TO ${roles}`;
  if (p.using !== undefined) sql += ` USING (${p.using})`;
  if (p.check !== undefined) sql += ` WITH CHECK (${p.check})`;
  return sql;
}

/** GET, POST and DELETE /policy. */
export async function handlePolicy(ctx: DataContext, req: Request, url: URL, auth: AuthContext): Promise<Response> {
  requireService(auth);
  if (req.method === "GET") {
    const { policies } = await ctx.exclusive(() => readObjects(ctx));
    const table = url.searchParams.get("table");
    return json(200, table === null ? policies : policies.filter((p) => p.table === table));
  }
  if (req.method === "POST") {
    const p = await body(req, PolicyCreateSchema);
    if (p.using === undefined && p.check === undefined)
      throw new PlainError(400, "BAD_REQUEST", "a policy needs using, check or both");
    await ctx.exclusive(() => ctx.run(createPolicySql(p), [], auth));
    const { policies } = await ctx.exclusive(() => readObjects(ctx));
    return json(
      201,
      policies.find((x) => x.table === p.table && x.name === p.name) ?? { table: p.table, name: p.name },
    );
  }
  if (req.method === "DELETE") {
    const fromQuery = {
      table: url.searchParams.get("table") ?? undefined,
      name: url.searchParams.get("name") ?? undefined,
    };
    const p =
      fromQuery.table !== undefined || fromQuery.name !== undefined
        ? validate(PolicyDropSchema, fromQuery)
        : await body(req, PolicyDropSchema);
    await ctx.exclusive(() => ctx.run(`DROP POLICY ${quoteIdent(p.name)} ON ${quoteIdent(p.table)}`, [], auth));
    return new Response(null, { status: 204 });
  }
  throw new PlainError(405, "METHOD_NOT_ALLOWED", `${req.method} is not allowed on /policy`);
}
