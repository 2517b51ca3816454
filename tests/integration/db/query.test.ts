// SELECT: joins, subqueries, CTEs, aggregates, windows, DISTINCT, set operations, ordering.
import { beforeEach, expect, test } from "bun:test";
import { describeOnEveryStore, failureOf, run } from "../../helpers/engine.ts";

describeOnEveryStore("SELECT", (fx) => {
  beforeEach(async () => {
    await run(
      fx.engine,
      "CREATE TABLE users (id int PRIMARY KEY, name text, team text)",
      "CREATE TABLE posts (id int PRIMARY KEY, user_id int, title text, likes int)",
      "INSERT INTO users VALUES (1, 'ann', 'red'), (2, 'bob', 'red'), (3, 'cy', 'blue')",
      "INSERT INTO posts VALUES (10, 1, 'a', 5), (11, 1, 'b', 3), (12, 2, 'c', 8), (13, 9, 'orphan', 1)",
    );
  });

  const rows = async (sql: string, params: unknown[] = []) => (await fx.engine.query(sql, params)).rows;

  test("inner, left, right and full joins keep the rows Postgres keeps", async () => {
    expect(await rows("SELECT u.name, p.title FROM users u JOIN posts p ON p.user_id = u.id ORDER BY p.id")).toEqual([
      ["ann", "a"],
      ["ann", "b"],
      ["bob", "c"],
    ]);
    expect(await rows("SELECT u.name, p.title FROM users u LEFT JOIN posts p ON p.user_id = u.id ORDER BY u.id, p.id")).toEqual([
      ["ann", "a"],
      ["ann", "b"],
      ["bob", "c"],
      ["cy", null],
    ]);
    expect(await rows("SELECT u.name, p.title FROM users u RIGHT JOIN posts p ON p.user_id = u.id ORDER BY p.id")).toEqual([
      ["ann", "a"],
      ["ann", "b"],
      ["bob", "c"],
      [null, "orphan"],
    ]);
    expect(await rows("SELECT u.name, p.title FROM users u FULL JOIN posts p ON p.user_id = u.id ORDER BY u.name, p.title")).toEqual([
      ["ann", "a"],
      ["ann", "b"],
      ["bob", "c"],
      ["cy", null],
      [null, "orphan"],
    ]);
  });

  test("correlated and uncorrelated subqueries, IN and EXISTS", async () => {
    expect(await rows("SELECT name, (SELECT count(*) FROM posts p WHERE p.user_id = u.id) FROM users u ORDER BY id")).toEqual([
      ["ann", 2],
      ["bob", 1],
      ["cy", 0],
    ]);
    expect(await rows("SELECT name FROM users WHERE id IN (SELECT user_id FROM posts WHERE likes > 4) ORDER BY name")).toEqual([
      ["ann"],
      ["bob"],
    ]);
    expect(await rows("SELECT name FROM users u WHERE NOT EXISTS (SELECT 1 FROM posts WHERE user_id = u.id)")).toEqual([["cy"]]);
  });

  test("a WITH query, and a recursive one", async () => {
    expect(await rows("WITH red AS (SELECT id FROM users WHERE team = 'red') SELECT count(*) FROM red")).toEqual([[2]]);
    expect(await rows("WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 4) SELECT i FROM n")).toEqual([
      [1],
      [2],
      [3],
      [4],
    ]);
  });

  test("aggregates with GROUP BY, HAVING, FILTER and ordered string_agg", async () => {
    expect(
      await rows(
        "SELECT team, count(*), string_agg(name, ',' ORDER BY name DESC), count(*) FILTER (WHERE name <> 'ann') FROM users GROUP BY team HAVING count(*) >= 1 ORDER BY team",
      ),
    ).toEqual([
      ["blue", 1, "cy", 1],
      ["red", 2, "bob,ann", 1],
    ]);
    expect(await rows("SELECT sum(likes), min(likes), max(likes), avg(likes) FROM posts")).toEqual([[17, 1, 8, 4.25]]);
  });

  test("window functions with PARTITION BY, ORDER BY and a named window", async () => {
    expect(
      await rows(
        "SELECT title, row_number() OVER (PARTITION BY user_id ORDER BY likes DESC), sum(likes) OVER w FROM posts WHERE user_id < 9 WINDOW w AS (ORDER BY id) ORDER BY id",
      ),
    ).toEqual([
      ["a", 1, 5],
      ["b", 2, 8],
      ["c", 1, 16],
    ]);
  });

  test("DISTINCT, UNION, INTERSECT and EXCEPT", async () => {
    expect(await rows("SELECT DISTINCT team FROM users ORDER BY team")).toEqual([["blue"], ["red"]]);
    expect(await rows("SELECT user_id FROM posts UNION SELECT id FROM users ORDER BY 1")).toEqual([[1], [2], [3], [9]]);
    expect(await rows("SELECT user_id FROM posts UNION ALL SELECT id FROM users ORDER BY 1 LIMIT 3")).toEqual([[1], [1], [1]]);
    expect(await rows("SELECT id FROM users INTERSECT SELECT user_id FROM posts ORDER BY 1")).toEqual([[1], [2]]);
    expect(await rows("SELECT id FROM users EXCEPT SELECT user_id FROM posts")).toEqual([[3]]);
  });

  test("ORDER BY puts NULLs last ascending and first descending, like Postgres", async () => {
    await run(fx.engine, "INSERT INTO users VALUES (4, NULL, NULL)");
    expect(await rows("SELECT name FROM users ORDER BY name")).toEqual([["ann"], ["bob"], ["cy"], [null]]);
    expect(await rows("SELECT name FROM users ORDER BY name DESC")).toEqual([[null], ["cy"], ["bob"], ["ann"]]);
    expect(await rows("SELECT name FROM users ORDER BY name NULLS FIRST LIMIT 2")).toEqual([[null], ["ann"]]);
  });

  test("LIMIT and OFFSET take parameters", async () => {
    expect(await rows("SELECT id FROM users ORDER BY id LIMIT $1 OFFSET $2", [1, 1])).toEqual([[2]]);
  });

  test("an output column alias can be used in ORDER BY and GROUP BY", async () => {
    expect(await rows("SELECT team AS t, count(*) AS n FROM users GROUP BY t ORDER BY n DESC")).toEqual([
      ["red", 2],
      ["blue", 1],
    ]);
  });

  test("ILIKE ignores case while LIKE does not", async () => {
    expect(await rows("SELECT name FROM users WHERE name ILIKE 'A%'")).toEqual([["ann"]]);
    expect(await rows("SELECT name FROM users WHERE name LIKE 'A%'")).toEqual([]);
  });

  test("ambiguous and unknown names are 42702 and 42703 with positions", async () => {
    expect(await failureOf(fx.engine.query("SELECT id FROM users, posts"))).toEqual(["42702", 'column reference "id" is ambiguous', 8]);
    expect(await failureOf(fx.engine.query("SELECT u.nope FROM users u"))).toEqual(["42703", "column u.nope does not exist", 8]);
    expect(await failureOf(fx.engine.query("SELECT x.id FROM users u"))).toEqual([
      "42P01",
      'missing FROM-clause entry for table "x"',
      8,
    ]);
  });

  test("aggregates in WHERE are 42803", async () => {
    expect(await failureOf(fx.engine.query("SELECT 1 FROM posts WHERE sum(likes) > 1"))).toEqual([
      "42803",
      "aggregate functions are not allowed in WHERE",
      27,
    ]);
  });

  test("an unknown function is 42883 with its argument types", async () => {
    expect(await failureOf(fx.engine.query("SELECT nope(1, 'a')"))).toEqual(["42883", "function nope(integer, unknown) does not exist", 8]);
  });

  test("a view over a join reads through", async () => {
    await run(fx.engine, "CREATE VIEW up AS SELECT u.name, p.title FROM users u JOIN posts p ON p.user_id = u.id");
    expect(await rows("SELECT count(*) FROM up WHERE name = 'ann'")).toEqual([[2]]);
  });

  test("DISTINCT ON keeps the first row of each key in ORDER BY order", async () => {
    expect(await rows("SELECT DISTINCT ON (user_id) user_id, title FROM posts ORDER BY user_id, likes DESC")).toEqual([
      [1, "a"],
      [2, "c"],
      [9, "orphan"],
    ]);
    expect(await rows("SELECT DISTINCT ON (1) user_id, title FROM posts ORDER BY 1, likes LIMIT 1")).toEqual([[1, "b"]]);
  });

  test("OFFSET … FETCH FIRST n ROWS ONLY limits like LIMIT", async () => {
    expect(await rows("SELECT id FROM users ORDER BY id OFFSET 1 ROWS FETCH FIRST 1 ROWS ONLY")).toEqual([[2]]);
  });

  test("a column neither grouped nor aggregated is 42803, unless its table's primary key is grouped", async () => {
    expect(await failureOf(fx.engine.query("SELECT team, name FROM users GROUP BY team"))).toEqual([
      "42803",
      'column "users.name" must appear in the GROUP BY clause or be used in an aggregate function',
      14,
    ]);
    expect(await rows("SELECT u.id, u.name, count(p.id) FROM users u LEFT JOIN posts p ON p.user_id = u.id GROUP BY u.id ORDER BY u.id")).toEqual([
      [1, "ann", 2],
      [2, "bob", 1],
      [3, "cy", 0],
    ]);
    expect(await rows("SELECT upper(team), count(*) FROM users GROUP BY upper(team) ORDER BY 1")).toEqual([
      ["BLUE", 1],
      ["RED", 2],
    ]);
  });

  test("= ANY($1) and <> ALL($1) take a JS array parameter", async () => {
    expect(await rows("SELECT id FROM users WHERE id = ANY($1) ORDER BY id", [[1, 3]])).toEqual([[1], [3]]);
    expect(await rows("SELECT id FROM users WHERE name <> ALL($1) ORDER BY id", [["ann"]])).toEqual([[2], [3]]);
    expect(await rows("SELECT id FROM users WHERE id > ANY($1) ORDER BY id", [[2]])).toEqual([[3]]);
    expect(await rows("SELECT id FROM users WHERE id = ANY (SELECT user_id FROM posts) ORDER BY id")).toEqual([[1], [2]]);
    expect((await failureOf(fx.engine.query("SELECT id FROM users WHERE id = ANY($1)", [5])))[0]).toBe("42804");
  });

  test("generate_series in FROM numbers rows, with Postgres's column naming", async () => {
    expect(await fx.engine.query("SELECT * FROM generate_series(1, 3)")).toEqual({
      command: "SELECT 3",
      columns: [{ name: "generate_series", type: "int4" }],
      rows: [[1], [2], [3]],
      rowCount: 3,
    });
    expect(await rows("SELECT sum(n) FROM generate_series(1, $1, 2) AS s(n)", [9])).toEqual([[25]]);
  });

  test("string functions written over SQLite's built-ins give Postgres's results", async () => {
    expect(
      await rows(
        "SELECT lpad('7', 3, '0'), lpad('hello', 3), rpad('ab', 5, 'xy'), starts_with('hello', 'he'), split_part('a,b,c', ',', 2), split_part('a,b', ',', 5), left('hello', 2), right('hello', 3), repeat('ab', 2), strpos('hello', 'l')",
      ),
    ).toEqual([["007", "hel", "abxyx", true, "b", "", "he", "llo", "abab", 3]]);
  });
});
