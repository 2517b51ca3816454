// The operator's side, through the real CLI (bun src/cli/main.ts): `cave db keys` prints keys
// that the auth service accepts, the same ones each time; and a user signed up while
// confirmation is on is confirmed with SQL on cave_auth_users, as docs/auth.md says.
import { describe, expect, test } from "bun:test";
import { readFileSync, rmSync, writeFileSync } from "node:fs";
import { join, resolve } from "node:path";
import { decodeProtectedHeader, importJWK, jwtVerify } from "jose";
import { AuthService } from "../../../src/auth/service.ts";
import { tempDir } from "./_fixture.ts";

const MAIN = resolve(import.meta.dir, "../../../src/cli/main.ts");

/** The CLI run from `cwd` (a test's temp dir: no ./cave.yaml but the test's own). */
async function cave(cwd: string, args: string[], env: Record<string, string> = {}) {
  const proc = Bun.spawn([process.execPath, MAIN, ...args], {
    stdout: "pipe",
    stderr: "pipe",
    cwd,
    env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: "/tmp", ...env },
  });
  const [stdout, stderr, exitCode] = await Promise.all([
    new Response(proc.stdout).text(),
    new Response(proc.stderr).text(),
    proc.exited,
  ]);
  return { exitCode, stdout, stderr };
}

function withDir(fn: (dir: string) => Promise<void>): () => Promise<void> {
  return async () => {
    const dir = tempDir();
    try {
      await fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

describe("cave db keys", () => {
  test(
    "--json prints the API URL and keys signed with the data directory's secret, the same on every run",
    withDir(async (dir) => {
      const r = await cave(dir, ["db", "keys", "--json", "--data-dir", dir]);
      expect([r.exitCode, r.stderr]).toEqual([0, ""]);
      const out = JSON.parse(r.stdout) as Record<string, string>;
      expect(Object.keys(out)).toEqual(["api_url", "anon_key", "service_role_key"]);
      expect(out.api_url).toBe("http://127.0.0.1:8080");
      const secret = new TextEncoder().encode(readFileSync(join(dir, "auth", "jwt-secret"), "utf8").trim());
      expect((await jwtVerify(out.anon_key as string, secret, { algorithms: ["HS256"] })).payload.role).toBe("anon");
      expect((await jwtVerify(out.service_role_key as string, secret, { algorithms: ["HS256"] })).payload.role).toBe(
        "service_role",
      );

      const again = await cave(dir, [
        "db",
        "keys",
        "--json",
        "--data-dir",
        dir,
        "--api-url",
        "https://db.example.com/",
      ]);
      expect(again.exitCode).toBe(0);
      expect(JSON.parse(again.stdout)).toEqual({ ...out, api_url: "https://db.example.com" });

      // The server started on that data directory accepts them.
      const service = await AuthService.open({ dataDir: dir, env: {} });
      try {
        expect(service.apiKeys).toEqual({ anon: out.anon_key as string, service_role: out.service_role_key as string });
        expect((await service.authenticate({ apikey: out.anon_key as string, authorization: null })).role).toBe("anon");
      } finally {
        service.close();
      }
    }),
  );

  test(
    "without --json it prints them for people, and cave.yaml's auth section picks ES256",
    withDir(async (dir) => {
      const config = join(dir, "cave.yaml");
      writeFileSync(config, `db:\n  data_dir: ${dir}\nauth:\n  jwt_algorithm: ES256\n`);
      const r = await cave(dir, ["db", "keys", "--config", config]);
      expect([r.exitCode, r.stderr]).toEqual([0, ""]);
      const lines = r.stdout.split("\n");
      expect(lines[0]).toBe("API URL:          http://127.0.0.1:8080");
      const anon = /^anon key: +(\S+)$/.exec(lines[1] ?? "")?.[1] as string;
      expect(decodeProtectedHeader(anon).alg).toBe("ES256");
      const jwk = JSON.parse(readFileSync(join(dir, "auth", "jwt-es256.jwk.json"), "utf8"));
      const { d: _d, ...pub } = jwk;
      expect((await jwtVerify(anon, await importJWK(pub, "ES256"))).payload.role).toBe("anon");
      expect(r.stdout).toContain("service-role key bypasses row-level security");
    }),
  );

  test(
    "a CAVE_JWT_SECRET under 32 characters fails with the reason and the fix",
    withDir(async (dir) => {
      const r = await cave(dir, ["db", "keys", "--data-dir", dir], { CAVE_JWT_SECRET: "too-short" });
      expect(r.exitCode).not.toBe(0);
      expect(r.stdout).toBe("");
      expect(r.stderr).toContain("CAVE_JWT_SECRET has 9 characters; a JWT secret needs at least 32");
      expect(r.stderr).toContain("openssl rand -base64 32");
    }),
  );
});

test(
  "with confirm_email on, the operator confirms a user with SQL on cave_auth_users and the login then works",
  withDir(async (dir) => {
    const service = await AuthService.open({ dataDir: dir, config: { confirm_email: true }, env: {} });
    try {
      await service.signUp({ email: "ada@example.com", password: "correct horse" });
      const login = () => service.signInWithPassword({ email: "ada@example.com", password: "correct horse" });
      await expect(login()).rejects.toMatchObject({ errorCode: "email_not_confirmed" });
      const r = await cave(dir, [
        "db",
        "query",
        "--data-dir",
        dir,
        "UPDATE cave_auth_users SET email_confirmed_at = now() WHERE email = 'ada@example.com'",
      ]);
      expect([r.exitCode, r.stdout, r.stderr]).toEqual([0, "UPDATE 1\n", ""]);
      expect((await login()).user.email_confirmed_at).toMatch(/^\d{4}-\d\d-\d\dT/);
    } finally {
      service.close();
    }
  }),
);
