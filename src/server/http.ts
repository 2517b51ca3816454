// `cave serve`'s HTTP layer on Bun.serve: routes (schema/api.ts API_ROUTES) → the lifecycle
// module and the API keys, with one error contract. Domain errors become statuses here and
// nowhere else; bodies are validated with the routes' valibot schemas (a bad field is a 400
// that names it).
//
// Every route that needs a key goes, in this order: the audit log must be writable (fail
// closed) → keys.authenticate → limiter.take (its RateLimit headers on every answer, 429 past
// the limit) → the body → the target (a sandbox's id or name resolved with boxes.get, so a
// name cannot dodge the check) → authorize → the handler. Each request has an id (the
// client's X-Request-Id when it is sane, else a new one) echoed in X-Request-Id and written
// with every audit line it causes; each gets a span (traceparent answered) and its metrics.
import * as v from "valibot";
import { API_ROUTES, type CreateSandboxBody, type Route } from "../../schema/api.ts";
import { type IssueKeyBody, parseLongDuration, type RotateKeyBody } from "../../schema/governance.ts";
import type { AuditEvent, Outcome } from "../audit/index.ts";
import { resolveRunSettings } from "../core/config.ts";
import { CaveError, isCaveError } from "../core/errors.ts";
import { parseDuration } from "../core/units.ts";
import type { KeyStore, Principal } from "../governance/keys.ts";
import { RateLimiter, rateLimited } from "../governance/ratelimit.ts";
import { authorize, namespaceForCreate, PERMISSIONS, type RouteName, visible } from "../governance/roles.ts";
import type { RequestObservation, Telemetry } from "../telemetry/index.ts";
import type { AuditSink } from "./audit.ts";
import type { Sandbox, Sandboxes } from "./sandboxes.ts";

type Params = { id?: string };
type RouteKey = keyof typeof API_ROUTES;

/** What a handler knows of its request besides the body, and what it tells the audit log. */
interface Ctx {
  principal: Principal;
  obs: RequestObservation | null;
  /** Set by the handler: what the audit line names as target, and its details. */
  target: string;
  details?: Record<string, unknown>;
}
type Handler = (req: Request, params: Params, body: unknown, ctx: Ctx) => Promise<Response>;

/** The audit action of each route that changes something; the others are covered by auth.login. */
const ACTIONS: Partial<Record<RouteKey, string>> = {
  create: "sandbox.create",
  start: "sandbox.start",
  stop: "sandbox.stop",
  delete: "sandbox.remove",
  exec: "sandbox.exec",
  putFile: "sandbox.copy",
  getFile: "sandbox.copy",
  "keys.issue": "key.issue",
  "keys.rotate": "key.rotate",
  "keys.revoke": "key.revoke",
};

const REQUEST_ID = /^[A-Za-z0-9][A-Za-z0-9._:-]{0,127}$/;
const requestIds = new WeakMap<Request, string>();

/** The request id the server gave `req` (the data API's audit lines use it). */
export function requestIdOf(req: Request): string | null {
  return requestIds.get(req) ?? null;
}

/** The client's X-Request-Id when it is 1–128 safe characters, else a new one. */
function requestIdFor(req: Request): string {
  const given = req.headers.get("x-request-id");
  if (given && REQUEST_ID.test(given)) return given;
  return `req_${Buffer.from(crypto.getRandomValues(new Uint8Array(12))).toString("hex")}`;
}

/** What an exec's audit line keeps of its command: argv[0] and the count, never the arguments (they may hold secrets). */
function argvDetails(argv: string[]): Record<string, unknown> {
  return { argv0: argv[0] ?? "", argc: argv.length };
}

/** CaveError codes → HTTP statuses; anything else is a 500. */
export function statusFor(code: string): number {
  if (code === "SANDBOX_NOT_FOUND" || code === "NOT_FOUND" || code === "SANDBOX_FILE_NOT_FOUND") return 404;
  if (code === "SANDBOX_FILE_TOO_LARGE") return 413;
  if (code === "SANDBOX_STATE" || code === "SANDBOX_EXISTS" || code === "SANDBOX_NOT_RUNNING") return 409;
  if (code.startsWith("AUTH_")) return 401;
  if (code === "SANDBOX_LIMIT" || code === "RATE_LIMITED") return 429;
  if (code === "FORBIDDEN") return 403;
  if (code === "KEY_NOT_FOUND") return 404;
  if (code === "KEY_STATE") return 409;
  if (code === "AUDIT_UNAVAILABLE") return 503;
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
  keys: KeyStore;
  /** Per-key rate limits (default: the roles' defaults). */
  limiter?: RateLimiter;
  /** Where audit events go (src/server/audit.ts's queue); none: not recorded. */
  audit?: AuditSink & { ready?(): void };
  /** Spans, metrics and GET /metrics; none: /metrics is 404. */
  telemetry?: Telemetry;
  /** Tried in order before the sandbox routes: the data API (src/server/data/) and the auth service's /auth/v1. */
  mounts?: Mounted[];
}

/** The route name telemetry and roles use for a path the route table does not hold. */
function mountName(path: string): string | undefined {
  if (path === "/metrics") return "metrics";
  if (path === "/query" || path === "/schema" || path === "/policy" || path === "/rest/v1" || path.startsWith("/rest/v1/")) return "data";
  if (path === "/auth/v1" || path.startsWith("/auth/v1/")) return "auth";
  return undefined;
}

/** The request handler (Bun.serve's fetch); tests call it in-process or through a real server. */
export function createApp({ boxes, keys, limiter = new RateLimiter(), audit, telemetry, mounts = [] }: AppOptions): (req: Request) => Promise<Response> {
  const ok = (s: Sandbox) => json(200, s);
  const handlers: Record<RouteKey, Handler> = {
    healthz: async () => json(200, { ok: true }),
    readyz: async () => {
      try {
        await boxes.db.query("SELECT 1");
        return json(200, { ok: true });
      } catch (e) {
        return json(503, { error: { code: "NOT_READY", message: `the database does not answer: ${(e as Error).message}` } });
      }
    },
    create: async (_req, _p, body, ctx) => {
      const b = body as CreateSandboxBody;
      const namespace = namespaceForCreate(ctx.principal, b.namespace);
      const { namespace: _ns, ...rest } = b;
      const s = await boxes.create(settingsOf(rest), b.name, namespace);
      ctx.target = s.id;
      ctx.details = { name: s.name, namespace: s.namespace };
      return json(201, s);
    },
    list: async (_req, _p, _b, ctx) =>
      json(
        200,
        (await boxes.list()).filter((s) => visible(ctx.principal, "list", { sandboxId: s.id, namespace: s.namespace })),
      ),
    get: async (_req, p) => {
      const s = await boxes.get(p.id as string);
      return json(200, { ...s, usage: await boxes.usage(s.id) });
    },
    start: async (_req, p, _b, ctx) => {
      const id = p.id as string;
      const phases: [string, number][] = [];
      const o = telemetry?.startSandbox("start", { parent: ctx.obs?.span ?? null, attributes: { "cave.sandbox.id": id } });
      try {
        const s = await boxes.start(id, { phases });
        o?.phases(phases);
        o?.end({});
        return ok(s);
      } catch (e) {
        o?.phases(phases);
        o?.end({ error: e });
        throw e;
      }
    },
    exec: async (req, p, body, ctx) => {
      const id = p.id as string;
      const b = body as v.InferOutput<typeof API_ROUTES.exec.body>;
      const timeoutMs = duration(b.timeout, "field timeout");
      const request = {
        argv: b.cmd,
        ...(b.env ? { env: b.env } : {}),
        ...(b.workdir !== undefined ? { workdir: b.workdir } : {}),
        ...(timeoutMs ? { timeoutMs } : {}),
        ...(b.stdin !== undefined ? { stdin: b.stdin } : {}),
      };
      ctx.details = argvDetails(b.cmd);
      const stream = new URL(req.url).searchParams.get("stream");
      if (stream !== null && stream !== "ndjson") throw new CaveError("BAD_REQUEST", `query parameter stream: only ndjson is supported, not ${JSON.stringify(stream)}`);
      /** The exec inside its span, with the setup phases as children and the counters of its outcome. */
      const observed = async (extra: { onOutput?: Parameters<typeof boxes.execCaptured>[1]["onOutput"] }) => {
        const phases: [string, number][] = [];
        const o = telemetry?.startSandbox("exec", { parent: ctx.obs?.span ?? null, attributes: { "cave.sandbox.id": id, "cave.exec.argv0": b.cmd[0] ?? "" } });
        try {
          const r = await boxes.execCaptured(id, { ...request, ...extra, phases });
          o?.phases(phases);
          o?.end({ reason: r.reason, exitCode: r.exitCode });
          return r;
        } catch (e) {
          o?.phases(phases);
          o?.end({ error: e });
          throw e;
        }
      };
      if (stream === null) {
        const r = await observed({});
        ctx.details = { ...ctx.details, exit_code: r.exitCode, reason: r.reason, execution_id: r.executionId };
        return json(200, r);
      }
      // The sandbox was looked up before the 200 goes out (the target), so an unknown id is still a 404.
      ctx.details = { ...ctx.details, stream: true };
      return ndjsonExec((onOutput) => observed({ onOutput }));
    },
    stop: async (_req, p, body) => {
      const b = body as v.InferOutput<typeof API_ROUTES.stop.body>;
      return ok(await boxes.stop(p.id as string, duration(b.grace, "field grace") ?? 10_000));
    },
    executions: async (req, p) => {
      const raw = new URL(req.url).searchParams.get("limit");
      const limit = raw === null ? 100 : Number(raw);
      if (!Number.isSafeInteger(limit) || limit < 1) throw new CaveError("BAD_REQUEST", `query parameter limit: a whole number of 1 or more, not ${JSON.stringify(raw)}`);
      return json(200, await boxes.executions(p.id as string, limit));
    },
    putFile: async (req, p, _b, ctx) => {
      const path = filePath(req);
      ctx.details = { direction: "in", path };
      await boxes.writeFile(p.id as string, path, new Uint8Array(await req.arrayBuffer()));
      return new Response(null, { status: 204 });
    },
    getFile: async (req, p, _b, ctx) => {
      const path = filePath(req);
      ctx.details = { direction: "out", path };
      const data = await boxes.readFile(p.id as string, path);
      return new Response(data, { status: 200, headers: { "content-type": "application/octet-stream" } });
    },
    delete: async (req, p) => {
      const force = new URL(req.url).searchParams.get("force");
      await boxes.rm(p.id as string, { force: force === "true" || force === "1" });
      return new Response(null, { status: 204 });
    },
    "keys.issue": async (_req, _p, body, ctx) => {
      const issued = await keys.issue(body as IssueKeyBody);
      ctx.target = issued.id;
      ctx.details = { role: issued.role, name: issued.name, namespace: issued.namespace, sandboxes: issued.sandboxes, expires_at: issued.expiresAt };
      return json(201, issued);
    },
    "keys.list": async () => json(200, await keys.list()),
    "keys.revoke": async (_req, p) => json(200, await keys.revoke(p.id as string)),
    "keys.rotate": async (_req, p, body, ctx) => {
      const b = body as RotateKeyBody;
      const grace = b.grace === undefined ? undefined : parseLongDuration(b.grace, true);
      if (typeof grace === "string") throw new CaveError("BAD_REQUEST", `field grace: ${grace}`);
      const r = await keys.rotate(p.id as string, grace === undefined ? {} : { graceMs: grace });
      ctx.details = { successor: r.id, grace_until: r.previous.expiresAt };
      return json(201, r);
    },
  };
  const table = Object.entries(API_ROUTES).map(([name, route]) => ({
    name: name as RouteKey,
    route: route as Route,
    pattern: new RegExp(`^${route.path.replace("{id}", "(?<id>[A-Za-z0-9_.-]+)")}$`),
  }));

  const record = (requestId: string, e: Omit<AuditEvent, "requestId">) => audit?.record({ ...e, requestId });

  /** keys.authenticate → the rate limit → the principal; each outcome audited. Rate-limit headers go into `headers`. */
  async function admit(req: Request, route: string, requestId: string, headers: Record<string, string>): Promise<Principal> {
    audit?.ready?.();
    let principal: Principal;
    try {
      principal = await keys.authenticate(req.headers.get("authorization"));
    } catch (e) {
      if (isCaveError(e) && e.code.startsWith("AUTH_")) {
        // The id in a cave_<id>_… token is safe to log (it is not the secret) and says which key failed.
        const claimed = /^Bearer cave_([0-9a-f]{12})_/.exec(req.headers.get("authorization") ?? "")?.[1];
        record(requestId, { actor: "anonymous", action: "auth.failure", target: route, outcome: "failure", reason: e.code, ...(claimed ? { details: { key_id: claimed } } : {}) });
      }
      throw e;
    }
    const d = limiter.take(principal);
    Object.assign(headers, d.headers);
    if (!d.allowed) {
      telemetry?.rateLimited(principal.role);
      record(requestId, { actor: principal.keyId, action: "auth.rate_limit", target: route, outcome: "denied", reason: "RATE_LIMITED", details: { role: principal.role, limit: d.limit } });
      throw rateLimited(d, principal.keyId);
    }
    record(requestId, { actor: principal.keyId, action: "auth.login", target: route, outcome: "success", details: { role: principal.role } });
    return principal;
  }

  /** authorize(), with a refusal audited under the route's action (or auth.forbidden). */
  function allow(principal: Principal, route: RouteKey | "metrics", requestId: string, target?: { sandboxId?: string; namespace?: string | null }): void {
    try {
      authorize(principal, route as RouteName, target);
    } catch (e) {
      if (isCaveError(e) && e.code === "FORBIDDEN") {
        const action = (ACTIONS as Record<string, string | undefined>)[route] ?? "auth.forbidden";
        record(requestId, { actor: principal.keyId, action, target: target?.sandboxId ?? route, outcome: "denied", reason: "FORBIDDEN", details: { route, role: principal.role } });
      }
      throw e;
    }
  }

  async function dispatch(req: Request, pathname: string, requestId: string, obs: RequestObservation | null, headers: Record<string, string>): Promise<Response> {
    for (const m of mounts) {
      const res = await m(req);
      if (res) return res;
    }
    if (pathname === "/metrics") {
      if (req.method !== "GET") throw new CaveError("METHOD_NOT_ALLOWED", `${req.method} is not allowed on /metrics`);
      const principal = await admit(req, "metrics", requestId, headers);
      allow(principal, "metrics", requestId);
      if (!telemetry) throw new CaveError("NOT_FOUND", "no metrics: telemetry is off");
      return telemetry.metricsResponse();
    }
    const matches = table.filter((t) => t.pattern.test(pathname));
    if (matches.length === 0) throw new CaveError("NOT_FOUND", `no route ${pathname}`);
    const hit = matches.find((t) => t.route.method === req.method);
    if (!hit) throw new CaveError("METHOD_NOT_ALLOWED", `${req.method} is not allowed on ${pathname}`);
    const params: Params = { ...(hit.pattern.exec(pathname)?.groups ?? {}) };
    if (!hit.route.auth) return handlers[hit.name](req, params, await readBody(req, hit.route), { principal: null as unknown as Principal, obs, target: "" });
    const principal = await admit(req, hit.name, requestId, headers);
    const body = await readBody(req, hit.route);
    const ctx: Ctx = { principal, obs, target: params.id ?? "" };
    const perm = PERMISSIONS[hit.name];
    if (perm.target === "sandbox") {
      // The id or name resolved first: the check and the handler act on the same sandbox id.
      const s = await boxes.get(params.id as string);
      allow(principal, hit.name, requestId, { sandboxId: s.id, namespace: s.namespace });
      params.id = s.id;
      ctx.target = s.id;
    } else if (perm.target !== "new-sandbox") {
      // create is checked by namespaceForCreate in its handler, with the namespace asked for.
      allow(principal, hit.name, requestId);
    }
    const action = ACTIONS[hit.name];
    let outcome: Outcome = "success";
    let reason: string | undefined;
    try {
      const res = await handlers[hit.name](req, params, body, ctx);
      if (res.status >= 400) outcome = "failure";
      return res;
    } catch (e) {
      const code = isCaveError(e) ? e.code : "INTERNAL";
      outcome = code === "FORBIDDEN" ? "denied" : "failure";
      reason = code;
      throw e;
    } finally {
      if (action) record(requestId, { actor: principal.keyId, action, target: ctx.target, outcome, ...(reason ? { reason } : {}), ...(ctx.details ? { details: ctx.details } : {}) });
    }
  }

  return async (req) => {
    const requestId = requestIdFor(req);
    requestIds.set(req, requestId);
    const { pathname } = new URL(req.url);
    const routeName = mountName(pathname) ?? table.find((t) => t.route.method === req.method && t.pattern.test(pathname))?.name;
    const obs = telemetry?.startRequest(req, routeName) ?? null;
    const headers: Record<string, string> = {};
    let res: Response;
    let error: unknown;
    try {
      res = await dispatch(req, pathname, requestId, obs, headers);
    } catch (e) {
      error = e;
      res = errorResponse(e);
    }
    for (const [k, val] of Object.entries(headers)) res.headers.set(k, val);
    res.headers.set("x-request-id", requestId);
    if (obs) {
      res.headers.set("traceparent", obs.span.traceparent());
      obs.end(res.status, error);
    }
    return res;
  };
}
