// The data API of `cave serve`: /rest/v1 (PostgREST), POST /query, GET /schema and /policy.
// It authenticates each request through the auth service (apikey header, Authorization:
// Bearer) and runs every statement on its own engine connection with the caller's role.
import type { AuthContext, RequestAuth } from "../../auth/types.ts";
import { DataContext, type DataEngine } from "./context.ts";
import { handlePolicy, handleQuery, handleSchema, plainErrorResponse } from "./plain.ts";
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
  auth: RequestAuth;
}

/** The handler: a Response for the data API's paths, null for any other path. */
export function createDataApi(opts: DataApiOptions): {
  handle: (req: Request) => Promise<Response | null>;
  context: DataContext;
} {
  const ctx = new DataContext(opts.engine, opts.auth);
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
      if (f) return unauthorized(f.code, f.message, rest !== null);
      return withCors(plainErrorResponse(e, null));
    }
    if (rest !== null) return withCors(await handleRest(ctx, req, url, rest, auth));
    try {
      if (path === "/query") {
        if (req.method !== "POST") return methodNotAllowed(req.method, path);
        return withCors(await handleQuery(ctx, req, auth));
      }
      if (path === "/schema") {
        if (req.method !== "GET") return methodNotAllowed(req.method, path);
        return withCors(await handleSchema(ctx, auth));
      }
      return withCors(await handlePolicy(ctx, req, url, auth));
    } catch (e) {
      return withCors(plainErrorResponse(e, auth));
    }
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
