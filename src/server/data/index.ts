// The data API of `cave serve`: /rest/v1 (PostgREST), POST /query, GET /schema and /policy.
// It authenticates each request through the auth service (apikey header, Authorization:
// Bearer) and runs every statement on its own engine connection with the caller's role.
import { createHash } from "node:crypto";
import type { AuditEvent } from "../../audit/index.ts";
import type { AuthContext, RequestAuth } from "../../auth/types.ts";
import { DataContext, type DataEngine } from "./context.ts";
import { handlePolicy, handleQuery, handleSchema, PlainError, plainErrorResponse } from "./plain.ts";
import { handleRest } from "./rest/handler.ts";

export { DataContext, type DataEngine } from "./context.ts";

const CORS: Record<string, string> = {
  "access-control-allow-origin": "*",
  "access-control-allow-methods": "GET, HEAD, POST, PATCH, DELETE, OPTIONS",
  "access-control-allow-headers":
    "apikey, authorization, content-type, prefer, range, accept, accept-profile, content-profile, x-client-info",
  "access-control-expose-headers": "content-range, preference-applied",
  "access-control-max-age": "86400",
};

/** The auth service's refusal (an AuthError with its AuthFailure), or null for anything else. */
function authFailure(e: unknown): { code: string; message: string } | null {
  const failure = (e as { failure?: unknown } | null)?.failure;
  if (typeof failure === "string") return { code: failure, message: (e as Error).message };
  return null;
}

function unauthorized(code: string, message: string, rest: boolean): Response {
  const body = rest ? { code, message, details: null, hint: null } : { error: { code, message } };
  return new Response(JSON.stringify(body), {
    status: 401,
    headers: {
      "content-type": "application/json",
      "www-authenticate": `Bearer realm="cave", error="invalid_token"`,
      ...CORS,
    },
  });
}

function withCors(res: Response): Response {
  for (const [k, val] of Object.entries(CORS)) if (!res.headers.has(k)) res.headers.set(k, val);
  return res;
}

export interface DataApiOptions {
  engine: DataEngine;
  /** POST /query's engine (default `engine`): cave serve's runs statements off the event loop with a timeout. */
  queryEngine?: DataEngine;
  auth: RequestAuth;
  /** Told of refused credentials, policy changes and DDL through /query (cave serve's audit log). */
  audit?: (req: Request, event: Omit<AuditEvent, "requestId">) => void;
  /** Roles that may use POST /query (cave.yaml db.query_roles); default every role. */
  queryRoles?: readonly string[];
  /** The most rows one REST read answers (cave.yaml db.max_rows); null: no cap. Default 1000. */
  maxRows?: number | null;
}

/** Supabase's default for PostgREST's db-max-rows. */
export const DEFAULT_MAX_ROWS = 1000;

/** Who the audit log names for a data-API caller: the user's id, else the role. */
function actorOf(auth: AuthContext): string {
  return typeof auth.claims.sub === "string" && auth.claims.sub !== ""
    ? `user:${auth.claims.sub}`
    : `role:${auth.role}`;
}

/** Statements that change the schema or the grants (audited when /query runs them). */
const DDL = /(?:^|;)\s*(create|alter|drop|truncate|grant|revoke|comment\s+on)\b/gi;

/** The handler: a Response for the data API's paths, null for any other path. */
export function createDataApi(opts: DataApiOptions): {
  handle: (req: Request) => Promise<Response | null>;
  context: DataContext;
} {
  const ctx = new DataContext(opts.engine, opts.auth, opts.queryEngine ?? opts.engine, opts.maxRows === undefined ? DEFAULT_MAX_ROWS : opts.maxRows);
  const handle = async (req: Request): Promise<Response | null> => {
    const url = new URL(req.url);
    const path = url.pathname;
    const rest = path.startsWith("/rest/v1/") ? path.slice("/rest/v1/".length) : path === "/rest/v1" ? "" : null;
    const plain = path === "/query" || path === "/schema" || path === "/policy";
    if (rest === null && !plain) return null;
    if (req.method === "OPTIONS") return new Response(null, { status: 204, headers: CORS });
    let auth: AuthContext;
    try {
      auth = await ctx.authenticate(req);
    } catch (e) {
      const f = authFailure(e);
      if (f) {
        opts.audit?.(req, {
          actor: "anonymous",
          action: "auth.failure",
          target: path,
          outcome: "failure",
          reason: f.code,
          details: { api: "data" },
        });
        return unauthorized(f.code, f.message, rest !== null);
      }
      return withCors(plainErrorResponse(e, null));
    }
    if (rest !== null) return withCors(await handleRest(ctx, req, url, rest, auth));
    try {
      if (path === "/query") {
        if (req.method !== "POST") return methodNotAllowed(req.method, path);
        if (opts.queryRoles && !opts.queryRoles.includes(auth.role)) {
          return withCors(
            plainErrorResponse(
              new PlainError(403, "FORBIDDEN", `POST /query is not open to the role ${auth.role} on this server`, {
                hint: `it is open to ${opts.queryRoles.join(", ") || "no role"} (cave.yaml db.query_roles); use /rest/v1`,
              }),
              auth,
            ),
          );
        }
        if (!opts.audit) return withCors(await handleQuery(ctx, req, auth));
        // The SQL is read here for the audit line and handed on unchanged.
        const sql = await req.text();
        const res = await handleQuery(
          ctx,
          new Request(req.url, { method: "POST", headers: req.headers, body: sql }),
          auth,
        );
        auditDdl(req, sql, auth, res.status);
        return withCors(res);
      }
      if (path === "/schema") {
        if (req.method !== "GET") return methodNotAllowed(req.method, path);
        return withCors(await handleSchema(ctx, auth));
      }
      if (req.method === "GET" || !opts.audit) return withCors(await handlePolicy(ctx, req, url, auth));
      let res: Response;
      try {
        res = await handlePolicy(ctx, req, url, auth);
      } catch (e) {
        res = plainErrorResponse(e, auth);
      }
      const action = req.method === "POST" ? "policy.create" : req.method === "DELETE" ? "policy.drop" : null;
      if (action) {
        const outcome = res.status < 400 ? "success" : res.status === 401 || res.status === 403 ? "denied" : "failure";
        const target = url.searchParams.get("table") ?? "";
        opts.audit(req, {
          actor: actorOf(auth),
          action,
          target,
          outcome,
          ...(outcome !== "success" ? { reason: `HTTP_${res.status}` } : {}),
          details: { role: auth.role },
        });
      }
      return withCors(res);
    } catch (e) {
      return withCors(plainErrorResponse(e, auth));
    }
  };
  /** A /query whose SQL holds DDL: its kinds and the SQL's digest (not the text: it may hold literals). */
  const auditDdl = (req: Request, raw: string, auth: AuthContext, status: number) => {
    let sql = "";
    try {
      const b = JSON.parse(raw) as { sql?: unknown };
      if (typeof b.sql === "string") sql = b.sql;
    } catch {
      return;
    }
    const kinds = [...sql.matchAll(DDL)].map((m) => (m[1] as string).toUpperCase().replace(/\s+/g, " "));
    if (kinds.length === 0) return;
    const outcome = status < 400 ? "success" : status === 401 || status === 403 ? "denied" : "failure";
    opts.audit?.(req, {
      actor: actorOf(auth),
      action: "schema.change",
      target: "",
      outcome,
      ...(outcome !== "success" ? { reason: `HTTP_${status}` } : {}),
      details: { role: auth.role, statements: kinds, sql_sha256: createHash("sha256").update(sql).digest("hex") },
    });
  };
  return { handle, context: ctx };
}

function methodNotAllowed(method: string, path: string): Response {
  return new Response(
    JSON.stringify({ error: { code: "METHOD_NOT_ALLOWED", message: `${method} is not allowed on ${path}` } }),
    {
      status: 405,
      headers: { "content-type": "application/json", ...CORS },
    },
  );
}
