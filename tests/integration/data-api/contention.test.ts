// Writers on the server's several connections at once: POST /query transactions (libsql's
// thread pool), REST writes, sign-ups (the auth service's connection). A connection that finds
// the write lock taken must wait on timers, not in SQLite's busy handler on the event loop: the
// holder's COMMIT is JavaScript's to send. Before that fix this mix stalled for 5 s at a time
// and sign-ups failed with 500 (measured: 40 s for 60 rounds). A real cave serve, in-process.
import { afterAll, beforeAll, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { readApiKeys } from "../../../src/auth/service.ts";
import { type Running, serve } from "../../../src/server/serve.ts";

let dir: string;
let server: Running;
let anon: string;
let service: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "cave-contention-"));
  server = await serve({
    host: "127.0.0.1",
    port: 0,
    dataDir: dir,
    env: { ...process.env, CAVE_ADMIN_KEY: "contention-admin-key-0123456789" },
    config: { auth: { rate_limit_sign_in: 1000 } },
  });
  ({ anon, service_role: service } = await readApiKeys({ dataDir: dir }));
});
afterAll(async () => {
  await server?.stop();
  rmSync(dir, { recursive: true, force: true });
});

const post = (path: string, token: string, body: unknown, prefer?: string) =>
  fetch(`${server.url}${path}`, {
    method: "POST",
    headers: {
      apikey: anon,
      authorization: `Bearer ${token}`,
      "content-type": "application/json",
      ...(prefer ? { prefer } : {}),
    },
    body: JSON.stringify(body),
  });

test("query transactions, REST writes and sign-ups at once all succeed, without stalls", async () => {
  const setup = await post("/query", service, {
    sql: "CREATE TABLE items (id bigserial PRIMARY KEY, owner uuid DEFAULT auth.uid(), title text); ALTER TABLE items ENABLE ROW LEVEL SECURITY; CREATE POLICY own ON items FOR ALL TO authenticated USING (owner = auth.uid()) WITH CHECK (owner = auth.uid())",
  });
  expect(setup.status).toBe(200);
  const su = (await (
    await post("/auth/v1/signup", anon, { email: "u@example.com", password: "correct horse" })
  ).json()) as {
    access_token: string;
  };
  const t0 = performance.now();
  const jobs: Promise<Response>[] = [];
  const ROUNDS = 60;
  for (let i = 0; i < ROUNDS; i++) {
    jobs.push(
      post("/query", su.access_token, {
        sql: "BEGIN; INSERT INTO items (title) VALUES ('q1'); INSERT INTO items (title) VALUES ('q2'); COMMIT",
      }),
    );
    jobs.push(post("/rest/v1/items", su.access_token, { title: `r${i}` }, "return=representation"));
    if (i % 3 === 0)
      jobs.push(post("/auth/v1/signup", anon, { email: `p${i}@example.com`, password: "correct horse" }));
  }
  const statuses = await Promise.all(jobs.map(async (p) => (await p).status));
  const took = performance.now() - t0;
  expect(statuses.filter((s) => s >= 300)).toEqual([]);
  // one busy-timeout stall alone would be 5 s
  expect(took).toBeLessThan(4000);
  const count = (await (await post("/query", service, { sql: "SELECT count(*) FROM items" })).json()) as {
    rows: number[][];
  };
  expect(count.rows).toEqual([[ROUNDS * 3]]);
}, 60_000);
