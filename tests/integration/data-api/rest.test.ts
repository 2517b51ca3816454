// The data API in-process on a real temp database: PostgREST statuses for SQL errors, /query's
// refusal of an open transaction, and concurrent requests whose statements never interleave.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type Harness, harness } from "./harness.ts";

let h: Harness;
beforeAll(async () => {
  h = await harness([
    "CREATE TABLE teams (id bigserial PRIMARY KEY, name text NOT NULL UNIQUE)",
    "CREATE TABLE todos (id bigserial PRIMARY KEY, title text NOT NULL, team_id bigint REFERENCES teams(id))",
    "INSERT INTO teams (name) VALUES ('red')",
  ]);
});
afterAll(() => h.close());

const post = (path: string, body: unknown, prefer = "return=representation") =>
  h.fetch(path, {
    method: "POST",
    body: JSON.stringify(body),
    headers: { prefer, "content-type": "application/json" },
  });

describe("errors as PostgREST answers them", () => {
  test("a unique violation is 409 23505 and a foreign-key violation 409 23503", async () => {
    const dup = await post("/rest/v1/teams", { name: "red" });
    expect([dup.status, ((await dup.json()) as { code: string }).code]).toEqual([409, "23505"]);
    const fk = await post("/rest/v1/todos", { title: "x", team_id: 99 });
    expect([fk.status, ((await fk.json()) as { code: string }).code]).toEqual([409, "23503"]);
  });

  test("single() on a write that returns two rows is 406 and the write is undone", async () => {
    const r = await h.fetch("/rest/v1/todos", {
      method: "POST",
      body: JSON.stringify([{ title: "a" }, { title: "b" }]),
      headers: { prefer: "return=representation", accept: "application/vnd.pgrst.object+json" },
    });
    expect([r.status, ((await r.json()) as { code: string }).code]).toEqual([406, "PGRST116"]);
    expect((await h.owner.query("SELECT count(*) FROM todos")).rows).toEqual([[0]]);
  });
});

describe("/query", () => {
  test("SQL that leaves a transaction open is rolled back and refused", async () => {
    const r = await h.fetch("/query", {
      method: "POST",
      body: JSON.stringify({ sql: "BEGIN; INSERT INTO teams (name) VALUES ('blue')" }),
    });
    expect(r.status).toBe(400);
    expect((await h.owner.query("SELECT count(*) FROM teams WHERE name = 'blue'")).rows).toEqual([[0]]);
  });

  test("an SQL error is 400 with its sqlstate and position", async () => {
    const r = await h.fetch("/query", { method: "POST", body: JSON.stringify({ sql: "SELECT nope FROM teams" }) });
    const body = (await r.json()) as { error: { sqlstate: string; position: number } };
    expect([r.status, body.error.sqlstate, body.error.position]).toEqual([400, "42703", 8]);
  });
});

describe("concurrency", () => {
  test("fifty concurrent writes with representation and reads with counts keep each request's statements together", async () => {
    const writes = Array.from({ length: 50 }, (_, i) =>
      post("/rest/v1/todos?select=id,title,team:teams(name)", { title: `t${i}`, team_id: 1 }),
    );
    const reads = Array.from({ length: 50 }, () =>
      h.fetch("/rest/v1/todos?select=id", { headers: { prefer: "count=exact" } }),
    );
    const done = await Promise.all([...writes, ...reads]);
    expect(done.map((r) => r.status).sort()).toEqual([...Array(50).fill(200), ...Array(50).fill(201)]);
    for (const r of done.slice(0, 50))
      expect(((await r.json()) as { team: unknown }[])[0]?.team).toEqual({ name: "red" });
    for (const r of done.slice(50)) {
      // Each read's count was taken in the same transaction as its rows.
      const rows = (await r.json()) as unknown[];
      expect(r.headers.get("content-range")).toBe(rows.length === 0 ? "*/0" : `0-${rows.length - 1}/${rows.length}`);
    }
    expect((await h.owner.query("SELECT count(*) FROM todos")).rows).toEqual([[50]]);
  });
});

describe("JSON paths and casts", () => {
  test("select, filter and order through jsonb: -> answers JSON, ->> text, :: casts; as PostgREST names them", async () => {
    await h.owner.query("CREATE TABLE events (id bigint PRIMARY KEY, data jsonb)");
    await h.owner.query(`INSERT INTO events VALUES
      (1, '{"kind": "click", "n": 2, "ok": true, "user": {"name": "ann", "tags": ["a", "b"]}}'),
      (2, '{"kind": "view", "n": 10, "ok": false, "user": {"name": "bo", "tags": []}}'),
      (3, '{"kind": "click", "n": 7, "user": null}')`);
    const get = async (q: string) => {
      const r = await h.fetch(`/rest/v1/events?${q}`);
      return [r.status, await r.json()];
    };
    expect(
      await get("select=id,data->>kind,data->n,data->>ok,who:data->user->>name,first:data->user->tags->0&order=id"),
    ).toEqual([
      200,
      [
        { id: 1, kind: "click", n: 2, ok: "true", who: "ann", first: "a" },
        { id: 2, kind: "view", n: 10, ok: "false", who: "bo", first: null },
        { id: 3, kind: "click", n: 7, ok: null, who: null, first: null },
      ],
    ]);
    // ->> is text: compare as text, or cast for numbers
    expect(await get("select=id&data->>kind=eq.click&order=data->>n.desc")).toEqual([200, [{ id: 3 }, { id: 1 }]]);
    expect(await get("select=id,n:data->>n::int&or=(data->>kind.eq.view,data->user->>name.eq.ann)&order=id")).toEqual([
      200,
      [
        { id: 1, n: 2 },
        { id: 2, n: 10 },
      ],
    ]);
    expect(await get("select=id&data->>n=in.(2,7)&order=id")).toEqual([200, [{ id: 1 }, { id: 3 }]]);
    // as in Postgres: -> of a JSON null is the JSON null (not NULL); ->> of it is NULL
    expect(await get("select=id&data->user=is.null")).toEqual([200, []]);
    expect(await get("select=id&data->>user=is.null")).toEqual([200, [{ id: 3 }]]);
    // a path into a column that is not there, or a type that is not one
    const [s1, b1] = await get("select=nope->>a");
    expect([s1, (b1 as { code: string }).code]).toEqual([400, "42703"]);
    const [s2, b2] = await get("select=id::nosuchtype");
    expect([s2, (b2 as { code: string; message: string }).code, (b2 as { message: string }).message]).toEqual([
      400,
      "42704",
      'type "nosuchtype" does not exist',
    ]);
  });
});
