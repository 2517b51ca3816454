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

describe("db.max_rows", () => {
  const many = [
    "CREATE TABLE many (id bigint PRIMARY KEY)",
    "INSERT INTO many SELECT n FROM generate_series(1, 1205) AS n",
  ];
  const read = async (hh: Harness, path: string, headers: Record<string, string> = {}) => {
    const r = await hh.fetch(path, { headers });
    const rows = (await r.json()) as { id: number }[];
    return { status: r.status, n: rows.length, first: rows[0]?.id, range: r.headers.get("content-range") };
  };

  test("a read answers at most 1000 rows (Supabase's default), whatever limit or Range asks; count=exact tells the rest", async () => {
    const hh = await harness(many);
    try {
      expect(await read(hh, "/rest/v1/many?select=id&order=id")).toEqual({ status: 200, n: 1000, first: 1, range: "0-999/*" });
      expect(await read(hh, "/rest/v1/many?select=id&order=id", { prefer: "count=exact" })).toEqual({
        status: 206,
        n: 1000,
        first: 1,
        range: "0-999/1205",
      });
      expect(await read(hh, "/rest/v1/many?select=id&order=id&limit=5000")).toEqual({ status: 200, n: 1000, first: 1, range: "0-999/*" });
      expect(await read(hh, "/rest/v1/many?select=id&order=id&limit=5")).toEqual({ status: 200, n: 5, first: 1, range: "0-4/*" });
      expect(await read(hh, "/rest/v1/many?select=id&order=id&offset=1100")).toEqual({
        status: 200,
        n: 105,
        first: 1101,
        range: "1100-1204/*",
      });
      expect(await read(hh, "/rest/v1/many?select=id&order=id", { range: "0-1999" })).toEqual({
        status: 200,
        n: 1000,
        first: 1,
        range: "0-999/*",
      });
    } finally {
      hh.close();
    }
  });

  test("none lifts the cap, and a smaller one applies to rpc too", async () => {
    const open = await harness(many, { maxRows: null });
    try {
      expect((await read(open, "/rest/v1/many?select=id")).n).toBe(1205);
    } finally {
      open.close();
    }
    const small = await harness([...many, "CREATE FUNCTION evens() RETURNS SETOF many LANGUAGE sql STABLE AS $$ SELECT * FROM many WHERE id % 2 = 0 $$"], { maxRows: 10 });
    try {
      expect(await read(small, "/rest/v1/many?select=id&order=id.desc")).toEqual({ status: 200, n: 10, first: 1205, range: "0-9/*" });
      expect((await read(small, "/rest/v1/rpc/evens?order=id")).n).toBe(10);
    } finally {
      small.close();
    }
  });
});
