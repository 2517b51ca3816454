// The unmodified @supabase/supabase-js client against a real `cave serve --port 0`: sign-up,
// login, refresh, CRUD with filters, order, range, count, single, upsert and embedding under
// row-level-security policies (owner-only todos, team membership), one user unable to see or
// change another's rows through REST and through /query, anon refused, the service role
// seeing everything. The server is `bun src/cli/main.ts` (always the current sources; a
// dist/cave left from an older build would test old code), or $CAVE_BIN when set.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient, type SupabaseClient } from "@supabase/supabase-js";
import { type Served, startServe } from "../helpers/serve.ts";

let dir: string;
let served: Served;
let url: string;
let anonKey: string;
let serviceKey: string;
const noSession = { auth: { persistSession: false, autoRefreshToken: false, detectSessionInUrl: false } };

async function sql(
  key: string,
  text: string,
  params: unknown[] = [],
  bearer = key,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${url}/query`, {
    method: "POST",
    headers: { apikey: key, authorization: `Bearer ${bearer}`, "content-type": "application/json" },
    body: JSON.stringify({ sql: text, params }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), "cave-supabase-"));
  served = await startServe(dir);
  ({ url, anonKey, serviceKey } = served);
});

afterAll(async () => {
  await served?.stop();
  rmSync(dir, { recursive: true, force: true });
});

describe("supabase-js against cave serve", () => {
  let service: SupabaseClient;
  let alice: SupabaseClient;
  let bob: SupabaseClient;
  let aliceId: string;
  let bobId: string;
  let aliceToken: string;

  test("a request without an apikey is 401 missing_apikey; a bad token is 401 invalid_jwt", async () => {
    const res = await fetch(`${url}/rest/v1/anything`);
    expect(res.status).toBe(401);
    expect(((await res.json()) as { code: string }).code).toBe("missing_apikey");
    const bad = await fetch(`${url}/rest/v1/anything`, {
      headers: { apikey: anonKey, authorization: "Bearer not.a.jwt" },
    });
    expect([bad.status, ((await bad.json()) as { code: string }).code]).toEqual([401, "invalid_jwt"]);
  });

  test("the service role makes the schema and its policies (/query and /policy)", async () => {
    for (const s of [
      "CREATE TABLE teams (id bigserial PRIMARY KEY, name text NOT NULL)",
      "CREATE TABLE members (team_id bigint NOT NULL REFERENCES teams(id), user_id uuid NOT NULL, PRIMARY KEY (team_id, user_id))",
      "CREATE TABLE todos (id bigserial PRIMARY KEY, title text NOT NULL, done boolean NOT NULL DEFAULT false, owner uuid NOT NULL DEFAULT auth.uid(), team_id bigint REFERENCES teams(id))",
      "ALTER TABLE teams ENABLE ROW LEVEL SECURITY",
      "ALTER TABLE members ENABLE ROW LEVEL SECURITY",
      "ALTER TABLE todos ENABLE ROW LEVEL SECURITY",
    ]) {
      const r = await sql(serviceKey, s);
      expect([s, r.status]).toEqual([s, 200]);
    }
    const policies = [
      {
        table: "todos",
        name: "own todos",
        command: "all",
        roles: ["authenticated"],
        using: "owner = auth.uid()",
        check: "owner = auth.uid()",
      },
      {
        table: "members",
        name: "own memberships",
        command: "select",
        roles: ["authenticated"],
        using: "user_id = auth.uid()",
      },
      {
        table: "teams",
        name: "member teams",
        command: "select",
        roles: ["authenticated"],
        using: "id IN (SELECT team_id FROM members WHERE user_id = auth.uid())",
      },
    ];
    for (const p of policies) {
      const res = await fetch(`${url}/policy`, {
        method: "POST",
        headers: { apikey: serviceKey, authorization: `Bearer ${serviceKey}` },
        body: JSON.stringify(p),
      });
      expect([p.name, res.status]).toEqual([p.name, 201]);
    }
    const list = await fetch(`${url}/policy?table=todos`, { headers: { apikey: serviceKey } });
    expect(((await list.json()) as { name: string }[]).map((p) => p.name)).toEqual(["own todos"]);
    const refused = await fetch(`${url}/policy`, { headers: { apikey: anonKey } });
    expect(refused.status).toBe(403);
  });

  test("sign-up, login and refresh give sessions", async () => {
    service = createClient(url, serviceKey, noSession);
    const a = createClient(url, anonKey, noSession);
    const up = await a.auth.signUp({ email: "alice@example.com", password: "alice-password" });
    expect(up.error).toBeNull();
    const b = createClient(url, anonKey, noSession);
    expect((await b.auth.signUp({ email: "bob@example.com", password: "bob-password" })).error).toBeNull();
    alice = createClient(url, anonKey, noSession);
    const login = await alice.auth.signInWithPassword({ email: "alice@example.com", password: "alice-password" });
    expect(login.error).toBeNull();
    aliceId = login.data.user?.id as string;
    const refreshed = await alice.auth.refreshSession();
    expect(refreshed.error).toBeNull();
    expect(refreshed.data.session?.access_token).toBeString();
    expect(refreshed.data.session?.refresh_token).not.toBe(login.data.session?.refresh_token);
    aliceToken = refreshed.data.session?.access_token as string;
    bob = createClient(url, anonKey, noSession);
    const bl = await bob.auth.signInWithPassword({ email: "bob@example.com", password: "bob-password" });
    expect(bl.error).toBeNull();
    bobId = bl.data.user?.id as string;
    expect(aliceId).not.toBe(bobId);
  });

  test("CRUD with filters, order, range, count, single and upsert, as the owner", async () => {
    const { data: teams, error: te } = await service
      .from("teams")
      .insert([{ name: "red" }, { name: "blue" }])
      .select();
    expect(te).toBeNull();
    const red = (teams as { id: number; name: string }[]).find((t) => t.name === "red")?.id;
    expect((await service.from("members").insert({ team_id: red, user_id: aliceId })).error).toBeNull();

    const ins = await alice
      .from("todos")
      .insert([
        { title: "buy milk", team_id: red },
        { title: "call mum", team_id: null },
        { title: "write report", team_id: red },
      ])
      .select("id, title, owner");
    expect(ins.error).toBeNull();
    expect((ins.data as { owner: string }[]).map((r) => r.owner)).toEqual([aliceId, aliceId, aliceId]);
    expect((await bob.from("todos").insert({ title: "bob's secret" })).error).toBeNull();

    const page = await alice
      .from("todos")
      .select("title", { count: "exact" })
      .eq("done", false)
      .order("title", { ascending: false })
      .range(0, 1);
    expect(page.error).toBeNull();
    expect(page.data).toEqual([{ title: "write report" }, { title: "call mum" }]);
    expect(page.count).toBe(3);

    const filtered = await alice
      .from("todos")
      .select("title")
      .or("title.like.buy*,title.eq.call mum")
      .in("title", ["buy milk", "call mum", "x"])
      .order("title");
    expect(filtered.data).toEqual([{ title: "buy milk" }, { title: "call mum" }]);
    expect((await alice.from("todos").select("title").ilike("title", "%REPORT").neq("done", true)).data).toEqual([
      { title: "write report" },
    ]);

    const one = await alice.from("todos").select("id, title").eq("title", "call mum").single();
    expect(one.error).toBeNull();
    expect((one.data as { title: string }).title).toBe("call mum");
    const none = await alice.from("todos").select("id").eq("title", "nothing").maybeSingle();
    expect([none.data, none.error]).toEqual([null, null]);
    const many = await alice.from("todos").select("id").single();
    expect(many.error?.code).toBe("PGRST116");

    const id = (one.data as { id: number }).id;
    const up = await alice
      .from("todos")
      .upsert({ id, title: "call mum today", done: true })
      .select("title, done")
      .single();
    expect(up.error).toBeNull();
    expect(up.data).toEqual({ title: "call mum today", done: true });
    const patched = await alice.from("todos").update({ done: false }).eq("id", id).select("done");
    expect(patched.data).toEqual([{ done: false }]);
    const del = await alice.from("todos").delete({ count: "exact" }).eq("title", "write report");
    expect([del.error, del.count]).toEqual([null, 1]);
  });

  test("embedding follows the policies of every table it reaches", async () => {
    const todos = await alice.from("todos").select("title, teams(name)").order("title");
    expect(todos.error).toBeNull();
    // Many-to-one embeds are objects (supabase-js types them as arrays without a generated schema).
    expect(todos.data as unknown).toEqual([
      { title: "buy milk", teams: { name: "red" } },
      { title: "call mum today", teams: null },
    ]);
    const teams = await alice.from("teams").select("name, todos(title)");
    expect(teams.data).toEqual([{ name: "red", todos: [{ title: "buy milk" }] }]);
    // Bob is in no team: he sees no teams, and his todo's team is not revealed.
    expect((await bob.from("teams").select("name")).data).toEqual([]);
  });

  test("one user can neither see nor change another's rows, through REST or /query", async () => {
    expect((await bob.from("todos").select("title")).data).toEqual([{ title: "bob's secret" }]);
    const changed = await bob.from("todos").update({ title: "hacked" }).neq("owner", bobId).select();
    expect([changed.error, changed.data]).toEqual([null, []]);
    const removed = await bob.from("todos").delete().neq("owner", bobId).select();
    expect(removed.data).toEqual([]);
    const stolen = await bob.from("todos").insert({ title: "planted", owner: aliceId });
    expect(stolen.error?.code).toBe("42501");
    expect(stolen.status).toBe(403);

    const bobToken = (await bob.auth.getSession()).data.session?.access_token as string;
    const q = await sql(anonKey, "SELECT count(*) FROM todos", [], bobToken);
    expect(q.body.rows).toEqual([[1]]);
    const u = await sql(anonKey, "UPDATE todos SET title = 'hacked' WHERE owner <> auth.uid()", [], bobToken);
    expect([u.status, u.body.rowCount]).toEqual([200, 0]);
    const mine = await sql(anonKey, "SELECT title FROM todos ORDER BY title", [], aliceToken);
    expect(mine.body.rows).toEqual([["buy milk"], ["call mum today"]]);
  });

  test("anon sees nothing and cannot write; the service role sees all", async () => {
    const anon = createClient(url, anonKey, noSession);
    expect((await anon.from("todos").select("title")).data).toEqual([]);
    const w = await anon.from("todos").insert({ title: "anon", owner: aliceId });
    expect([w.status, w.error?.code]).toEqual([401, "42501"]);
    const all = await service.from("todos").select("title", { count: "exact" }).order("title");
    expect(all.count).toBe(3);
    expect((all.data as { title: string }[]).map((r) => r.title)).toEqual([
      "bob's secret",
      "buy milk",
      "call mum today",
    ]);
    const schema = await fetch(`${url}/schema`, { headers: { apikey: anonKey } });
    const body = (await schema.json()) as { tables: { name: string; rls: { enabled: boolean }; policies?: unknown }[] };
    expect(body.tables.find((t) => t.name === "todos")?.rls.enabled).toBe(true);
    expect(body.tables.find((t) => t.name === "todos")?.policies).toBeUndefined();
  });

  test("rpc of a function that does not exist answers 404 PGRST202 (rpc itself: supabase-rpc.test.ts)", async () => {
    const r = await createClient(url, anonKey, noSession).rpc("anything");
    expect([r.status, r.error?.code]).toEqual([404, "PGRST202"]);
  });
});
