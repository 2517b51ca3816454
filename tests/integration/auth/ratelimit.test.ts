// Password guessing is limited per client address before any password is checked: sign-ups and
// password logins share auth.rate_limit_sign_in per 5 minutes, refresh grants have their own
// limit. A real Bun.serve; the client's address comes from the socket (server.requestIP), and
// in the second test from a test-only header so that two addresses can be told apart on loopback.
import { afterEach, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AuthService, createAuthHandler } from "../../../src/auth/service.ts";

const open: { dir: string; service: AuthService; server: ReturnType<typeof Bun.serve> }[] = [];
afterEach(() => {
  for (const o of open.splice(0)) {
    o.server.stop(true);
    o.service.close();
    rmSync(o.dir, { recursive: true, force: true });
  }
});

async function serve(address: "socket" | "header", clock?: () => number) {
  const dir = mkdtempSync(join(tmpdir(), "cave-auth-rl-"));
  const service = await AuthService.open({
    dataDir: dir,
    env: {},
    config: { rate_limit_sign_in: 3, rate_limit_token_refresh: 2 },
  });
  const clients = new WeakMap<Request, string>();
  const handle = createAuthHandler(service, {
    clientAddress: (req) => (address === "header" ? req.headers.get("x-test-client") : (clients.get(req) ?? null)),
    ...(clock ? { now: clock } : {}),
  });
  const server = Bun.serve({
    port: 0,
    hostname: "127.0.0.1",
    fetch: async (req, srv) => {
      const peer = srv.requestIP(req)?.address;
      if (peer) clients.set(req, peer);
      return (await handle(req)) ?? new Response("not an auth path", { status: 418 });
    },
  });
  open.push({ dir, service, server });
  const call = async (path: string, body: unknown, client = "") => {
    const res = await fetch(`http://127.0.0.1:${server.port}/auth/v1${path}`, {
      method: "POST",
      headers: { apikey: service.apiKeys.anon, "content-type": "application/json", "x-test-client": client },
      body: JSON.stringify(body),
    });
    return { status: res.status, body: (await res.json()) as Record<string, unknown>, headers: res.headers };
  };
  return { call };
}

describe("sign-in limits per client address", () => {
  test("sign-ups and logins share the limit; the next is 429 over_request_rate_limit with Retry-After, even with the right password", async () => {
    const { call } = await serve("socket");
    const password = "correct horse battery";
    expect((await call("/signup", { email: "a@example.com", password })).status).toBe(200);
    expect((await call("/token?grant_type=password", { email: "a@example.com", password: "wrong" })).status).toBe(400);
    expect((await call("/token?grant_type=password", { email: "a@example.com", password })).status).toBe(200);
    const refused = await call("/token?grant_type=password", { email: "a@example.com", password });
    expect(refused.status).toBe(429);
    expect(refused.body).toEqual({
      code: 429,
      error_code: "over_request_rate_limit",
      msg: "Request rate limit reached",
    });
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(refused.headers.get("ratelimit-policy")).toBe('"sign_in";q=3;w=300');
    expect((await call("/signup", { email: "b@example.com", password })).status).toBe(429);
  });

  test("each address has its own count, refresh grants their own limit, and the window frees them again", async () => {
    let now = 0;
    const { call } = await serve("header", () => now);
    const password = "correct horse battery";
    const first = await call("/signup", { email: "c@example.com", password }, "10.0.0.1");
    for (let i = 0; i < 2; i++)
      expect((await call("/token?grant_type=password", { email: "c@example.com", password }, "10.0.0.1")).status).toBe(
        200,
      );
    expect((await call("/token?grant_type=password", { email: "c@example.com", password }, "10.0.0.1")).status).toBe(
      429,
    );
    expect((await call("/token?grant_type=password", { email: "c@example.com", password }, "10.0.0.2")).status).toBe(
      200,
    );
    // refresh: 2 per window, counted apart from sign-ins
    let token = first.body.refresh_token as string;
    for (let i = 0; i < 2; i++) {
      const r = await call("/token?grant_type=refresh_token", { refresh_token: token }, "10.0.0.1");
      expect(r.status).toBe(200);
      token = r.body.refresh_token as string;
    }
    expect((await call("/token?grant_type=refresh_token", { refresh_token: token }, "10.0.0.1")).status).toBe(429);
    now += 5 * 60_000 + 1;
    expect((await call("/token?grant_type=password", { email: "c@example.com", password }, "10.0.0.1")).status).toBe(
      200,
    );
    expect((await call("/token?grant_type=refresh_token", { refresh_token: token }, "10.0.0.1")).status).toBe(200);
  });
});
