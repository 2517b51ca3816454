// Escape attempts against the data API of a real `cave serve` (in-process, port 0, a real
// libSQL file, the real auth service and keys): SQL injection through every part of a
// PostgREST URL, reaching cave's own tables, switching roles or claims from SQL, smuggling
// statements through /query, forged and altered JWTs, and writing rows as someone else.
// Each attempt must fail, and the other user's rows must be unchanged afterwards.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { SignJWT } from "jose";
import { readApiKeys } from "../../src/auth/service.ts";
import { type Running, serve } from "../../src/server/serve.ts";
import { CAVE_CMD } from "../helpers/serve.ts";

let dir: string;
let server: Running;
let anon: string;
let service: string;
const users: Record<"alice" | "bob", { id: string; token: string }> = {} as never;

// biome-ignore lint/suspicious/noExplicitAny: answers are checked field by field
type Json = any;

async function call(
  path: string,
  init: { method?: string; token?: string; body?: unknown; headers?: Record<string, string> } = {},
) {
  const res = await fetch(`${server.url}${path}`, {
    method: init.method ?? "GET",
    headers: {
      apikey: anon,
      ...(init.token ? { authorization: `Bearer ${init.token}` } : {}),
      ...(init.body !== undefined ? { "content-type": "application/json" } : {}),
      ...init.headers,
    },
    ...(init.body !== undefined ? { body: JSON.stringify(init.body) } : {}),
  });
  const text = await res.text();
  let body: Json = text;
  try {
    body = JSON.parse(text);
  } catch {
    // not JSON: kept as text
  }
  return { status: res.status, body };
}

const sql = (token: string, query: string, params: unknown[] = []) =>
  call("/query", { method: "POST", token, body: { sql: query, params } });

/** Bob's notes as the owner of the database sees them: what every attempt must leave alone. */
async function bobsNotes(): Promise<Json> {
  return (await sql(service, "SELECT id, body FROM notes WHERE owner = $1 ORDER BY id", [users.bob.id])).body.rows;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "cave-sec-data-"));
  const env = { ...process.env, CAVE_ADMIN_KEY: "sec-admin-key-0123456789abcdef" };
  server = await serve({
    host: "127.0.0.1",
    port: 0,
    dataDir: dir,
    env,
    config: { db: { statement_timeout: "400ms" } },
  });
  ({ anon, service_role: service } = await readApiKeys({ dataDir: dir }));
  for (const name of ["alice", "bob"] as const) {
    const r = await call("/auth/v1/signup", {
      method: "POST",
      body: { email: `${name}@example.com`, password: "correct horse battery" },
    });
    expect(r.status).toBe(200);
    users[name] = { id: r.body.user.id, token: r.body.access_token };
  }
  for (const stmt of [
    "CREATE TABLE notes (id bigserial PRIMARY KEY, owner uuid NOT NULL DEFAULT auth.uid(), body text NOT NULL)",
    "ALTER TABLE notes ENABLE ROW LEVEL SECURITY",
    "CREATE POLICY own ON notes FOR ALL TO authenticated USING (owner = auth.uid()) WITH CHECK (owner = auth.uid())",
  ]) {
    const r = await sql(service, stmt);
    expect(r.status).toBe(200);
  }
  for (const name of ["alice", "bob"] as const) {
    const r = await call("/rest/v1/notes", {
      method: "POST",
      token: users[name].token,
      body: [{ body: `${name} 1` }, { body: `${name} 2` }],
    });
    expect(r.status).toBe(201);
  }
});

afterAll(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("SQL injection through a PostgREST URL", () => {
  test("a filter value is a bound value: a quote-and-OR payload matches nothing", async () => {
    const r = await call(`/rest/v1/notes?body=eq.${encodeURIComponent("x' OR '1'='1")}`, { token: users.alice.token });
    expect([r.status, r.body]).toEqual([200, []]);
    const like = await call(`/rest/v1/notes?body=like.${encodeURIComponent("%' OR owner IS NOT NULL --")}`, {
      token: users.alice.token,
    });
    expect([like.status, like.body]).toEqual([200, []]);
  });

  test("a column list, an order and a filter column cannot carry SQL: 400s naming the part, and nothing runs", async () => {
    const attempts = [
      `select=${encodeURIComponent("id,body FROM cave_auth_users --")}`,
      `select=${encodeURIComponent('"id"" FROM cave_auth_users --"')}`,
      `order=${encodeURIComponent("id; DROP TABLE notes")}`,
      `${encodeURIComponent("owner = owner OR 1")}=eq.1`,
      `select=${encodeURIComponent("*,cave_auth_users(*)")}`,
    ];
    for (const q of attempts) {
      const r = await call(`/rest/v1/notes?${q}`, { token: users.alice.token });
      expect({ q, status: r.status >= 400 && r.status < 500 }).toEqual({ q, status: true });
      expect(JSON.stringify(r.body)).not.toContain("encrypted_password");
    }
    expect(await bobsNotes()).toHaveLength(2);
  });
});

describe("cave's own tables", () => {
  test("are not reachable through /rest/v1, not even with the service-role key", async () => {
    for (const table of ["cave_auth_users", "cave_api_keys", "cave_auth_refresh_tokens", "cave_sandboxes"]) {
      for (const token of [users.alice.token, service]) {
        const r = await call(`/rest/v1/${table}?select=*`, { token });
        expect({ table, ok: r.status >= 400 }).toEqual({ table, ok: true });
      }
    }
  });

  test("are refused to /query for a user and for the service role: 42501", async () => {
    for (const token of [users.alice.token, service]) {
      const r = await sql(token, "SELECT email, encrypted_password FROM cave_auth_users");
      expect([r.status, r.body.error?.sqlstate]).toEqual([403, "42501"]);
      const sub = await sql(token, "SELECT (SELECT count(*) FROM cave_api_keys) AS n");
      expect(sub.body.error?.sqlstate).toBe("42501");
    }
  });

  test("are not listed by GET /schema, which shows the policies as they were written", async () => {
    const r = await call("/schema", { token: service });
    expect(r.status).toBe(200);
    expect(JSON.stringify(r.body)).not.toContain("cave_");
    const notes = r.body.tables.find((t: Json) => t.name === "notes");
    // defaults as written, not as SQLite stores them
    expect(notes.columns.map((c: Json) => [c.name, c.default])).toEqual([
      ["id", null],
      ["owner", "auth.uid()"],
      ["body", null],
    ]);
    expect(notes.policies).toEqual([
      {
        name: "own",
        command: "all",
        roles: ["authenticated"],
        permissive: true,
        using: "owner = auth.uid()",
        check: "owner = auth.uid()",
      },
    ]);
  });
});

describe("changing who one is from SQL", () => {
  test("RLS cannot be turned off, policies cannot be dropped or added, and roles cannot be switched by a user", async () => {
    for (const stmt of [
      "ALTER TABLE notes DISABLE ROW LEVEL SECURITY",
      "DROP POLICY own ON notes",
      "CREATE POLICY everyone ON notes FOR SELECT USING (true)",
      "DROP TABLE notes",
      "CREATE TABLE mine (x int)",
    ]) {
      const r = await sql(users.alice.token, stmt);
      expect({ stmt, sqlstate: r.body.error?.sqlstate }).toEqual({ stmt, sqlstate: "42501" });
    }
    for (const stmt of [
      "SET ROLE service_role",
      "SET LOCAL ROLE postgres",
      "SET SESSION AUTHORIZATION postgres",
      'SET request.jwt.claims = \'{"sub":"x"}\'',
      "RESET ROLE",
    ]) {
      const r = await sql(users.alice.token, stmt);
      expect({ stmt, status: r.status, sqlstate: r.body.error?.sqlstate }).toEqual({
        stmt,
        status: 403,
        sqlstate: "42501",
      });
    }
    const after = await call("/rest/v1/notes?select=body", { token: users.alice.token });
    expect(after.body).toEqual([{ body: "alice 1" }, { body: "alice 2" }]);
  });

  test("set_config of the claims and auth.* in a query do not widen what a user sees", async () => {
    const r = await sql(users.alice.token, "SELECT set_config('request.jwt.claims', $1, false)", [
      JSON.stringify({ sub: users.bob.id, role: "service_role" }),
    ]);
    expect(r.status).toBe(400);
    const mine = await sql(users.alice.token, "SELECT body FROM notes WHERE owner = $1 OR owner <> auth.uid()", [
      users.bob.id,
    ]);
    expect([mine.status, mine.body.rows]).toEqual([200, []]);
  });

  test("statements smuggled after a harmless one run as the caller too: Bob's rows survive Alice's DELETE", async () => {
    const r = await sql(users.alice.token, "SELECT 1; DELETE FROM notes; UPDATE notes SET owner = auth.uid()");
    expect(r.status).toBe(200);
    expect(await bobsNotes()).toEqual([
      [3, "bob 1"],
      [4, "bob 2"],
    ]);
    // Alice deleted her own two: put them back for the next tests
    const back = await call("/rest/v1/notes", {
      method: "POST",
      token: users.alice.token,
      body: [{ body: "alice 1" }, { body: "alice 2" }],
    });
    expect(back.status).toBe(201);
  });
});

describe("hanging the server", () => {
  test("a query that never ends is cancelled at db.statement_timeout (57014), and the server answers others meanwhile", async () => {
    const forever = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT count(*) FROM r";
    const t0 = performance.now();
    let hungAt = 0;
    const [hung, health] = await Promise.all([
      sql(users.alice.token, forever).then((r) => {
        hungAt = performance.now() - t0;
        return r;
      }),
      // sent while the runaway statement runs: it runs off the event loop, so this is answered
      // before the statement is cancelled (an order, not a time: CI machines are slow by turns)
      Bun.sleep(100).then(async () => {
        const r = await fetch(`${server.url}/healthz`);
        return { status: r.status, at: performance.now() - t0 };
      }),
    ]);
    expect([hung.status, hung.body.error?.sqlstate, hung.body.error?.message]).toEqual([
      400,
      "57014",
      "canceling statement due to statement timeout",
    ]);
    // ran until the timeout (400ms) and no longer than a slow machine needs to notice it
    expect(hungAt).toBeGreaterThanOrEqual(400);
    expect(hungAt).toBeLessThan(10_000);
    expect({ health: health.status, answeredFirst: health.at < hungAt }).toEqual({ health: 200, answeredFirst: true });
    // the same for a join that multiplies rows past any useful size, and for a write fed by one
    const product = await sql(
      users.alice.token,
      `SELECT count(*) FROM ${Array.from({ length: 24 }, (_, i) => `notes n${i}`).join(", ")}`,
    );
    expect([product.status, product.body.error?.sqlstate]).toEqual([400, "57014"]);
    const endless = "WITH RECURSIVE r(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM r) SELECT n FROM r";
    const write = await sql(
      users.alice.token,
      `INSERT INTO notes (body) SELECT 'x' FROM (${endless}) AS s WHERE s.n < 0`,
    );
    expect([write.status, write.body.error?.sqlstate]).toEqual([400, "57014"]);
    const after = await call("/rest/v1/notes?select=body&order=id", { token: users.alice.token });
    expect([after.status, after.body.length]).toEqual([200, 2]);
  });
});

describe("a policy changed by another connection", () => {
  const aliceBodies = async () => {
    const r = await call("/rest/v1/notes?select=body&order=id", { token: users.alice.token });
    expect(r.status).toBe(200);
    return (r.body as { body: string }[]).map((n) => n.body);
  };

  test("narrowed through /query (its own connection), it applies to REST's very next request, and dropped, no longer", async () => {
    // REST's connection has planned this read under the old policies
    expect(await aliceBodies()).toEqual(["alice 1", "alice 2"]);
    const narrow = await sql(service, "CREATE POLICY hide_first ON notes AS RESTRICTIVE FOR SELECT TO authenticated USING (body <> 'alice 1')");
    expect(narrow.status).toBe(200);
    expect(await aliceBodies()).toEqual(["alice 2"]);
    expect((await sql(service, "DROP POLICY hide_first ON notes")).status).toBe(200);
    expect(await aliceBodies()).toEqual(["alice 1", "alice 2"]);
  });

  test("narrowed by `cave db query` in another process while the server runs, it applies to the next request", async () => {
    expect(await aliceBodies()).toEqual(["alice 1", "alice 2"]);
    const cli = (statement: string) => {
      const r = Bun.spawnSync([...CAVE_CMD, "db", "query", statement, "--data-dir", dir], { env: { PATH: process.env.PATH ?? "/usr/bin:/bin", HOME: "/tmp" } });
      expect([r.exitCode, r.stderr.toString()]).toEqual([0, ""]);
    };
    cli("CREATE POLICY hide_second ON notes AS RESTRICTIVE FOR SELECT TO authenticated USING (body <> 'alice 2')");
    expect(await aliceBodies()).toEqual(["alice 1"]);
    // /query's connection sees it too
    const viaSql = await sql(users.alice.token, "SELECT body FROM notes ORDER BY id");
    expect([viaSql.status, viaSql.body.rows]).toEqual([200, [["alice 1"]]]);
    cli("DROP POLICY hide_second ON notes");
    expect(await aliceBodies()).toEqual(["alice 1", "alice 2"]);
  });
});

describe("writing as someone else", () => {
  test("an insert naming Bob as the owner, and a patch moving a row to Bob, are 403 42501 and change nothing", async () => {
    const ins = await call("/rest/v1/notes", {
      method: "POST",
      token: users.alice.token,
      body: { owner: users.bob.id, body: "planted" },
    });
    expect([ins.status, ins.body.code]).toEqual([403, "42501"]);
    const mine = await call("/rest/v1/notes?select=id&limit=1", { token: users.alice.token });
    const id = mine.body[0].id;
    const move = await call(`/rest/v1/notes?id=eq.${id}`, {
      method: "PATCH",
      token: users.alice.token,
      body: { owner: users.bob.id },
    });
    expect([move.status, move.body.code]).toEqual([403, "42501"]);
    const theirs = await call(`/rest/v1/notes?id=eq.3`, {
      method: "PATCH",
      token: users.alice.token,
      body: { body: "defaced" },
      headers: { prefer: "return=representation" },
    });
    expect([theirs.status, theirs.body]).toEqual([200, []]);
    const del = await call(`/rest/v1/notes?id=eq.4`, {
      method: "DELETE",
      token: users.alice.token,
      headers: { prefer: "return=representation" },
    });
    expect([del.status, del.body]).toEqual([200, []]);
    expect(await bobsNotes()).toEqual([
      [3, "bob 1"],
      [4, "bob 2"],
    ]);
  });

  test("the anon key alone reads nothing of a table whose policies name only authenticated", async () => {
    const r = await call("/rest/v1/notes?select=*");
    expect([r.status, r.body]).toEqual([200, []]);
  });
});

describe("forged and altered tokens", () => {
  const secret = () => new TextEncoder().encode(readFileSync(join(dir, "auth", "jwt-secret"), "utf8").trim());
  const claims = () => ({ sub: users.bob.id, role: "service_role", aud: "authenticated" });

  test("a service_role token signed with another key, alg none, or Alice's token with its payload changed: 401", async () => {
    const wrongKey = await new SignJWT(claims())
      .setProtectedHeader({ alg: "HS256" })
      .setIssuedAt()
      .setExpirationTime("1h")
      .sign(new TextEncoder().encode("an attacker's guess at the secret, 32+ chars"));
    const header = Buffer.from(JSON.stringify({ alg: "none", typ: "JWT" })).toString("base64url");
    const payload = Buffer.from(JSON.stringify({ ...claims(), exp: Math.floor(Date.now() / 1000) + 3600 })).toString(
      "base64url",
    );
    const none = `${header}.${payload}.`;
    const [h, , s] = users.alice.token.split(".");
    const altered = `${h}.${payload}.${s}`;
    for (const token of [wrongKey, none, altered]) {
      const r = await call("/rest/v1/notes?select=*", { token });
      expect(r.status).toBe(401);
      expect(JSON.stringify(r.body)).not.toContain("bob");
    }
  });

  test("a correctly signed token for a role cave does not know (postgres) is 401, not the owner", async () => {
    const token = await new SignJWT({ sub: users.bob.id, role: "postgres" })
      .setProtectedHeader({ alg: "HS256" })
      .setIssuedAt()
      .setExpirationTime("1h")
      .sign(secret());
    const r = await call("/rest/v1/notes?select=*", { token });
    expect(r.status).toBe(401);
  });

  test("an expired token is 401 expired_jwt", async () => {
    const token = await new SignJWT({ sub: users.alice.id, role: "authenticated", aud: "authenticated" })
      .setProtectedHeader({ alg: "HS256" })
      .setIssuedAt(Math.floor(Date.now() / 1000) - 7200)
      .setExpirationTime(Math.floor(Date.now() / 1000) - 3600)
      .sign(secret());
    const r = await call("/rest/v1/notes?select=*", { token });
    expect(r.status).toBe(401);
    expect(JSON.stringify(r.body)).toContain("expired");
  });
});

describe("a server that keeps /query for the service role (cave.yaml db.query_roles)", () => {
  test("a user's SQL is refused with 403 and a hint, while REST stays open and the service role keeps /query", async () => {
    const own = mkdtempSync(join(tmpdir(), "cave-sec-data-q-"));
    const srv = await serve({
      host: "127.0.0.1",
      port: 0,
      dataDir: own,
      env: { ...process.env, CAVE_ADMIN_KEY: "sec-admin-key-0123456789abcdef" },
      config: { db: { query_roles: ["service_role"] } },
    });
    try {
      const keys = await readApiKeys({ dataDir: own });
      const post = (path: string, token: string, body: unknown) =>
        fetch(`${srv.url}${path}`, {
          method: "POST",
          headers: { apikey: keys.anon, authorization: `Bearer ${token}`, "content-type": "application/json" },
          body: JSON.stringify(body),
        });
      const signup = (await (
        await post("/auth/v1/signup", keys.anon, { email: "q@example.com", password: "correct horse battery" })
      ).json()) as Json;
      const setup = await post("/query", keys.service_role, {
        sql: "CREATE TABLE t (id bigserial PRIMARY KEY, owner uuid NOT NULL DEFAULT auth.uid()); ALTER TABLE t ENABLE ROW LEVEL SECURITY; CREATE POLICY own ON t FOR ALL TO authenticated USING (owner = auth.uid()) WITH CHECK (owner = auth.uid())",
      });
      expect(setup.status).toBe(200);
      const refused = await post("/query", signup.access_token, { sql: "SELECT 1" });
      const body = (await refused.json()) as Json;
      expect([refused.status, body.error.code]).toEqual([403, "FORBIDDEN"]);
      expect(body.error.message).toBe("POST /query is not open to the role authenticated on this server");
      expect((await post("/query", keys.anon, { sql: "SELECT 1" })).status).toBe(403);
      expect((await post("/rest/v1/t", signup.access_token, {})).status).toBe(201);
    } finally {
      await srv.stop();
      rmSync(own, { recursive: true, force: true });
    }
  });
});
