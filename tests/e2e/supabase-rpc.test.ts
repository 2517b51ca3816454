// supabase.rpc() through the unmodified @supabase/supabase-js client against a real
// `cave serve --port 0`: SQL functions made by the service role through /query, called by two
// signed-in users. A function is SECURITY INVOKER, so the todos policy applies inside its body:
// each user sees only their own rows through it, and anon sees none.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient, type SupabaseClient } from "@supabase/supabase-js";
import { type Served, startServe } from "../helpers/serve.ts";

const noSession = { auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false } };

let dir: string;
let served: Served;
let url: string;
let anonKey: string;
let serviceKey: string;

async function sql(key: string, text: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${url}/query`, {
    method: "POST",
    headers: { apikey: key, authorization: `Bearer ${key}`, "content-type": "application/json" },
    body: JSON.stringify({ sql: text }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

async function signedIn(email: string): Promise<SupabaseClient> {
  const c = createClient(url, anonKey, noSession);
  const up = await c.auth.signUp({ email, password: `${email}-password` });
  expect(up.error).toBeNull();
  return c;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "cave-supabase-rpc-"));
  served = await startServe(dir);
  ({ url, anonKey, serviceKey } = served);
});

afterAll(async () => {
  await served?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("supabase.rpc() against cave serve", () => {
  let alice: SupabaseClient;
  let bob: SupabaseClient;

  test("the service role makes a table with an owner policy and four functions through /query", async () => {
    for (const s of [
      "CREATE TABLE todos (id bigserial PRIMARY KEY, title text NOT NULL, done boolean NOT NULL DEFAULT false, owner uuid NOT NULL DEFAULT auth.uid())",
      "ALTER TABLE todos ENABLE ROW LEVEL SECURITY",
      "CREATE POLICY own ON todos FOR ALL TO authenticated USING (owner = auth.uid()) WITH CHECK (owner = auth.uid())",
      "CREATE FUNCTION my_todos(pattern text DEFAULT '%') RETURNS SETOF todos LANGUAGE sql STABLE AS $$ SELECT * FROM todos WHERE title LIKE pattern $$",
      "CREATE FUNCTION open_count() RETURNS bigint LANGUAGE sql STABLE AS $$ SELECT count(*) FROM todos WHERE NOT done $$",
      "CREATE FUNCTION add_todo(title text) RETURNS todos LANGUAGE sql AS $$ INSERT INTO todos (title) VALUES (title) RETURNING * $$",
      "CREATE FUNCTION add(a int, b int) RETURNS int LANGUAGE sql IMMUTABLE AS $$ SELECT a + b $$",
    ]) {
      const r = await sql(serviceKey, s);
      expect([s, r.status]).toEqual([s, 200]);
    }
    alice = await signedIn("alice@example.com");
    bob = await signedIn("bob@example.com");
  });

  test("a scalar function answers its value; arguments are bound by name", async () => {
    const r = await alice.rpc("add", { a: 2, b: 40 });
    expect([r.status, r.data, r.error]).toEqual([200, 42, null]);
  });

  test("a function that writes inserts as the caller, under the policy's WITH CHECK, and answers the row", async () => {
    const a1 = await alice.rpc("add_todo", { title: "alice: milk" });
    expect(a1.error).toBeNull();
    expect((a1.data as { title: string }).title).toBe("alice: milk");
    expect((await alice.rpc("add_todo", { title: "alice: bread" })).error).toBeNull();
    expect((await bob.rpc("add_todo", { title: "bob: tea" })).error).toBeNull();
  });

  test("each user sees only their own rows through a SETOF function (the policy applies inside its body)", async () => {
    const a = await alice.rpc("my_todos").order("id");
    expect(a.error).toBeNull();
    expect((a.data as { title: string }[]).map((t) => t.title)).toEqual(["alice: milk", "alice: bread"]);
    const b = await bob.rpc("my_todos");
    expect((b.data as { title: string }[]).map((t) => t.title)).toEqual(["bob: tea"]);
    expect((await alice.rpc("open_count")).data).toBe(2);
    expect((await bob.rpc("open_count")).data).toBe(1);
    const anon = await createClient(url, anonKey, noSession).rpc("my_todos");
    expect([anon.status, anon.data]).toEqual([200, []]);
  });

  test("select, filters, order, limit and single() apply to a function's rows as to a table's", async () => {
    const r = await alice
      .rpc("my_todos", { pattern: "alice%" })
      .select("title")
      .order("title", { ascending: false })
      .limit(1);
    expect([r.status, r.data]).toEqual([200, [{ title: "alice: milk" }]]);
    const one = await alice.rpc("my_todos").eq("title", "alice: bread").single();
    expect((one.data as { title: string }).title).toBe("alice: bread");
    const none = await bob.rpc("my_todos").eq("title", "alice: bread").single();
    expect([none.status, none.error?.code]).toEqual([406, "PGRST116"]);
  });

  test("GET calls a STABLE function with arguments in the query string", async () => {
    const r = await alice.rpc("my_todos", { pattern: "%bread" }, { get: true });
    expect([r.status, (r.data as { title: string }[]).map((t) => t.title)]).toEqual([200, ["alice: bread"]]);
    const v = await alice.rpc("add_todo", { title: "x" }, { get: true });
    expect(v.status).toBe(405);
  });

  test("an unknown function or argument is 404 PGRST202; a user may not create functions (42501)", async () => {
    const u = await alice.rpc("nope", { a: 1 });
    expect([u.status, u.error?.code]).toEqual([404, "PGRST202"]);
    const arg = await alice.rpc("add", { a: 1, c: 2 });
    expect([arg.status, arg.error?.code]).toEqual([404, "PGRST202"]);
    const token = (await alice.auth.getSession()).data.session?.access_token as string;
    const res = await fetch(`${url}/query`, {
      method: "POST",
      headers: { apikey: anonKey, authorization: `Bearer ${token}`, "content-type": "application/json" },
      body: JSON.stringify({ sql: "CREATE FUNCTION mine() RETURNS int LANGUAGE sql AS $$ SELECT 1 $$" }),
    });
    expect(res.status).toBe(403);
    expect(((await res.json()) as { error: { sqlstate: string } }).error.sqlstate).toBe("42501");
  });
});
