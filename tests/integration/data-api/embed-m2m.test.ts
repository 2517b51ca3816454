// Many-to-many embedding through a junction table, as PostgREST does it: the junction's primary
// key holds a foreign key to each side (films ↔ actors through roles), the embed is an array,
// filters, order, limit and !inner work on it, a hint names the junction, a second path between
// the same tables makes it ambiguous (300), and the junction's own policies apply under RLS.
import { afterAll, beforeAll, describe, expect, test } from "bun:test";
import { type Harness, harness } from "./harness.ts";

let h: Harness;
beforeAll(async () => {
  h = await harness([
    "CREATE TABLE actors (id bigint PRIMARY KEY, name text NOT NULL)",
    "CREATE TABLE films (id bigint PRIMARY KEY, title text NOT NULL)",
    // the junction: both keys in its primary key, and a column of its own
    `CREATE TABLE roles (film_id bigint REFERENCES films(id), actor_id bigint REFERENCES actors(id),
       character text NOT NULL, PRIMARY KEY (film_id, actor_id))`,
    "INSERT INTO actors VALUES (1, 'Ada'), (2, 'Bo'), (3, 'Cy')",
    "INSERT INTO films VALUES (1, 'Alpha'), (2, 'Beta'), (3, 'Gamma')",
    "INSERT INTO roles VALUES (1, 1, 'hero'), (1, 2, 'villain'), (2, 2, 'sidekick')",
    // two paths between projects and people: a direct key and a junction
    "CREATE TABLE people (id bigint PRIMARY KEY, name text NOT NULL)",
    "CREATE TABLE projects (id bigint PRIMARY KEY, name text NOT NULL, owner_id bigint REFERENCES people(id))",
    `CREATE TABLE assignments (project_id bigint REFERENCES projects(id), person_id bigint REFERENCES people(id),
       PRIMARY KEY (project_id, person_id))`,
    "INSERT INTO people VALUES (1, 'Pat'), (2, 'Quinn')",
    "INSERT INTO projects VALUES (1, 'apollo', 1)",
    "INSERT INTO assignments VALUES (1, 1), (1, 2)",
    // a link table whose primary key is its own id is not a junction (PostgREST's rule)
    "CREATE TABLE posts (id bigint PRIMARY KEY, title text NOT NULL)",
    "CREATE TABLE tags (id bigint PRIMARY KEY, label text NOT NULL)",
    "CREATE TABLE post_tags (id bigint PRIMARY KEY, post_id bigint REFERENCES posts(id), tag_id bigint REFERENCES tags(id))",
    "INSERT INTO posts VALUES (1, 'hello')",
  ]);
});
afterAll(() => h.close());

// biome-ignore lint/suspicious/noExplicitAny: answers are checked whole
async function get(path: string, init: { role?: string; sub?: string } = {}): Promise<[number, any]> {
  const r = await h.fetch(path, init);
  return [r.status, await r.json()];
}

describe("many-to-many through a junction table", () => {
  test("films embed their actors, and actors their films, as arrays (empty where none)", async () => {
    expect(await get("/rest/v1/films?select=title,actors(name)&order=id&actors.order=name")).toEqual([
      200,
      [
        { title: "Alpha", actors: [{ name: "Ada" }, { name: "Bo" }] },
        { title: "Beta", actors: [{ name: "Bo" }] },
        { title: "Gamma", actors: [] },
      ],
    ]);
    expect(await get("/rest/v1/actors?select=name,films(title)&order=id&films.order=title.desc")).toEqual([
      200,
      [
        { name: "Ada", films: [{ title: "Alpha" }] },
        { name: "Bo", films: [{ title: "Beta" }, { title: "Alpha" }] },
        { name: "Cy", films: [] },
      ],
    ]);
  });

  test("the target's columns are not confused with the junction's: * and id come from actors", async () => {
    const [status, body] = await get("/rest/v1/films?select=id,actors(*)&id=eq.2");
    expect([status, body]).toEqual([200, [{ id: 2, actors: [{ id: 2, name: "Bo" }] }]]);
  });

  test("filters, limit and !inner apply to the embedded side; the junction is the hint", async () => {
    expect(await get("/rest/v1/films?select=title,actors(name)&order=id&actors.name=eq.Bo")).toEqual([
      200,
      [
        { title: "Alpha", actors: [{ name: "Bo" }] },
        { title: "Beta", actors: [{ name: "Bo" }] },
        { title: "Gamma", actors: [] },
      ],
    ]);
    expect(await get("/rest/v1/films?select=title,actors(name)&order=id&actors.order=name&actors.limit=1")).toEqual([
      200,
      [
        { title: "Alpha", actors: [{ name: "Ada" }] },
        { title: "Beta", actors: [{ name: "Bo" }] },
        { title: "Gamma", actors: [] },
      ],
    ]);
    expect(await get("/rest/v1/films?select=title,cast:actors!roles!inner(name)&order=id&cast.name=eq.Ada")).toEqual([
      200,
      [{ title: "Alpha", cast: [{ name: "Ada" }] }],
    ]);
  });

  test("an embed nested inside a many-to-many one: actors with their films' casts", async () => {
    const [status, body] = await get(
      "/rest/v1/actors?select=name,films(title,actors(name))&id=eq.3&order=id",
    );
    expect([status, body]).toEqual([200, [{ name: "Cy", films: [] }]]);
    const [s2, b2] = await get("/rest/v1/actors?select=name,films(title,actors(name))&id=eq.1&films.actors.order=name");
    expect([s2, b2]).toEqual([200, [{ name: "Ada", films: [{ title: "Alpha", actors: [{ name: "Ada" }, { name: "Bo" }] }] }]]);
  });

  test("a direct key and a junction between the same tables are ambiguous (300 PGRST201) until a hint picks one", async () => {
    const [status, body] = await get("/rest/v1/projects?select=name,people(name)");
    expect(status).toBe(300);
    expect(body.code).toBe("PGRST201");
    expect(body.hint).toBe("Try changing 'people' to one of: people!projects_owner_id_fkey, people!assignments");
    expect(await get("/rest/v1/projects?select=name,people!assignments(name)&people.order=name")).toEqual([
      200,
      [{ name: "apollo", people: [{ name: "Pat" }, { name: "Quinn" }] }],
    ]);
    expect(await get("/rest/v1/projects?select=name,people!owner_id(name)")).toEqual([
      200,
      [{ name: "apollo", people: { name: "Pat" } }],
    ]);
  });

  test("a link table whose primary key is not the two keys is no junction: PGRST200", async () => {
    const [status, body] = await get("/rest/v1/posts?select=title,tags(label)");
    expect([status, body.code]).toEqual([400, "PGRST200"]);
    // through the link table itself, as PostgREST users do then
    expect(await get("/rest/v1/posts?select=title,post_tags(tags(label))")).toEqual([200, [{ title: "hello", post_tags: [] }]]);
  });
});

describe("many-to-many under row-level security", () => {
  test("the junction's policies apply too: a user sees only the pairs the roles policy lets through", async () => {
    for (const stmt of [
      "ALTER TABLE films ENABLE ROW LEVEL SECURITY",
      "ALTER TABLE actors ENABLE ROW LEVEL SECURITY",
      "ALTER TABLE roles ENABLE ROW LEVEL SECURITY",
      "CREATE POLICY read_films ON films FOR SELECT TO authenticated USING (true)",
      "CREATE POLICY read_actors ON actors FOR SELECT TO authenticated USING (true)",
      // only the roles of film 1 are visible to users
      "CREATE POLICY read_roles ON roles FOR SELECT TO authenticated USING (film_id = 1)",
    ]) {
      await h.owner.query(stmt);
    }
    const user = { role: "authenticated", sub: "00000000-0000-0000-0000-000000000001" };
    expect(await get("/rest/v1/films?select=title,actors(name)&order=id&actors.order=name", user)).toEqual([
      200,
      [
        { title: "Alpha", actors: [{ name: "Ada" }, { name: "Bo" }] },
        { title: "Beta", actors: [] },
        { title: "Gamma", actors: [] },
      ],
    ]);
    expect(await get("/rest/v1/films?select=title,actors!inner(name)&order=id", user)).toEqual([
      200,
      [{ title: "Alpha", actors: [{ name: "Ada" }, { name: "Bo" }] }],
    ]);
    // anon has no policy on any of them: nothing at all
    expect(await get("/rest/v1/films?select=title,actors(name)", { role: "anon" })).toEqual([200, []]);
  });
});
