// Keys, roles and rate limits behind a real Bun.serve on port 0, wired the way docs/governance.md
// tells http.ts to wire them (authenticate → take → authorize → handler; the /v1/keys routes from
// schema/governance.ts), on a real libSQL file. The server here is small and local to the test
// because cave serve's own wiring comes later; everything it calls is the product's code.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import * as v from "valibot";
import { KEY_ROUTES, parseLongDuration } from "../../../schema/governance.ts";
import { CaveError, isCaveError } from "../../../src/core/errors.ts";
import { Engine } from "../../../src/db/engine.ts";
import { openStore } from "../../../src/db/store/index.ts";
import { KeyStore } from "../../../src/governance/keys.ts";
import { RateLimiter, rateLimited } from "../../../src/governance/ratelimit.ts";
import { authorize } from "../../../src/governance/roles.ts";

const STATUS: Record<string, number> = {
  FORBIDDEN: 403,
  RATE_LIMITED: 429,
  KEY_NOT_FOUND: 404,
  KEY_STATE: 409,
  BAD_REQUEST: 400,
};
const SESSION_LIMIT = 20;

interface Running {
  url: string;
  admin: string;
  stop(): Promise<void>;
}

/** A server with one sandbox route (`exec` on /v1/sandboxes/{id}/exec, answering 200) and the key routes. */
async function start(dbPath: string): Promise<Running> {
  const db = await Engine.open(openStore(dbPath));
  const keys = await KeyStore.open(db, { env: {} });
  const admin = (await keys.ensureAdmin()) ?? "";
  const limiter = new RateLimiter({ limits: { session: SESSION_LIMIT } });
  const sandboxes: Record<string, { namespace: string | null }> = {
    "0123456789ab": { namespace: "team-a" },
    ba9876543210: { namespace: null },
  };
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    async fetch(req) {
      let extra: Record<string, string> = {};
      try {
        const principal = await keys.authenticate(req.headers.get("authorization"));
        const decision = limiter.take(principal);
        extra = decision.headers;
        if (!decision.allowed) throw rateLimited(decision, principal.keyId);
        const { pathname } = new URL(req.url);
        const box = /^\/v1\/sandboxes\/([0-9a-f]{12})\/exec$/.exec(pathname);
        if (box && req.method === "POST") {
          const id = box[1] as string;
          const s = sandboxes[id];
          if (!s) throw new CaveError("SANDBOX_NOT_FOUND", `no sandbox ${id}`);
          authorize(principal, "exec", { sandboxId: id, namespace: s.namespace });
          return Response.json({ ok: true }, { headers: extra });
        }
        if (pathname === "/v1/keys" && req.method === "POST") {
          authorize(principal, "keys.issue");
          const body = v.parse(KEY_ROUTES["keys.issue"].body, await req.json());
          return Response.json(await keys.issue(body), { status: 201, headers: extra });
        }
        if (pathname === "/v1/keys" && req.method === "GET") {
          authorize(principal, "keys.list");
          return Response.json(await keys.list(), { headers: extra });
        }
        const one = /^\/v1\/keys\/([0-9a-f]{12})(\/rotate)?$/.exec(pathname);
        if (one && req.method === "DELETE" && !one[2]) {
          authorize(principal, "keys.revoke");
          return Response.json(await keys.revoke(one[1] as string), { headers: extra });
        }
        if (one && req.method === "POST" && one[2]) {
          authorize(principal, "keys.rotate");
          const body = v.parse(KEY_ROUTES["keys.rotate"].body, await req.json());
          const graceMs = body.grace === undefined ? undefined : (parseLongDuration(body.grace, true) as number);
          return Response.json(await keys.rotate(one[1] as string, graceMs === undefined ? {} : { graceMs }), {
            status: 201,
            headers: extra,
          });
        }
        throw new CaveError("NOT_FOUND", `no route ${pathname}`);
      } catch (e) {
        const code = isCaveError(e) ? e.code : "INTERNAL";
        const status = code.startsWith("AUTH_") ? 401 : code.endsWith("NOT_FOUND") ? 404 : (STATUS[code] ?? 500);
        return Response.json({ error: { code, message: (e as Error).message } }, { status, headers: extra });
      }
    },
  });
  return {
    url: `http://127.0.0.1:${server.port}`,
    admin,
    async stop() {
      await server.stop(true);
      db.close();
    },
  };
}

let dir: string;
let server: Running;
const call = (path: string, key: string, init: RequestInit = {}) =>
  fetch(`${server.url}${path}`, {
    ...init,
    headers: { authorization: `Bearer ${key}`, "content-type": "application/json" },
  });

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "cave-keys-http-"));
  server = await start(join(dir, "cave.db"));
});
afterAll(async () => {
  await server.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("keys, roles and limits over HTTP", () => {
  test("POST /v1/keys answers 201 with the secret in `key`; the new key works at once and sees only its scope", async () => {
    const res = await call("/v1/keys", server.admin, {
      method: "POST",
      body: JSON.stringify({ role: "session", name: "agent-1", sandboxes: ["0123456789ab"] }),
    });
    expect(res.status).toBe(201);
    const issued = (await res.json()) as { key: string; id: string; role: string; name: string; sandboxes: string[] };
    expect([issued.role, issued.name, issued.sandboxes]).toEqual(["session", "agent-1", ["0123456789ab"]]);
    expect(issued.key).toStartWith(`cave_${issued.id}_`);

    expect((await call("/v1/sandboxes/0123456789ab/exec", issued.key, { method: "POST" })).status).toBe(200);
    const other = await call("/v1/sandboxes/ba9876543210/exec", issued.key, { method: "POST" });
    expect([other.status, ((await other.json()) as { error: { code: string } }).error.code]).toEqual([
      403,
      "FORBIDDEN",
    ]);
    const escalate = await call("/v1/keys", issued.key, { method: "POST", body: JSON.stringify({ role: "admin" }) });
    expect([escalate.status, ((await escalate.json()) as { error: { message: string } }).error.message]).toEqual([
      403,
      `API key ${issued.id} (role session) may not call keys.issue: the session role does not allow it`,
    ]);
    // The listing shows the key, never a secret.
    const listed = await (await call("/v1/keys", server.admin)).text();
    expect(listed).toContain(issued.id);
    expect(listed).not.toContain(issued.key);
  });

  test(`200 clients in parallel on one session key (limit ${SESSION_LIMIT}/min) get exactly ${SESSION_LIMIT} answers and 429s with Retry-After and RateLimit fields`, async () => {
    const issued = (await (
      await call("/v1/keys", server.admin, {
        method: "POST",
        body: JSON.stringify({ role: "session", sandboxes: ["0123456789ab"] }),
      })
    ).json()) as { key: string };
    const responses = await Promise.all(
      Array.from({ length: 200 }, () => call("/v1/sandboxes/0123456789ab/exec", issued.key, { method: "POST" })),
    );
    const statuses = responses.map((r) => r.status);
    expect(statuses.filter((s) => s === 200).length).toBe(SESSION_LIMIT);
    expect(statuses.filter((s) => s === 429).length).toBe(200 - SESSION_LIMIT);
    const refused = responses.find((r) => r.status === 429) as Response;
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(59);
    expect(refused.headers.get("ratelimit-policy")).toBe(`"session";q=${SESSION_LIMIT};w=60`);
    expect(refused.headers.get("ratelimit")).toMatch(/^"session";r=0;t=(59|60)$/);
    expect(((await refused.json()) as { error: { code: string } }).error.code).toBe("RATE_LIMITED");
    const remaining = responses
      .filter((r) => r.status === 200)
      .map((r) => Number(/r=(\d+)/.exec(r.headers.get("ratelimit") ?? "")?.[1]));
    expect(remaining.sort((a, b) => a - b)).toEqual(Array.from({ length: SESSION_LIMIT }, (_, i) => i));
    // Another key is not slowed by this one.
    expect((await call("/v1/keys", server.admin)).status).toBe(200);
  });

  test("revoked and rotated-past-grace keys are refused with 401 and their codes; the state survives a restart of the server", async () => {
    const mk = async () =>
      (await (
        await call("/v1/keys", server.admin, {
          method: "POST",
          body: JSON.stringify({ role: "namespace", namespace: "team-a" }),
        })
      ).json()) as { key: string; id: string };
    const a = await mk();
    const b = await mk();
    expect((await call(`/v1/keys/${a.id}`, server.admin, { method: "DELETE" })).status).toBe(200);
    const rotated = (await (
      await call(`/v1/keys/${b.id}/rotate`, server.admin, { method: "POST", body: JSON.stringify({ grace: 0 }) })
    ).json()) as { key: string; previous: { status: string } };
    expect(rotated.previous.status).toBe("expired");

    await server.stop();
    server = await start(join(dir, "cave.db"));
    expect(server.admin).toBe(""); // no second admin key on a restart
    const codeOf = async (key: string) => {
      const r = await call("/v1/sandboxes/0123456789ab/exec", key, { method: "POST" });
      return [r.status, r.status === 200 ? "ok" : ((await r.json()) as { error: { code: string } }).error.code];
    };
    expect(await codeOf(a.key)).toEqual([401, "AUTH_KEY_REVOKED"]);
    expect(await codeOf(b.key)).toEqual([401, "AUTH_KEY_EXPIRED"]);
    expect(await codeOf(rotated.key)).toEqual([200, "ok"]);
  });
});
