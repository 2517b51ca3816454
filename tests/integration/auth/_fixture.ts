// One auth service per test: a temp data directory with a real libSQL file, and its /auth/v1
// handler on a real Bun.serve at port 0. Requests carry the anon key as the apikey unless told.
import { afterEach, beforeEach } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { AuthService, type AuthServiceOptions, createAuthHandler } from "../../../src/auth/service.ts";

export interface AuthFixture {
  dir: string;
  service: AuthService;
  url: string;
  /** A request to /auth/v1<path> with the anon key (or `apikey`, null for none). */
  call(
    method: string,
    path: string,
    opts?: { body?: unknown; bearer?: string; apikey?: string | null; raw?: string },
  ): Promise<{ status: number; body: unknown; headers: Headers }>;
}

export function tempDir(): string {
  return mkdtempSync(join(tmpdir(), "cave-auth-"));
}

/** Opens a service per test (options from `options()`), serves it, and tears both down after. */
export function useAuth(options: () => Partial<AuthServiceOptions> = () => ({})): AuthFixture {
  const fx = {} as AuthFixture;
  let server: ReturnType<typeof Bun.serve> | undefined;
  beforeEach(async () => {
    fx.dir = tempDir();
    fx.service = await AuthService.open({ dataDir: fx.dir, env: {}, ...options() });
    const handle = createAuthHandler(fx.service);
    server = Bun.serve({
      port: 0,
      hostname: "127.0.0.1",
      fetch: async (req) => (await handle(req)) ?? new Response("not an auth path", { status: 418 }),
    });
    fx.url = `http://127.0.0.1:${server.port}`;
    fx.call = async (method, path, opts = {}) => {
      const headers: Record<string, string> = {};
      const apikey = opts.apikey === undefined ? fx.service.apiKeys.anon : opts.apikey;
      if (apikey !== null) headers.apikey = apikey;
      if (opts.bearer !== undefined) headers.authorization = `Bearer ${opts.bearer}`;
      let body: string | undefined;
      if (opts.raw !== undefined) body = opts.raw;
      else if (opts.body !== undefined) body = JSON.stringify(opts.body);
      if (body !== undefined) headers["content-type"] = "application/json";
      const res = await fetch(`${fx.url}/auth/v1${path}`, { method, headers, ...(body !== undefined ? { body } : {}) });
      const text = await res.text();
      return { status: res.status, body: text === "" ? null : JSON.parse(text), headers: res.headers };
    };
  });
  afterEach(() => {
    server?.stop(true);
    fx.service.close();
    rmSync(fx.dir, { recursive: true, force: true });
  });
  return fx;
}

/** A signed-up user's session answer. */
export async function signUp(
  fx: AuthFixture,
  email = "ada@example.com",
  password = "correct horse",
): Promise<{ access_token: string; refresh_token: string; user: { id: string; email: string } }> {
  const r = await fx.call("POST", "/signup", { body: { email, password } });
  if (r.status !== 200) throw new Error(`signup answered ${r.status}: ${JSON.stringify(r.body)}`);
  return r.body as never;
}
