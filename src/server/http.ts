// `cave serve`'s HTTP layer on Bun.serve: routes (schema/api.ts) → the lifecycle module, with
// bearer auth and one error contract. Domain errors become statuses here and nowhere else;
// bodies are validated with the routes' valibot schemas (a bad field is a 400 that names it).
import * as v from "valibot";
import { type CreateSandboxBody, ROUTES, type Route } from "../../schema/api.ts";
import { resolveRunSettings } from "../core/config.ts";
import { CaveError, isCaveError } from "../core/errors.ts";
import { parseDuration } from "../core/units.ts";
import { authorized, type Keys } from "./auth.ts";
import type { Sandbox, Sandboxes } from "./sandboxes.ts";

type Params = { id?: string };
type Handler = (req: Request, params: Params, body: unknown) => Promise<Response>;

/** CaveError codes → HTTP statuses; anything else is a 500. */
export function statusFor(code: string): number {
  if (code === "SANDBOX_NOT_FOUND" || code === "NOT_FOUND" || code === "SANDBOX_FILE_NOT_FOUND") return 404;
  if (code === "SANDBOX_FILE_TOO_LARGE") return 413;
  if (code === "SANDBOX_STATE" || code === "SANDBOX_EXISTS" || code === "SANDBOX_NOT_RUNNING") return 409;
  if (code.startsWith("AUTH_")) return 401;
  if (code === "SANDBOX_LIMIT") return 429;
  if (code === "USAGE" || code === "BAD_REQUEST" || code.startsWith("CONFIG_")) return 400;
  if (code === "METHOD_NOT_ALLOWED") return 405;
  return 500;
}

function json(status: number, body: unknown): Response {
  return new Response(JSON.stringify(body, (_k, val) => (val === Number.POSITIVE_INFINITY ? null : val)), {
    status,
    headers: { "content-type": "application/json" },
  });
}

export function errorResponse(e: unknown): Response {
  if (isCaveError(e)) {
    const res = json(statusFor(e.code), { error: { code: e.code, message: e.hint ? `${e.message} (${e.hint})` : e.message } });
    if (res.status === 401) res.headers.set("www-authenticate", 'Bearer realm="cave"');
    return res;
  }
  return json(500, { error: { code: "INTERNAL", message: e instanceof Error ? e.message : String(e) } });
}

const duration = (x: string | number | undefined, what: string): number | undefined => {
  if (x === undefined) return undefined;
  if (x === 0 || x === "0") return 0;
  try {
    return parseDuration(x);
  } catch (e) {
    throw new CaveError("BAD_REQUEST", `${what}: ${(e as Error).message}`);
  }
};
const text = (x: string | number | undefined) => (x === undefined ? undefined : String(x));

function settingsOf(b: CreateSandboxBody) {
  try {
    return resolveRunSettings({
      flags: {
        timeout: text(b.timeout),
        memory: text(b.memory),
        cpus: text(b.cpus),
        pids: text(b.pids),
        disk: text(b.disk),
        network: b.network,
        seccomp: b.seccomp,
        hostname: b.hostname,
        workdir: b.workdir,
        env: b.env ? Object.entries(b.env).map(([k, val]) => `${k}=${val}`) : undefined,
      },
    });
  } catch (e) {
    if (isCaveError(e) && e.code === "USAGE") throw new CaveError("BAD_REQUEST", e.message, e.hint ? { hint: e.hint } : {});
    throw e;
  }
}

async function readBody(req: Request, route: Route): Promise<unknown> {
  if (!route.body) return undefined;
  const raw = await req.text();
  let data: unknown = {};
  if (raw.trim() !== "") {
    try {
      data = JSON.parse(raw);
    } catch {
      throw new CaveError("BAD_REQUEST", "the body is not valid JSON");
    }
  }
  const r = v.safeParse(route.body, data);
  if (!r.success) {
    const issue = r.issues[0];
    const field = issue ? v.getDotPath(issue) : null;
    throw new CaveError("BAD_REQUEST", `${field ? `field ${field}` : "body"}: ${issue?.message ?? "invalid"}`);
  }
  return r.output;
}

/**
 * An exec streamed as NDJSON: `{"type":"stdout"|"stderr","data":"…"}` lines as output comes
 * (UTF-8 decoded per stream, a character split across chunks kept whole), then one
 * `{"type":"exit", exitCode, signal, reason, durationMs, message?, executionId}` line, or
 * `{"type":"error","error":{code,message}}` if the exec could not run.
 */
function ndjsonExec(run: (onOutput: (s: "stdout" | "stderr", chunk: Uint8Array) => void) => Promise<{ stdout: string; stderr: string }>): Response {
  const enc = new TextEncoder();
  const decoders = { stdout: new TextDecoder(), stderr: new TextDecoder() };
  let gone = false;
  const body = new ReadableStream<Uint8Array>({
    start(controller) {
      // A client that hangs up mid-stream must not break the exec (or the server): its lines
      // are dropped from then on, and the command runs to its end or its timeout.
      const line = (o: unknown) => {
        if (gone) return;
        try {
          controller.enqueue(enc.encode(`${JSON.stringify(o)}\n`));
        } catch {
          gone = true;
        }
      };
      run((s, chunk) => {
        const data = decoders[s].decode(chunk, { stream: true });
        if (data) line({ type: s, data });
      })
        .then((r) => {
          for (const s of ["stdout", "stderr"] as const) {
            const rest = decoders[s].decode();
            if (rest) line({ type: s, data: rest });
          }
          const { stdout: _o, stderr: _e, ...result } = r;
          line({ type: "exit", ...result });
        })
        .catch((e) => {
          const err = isCaveError(e) ? { code: e.code, message: e.message } : { code: "INTERNAL", message: String(e) };
          line({ type: "error", error: err });
        })
        .finally(() => {
          if (gone) return;
          try {
            controller.close();
          } catch {
            // cancelled meanwhile
          }
        });
    },
    cancel() {
      gone = true;
    },
  });
  return new Response(body, { status: 200, headers: { "content-type": "application/x-ndjson" } });
}

function filePath(req: Request): string {
  const path = new URL(req.url).searchParams.get("path");
  if (!path) throw new CaveError("BAD_REQUEST", "query parameter path is required (an absolute path inside the sandbox)");
  if (!path.startsWith("/")) throw new CaveError("BAD_REQUEST", `query parameter path must be absolute: ${JSON.stringify(path)}`);
  return path;
}

/** A handler that answers its own paths and returns null for the rest (the data API, /auth/v1). */
export type Mounted = (req: Request) => Promise<Response | null>;

export interface AppOptions {
  boxes: Sandboxes;
  keys: Keys;
  /** Tried in order before the sandbox routes: the data API (src/server/data/) and the auth service's /auth/v1. */
  mounts?: Mounted[];
}

/** The request handler (Bun.serve's fetch); tests call it in-process or through a real server. */
export function createApp({ boxes, keys, mounts = [] }: AppOptions): (req: Request) => Promise<Response> {
  const ok = (s: Sandbox) => json(200, s);
  const handlers: Record<keyof typeof ROUTES, Handler> = {
    healthz: async () => json(200, { ok: true }),
    readyz: async () => {
      try {
        await boxes.db.query("SELECT 1");
        return json(200, { ok: true });
      } catch (e) {
        return json(503, { error: { code: "NOT_READY", message: `the database does not answer: ${(e as Error).message}` } });
      }
    },
    create: async (_req, _p, body) => {
      const b = body as CreateSandboxBody;
      return json(201, await boxes.create(settingsOf(b), b.name));
    },
    list: async () => json(200, await boxes.list()),
    get: async (_req, p) => {
      const s = await boxes.get(p.id as string);
      return json(200, { ...s, usage: await boxes.usage(s.id) });
    },
    start: async (_req, p) => ok(await boxes.start(p.id as string)),
    exec: async (req, p, body) => {
      const b = body as v.InferOutput<typeof ROUTES.exec.body>;
      const timeoutMs = duration(b.timeout, "field timeout");
      const request = {
        argv: b.cmd,
        ...(b.env ? { env: b.env } : {}),
        ...(b.workdir !== undefined ? { workdir: b.workdir } : {}),
        ...(timeoutMs ? { timeoutMs } : {}),
        ...(b.stdin !== undefined ? { stdin: b.stdin } : {}),
      };
      const stream = new URL(req.url).searchParams.get("stream");
      if (stream === null) return json(200, await boxes.execCaptured(p.id as string, request));
      if (stream !== "ndjson") throw new CaveError("BAD_REQUEST", `query parameter stream: only ndjson is supported, not ${JSON.stringify(stream)}`);
      // The sandbox is looked up before the 200 goes out, so an unknown id is still a 404.
      await boxes.get(p.id as string);
      return ndjsonExec((onOutput) => boxes.execCaptured(p.id as string, { ...request, onOutput }));
    },
    stop: async (_req, p, body) => {
      const b = body as v.InferOutput<typeof ROUTES.stop.body>;
      return ok(await boxes.stop(p.id as string, duration(b.grace, "field grace") ?? 10_000));
    },
    executions: async (req, p) => {
      const raw = new URL(req.url).searchParams.get("limit");
      const limit = raw === null ? 100 : Number(raw);
      if (!Number.isSafeInteger(limit) || limit < 1) throw new CaveError("BAD_REQUEST", `query parameter limit: a whole number of 1 or more, not ${JSON.stringify(raw)}`);
      return json(200, await boxes.executions(p.id as string, limit));
    },
    putFile: async (req, p) => {
      await boxes.writeFile(p.id as string, filePath(req), new Uint8Array(await req.arrayBuffer()));
      return new Response(null, { status: 204 });
    },
    getFile: async (req, p) => {
      const data = await boxes.readFile(p.id as string, filePath(req));
      return new Response(data, { status: 200, headers: { "content-type": "application/octet-stream" } });
    },
    delete: async (req, p) => {
      const force = new URL(req.url).searchParams.get("force");
      await boxes.rm(p.id as string, { force: force === "true" || force === "1" });
      return new Response(null, { status: 204 });
    },
  };
  const table = Object.entries(ROUTES).map(([name, route]) => ({
    name: name as keyof typeof ROUTES,
    route: route as Route,
    pattern: new RegExp(`^${route.path.replace("{id}", "(?<id>[A-Za-z0-9_.-]+)")}$`),
  }));

  return async (req) => {
    try {
      for (const m of mounts) {
        const res = await m(req);
        if (res) return res;
      }
      const { pathname } = new URL(req.url);
      const matches = table.filter((t) => t.pattern.test(pathname));
      if (matches.length === 0) throw new CaveError("NOT_FOUND", `no route ${pathname}`);
      const hit = matches.find((t) => t.route.method === req.method);
      if (!hit) throw new CaveError("METHOD_NOT_ALLOWED", `${req.method} is not allowed on ${pathname}`);
      if (hit.route.auth && !authorized(req.headers.get("authorization"), keys)) {
        throw new CaveError("AUTH_REQUIRED", "a valid API key is required", { hint: "send Authorization: Bearer <key>" });
      }
      const params: Params = { ...(hit.pattern.exec(pathname)?.groups ?? {}) };
      const body = await readBody(req, hit.route);
      return await handlers[hit.name](req, params, body);
    } catch (e) {
      return errorResponse(e);
    }
  };
}
