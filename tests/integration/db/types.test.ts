// Postgres types over SQLite: values in (literals and parameters) and out (converted by type).
import { expect, test } from "bun:test";
import { describeOnEveryStore, failureOf, run } from "../../helpers/engine.ts";

describeOnEveryStore("types", (fx) => {
  test("booleans come back as true/false, whatever form went in", async () => {
    await run(fx.engine, "CREATE TABLE t (id int, b boolean)");
    await fx.engine.query("INSERT INTO t VALUES (1, true), (2, 'f'), (3, $1), (4, $2)", [true, "yes"]);
    expect((await fx.engine.query("SELECT b FROM t ORDER BY id")).rows).toEqual([[true], [false], [true], [true]]);
    expect((await fx.engine.query("SELECT id FROM t WHERE NOT b")).rows).toEqual([[2]]);
  });

  test("jsonb is parsed on the way out, and -> / ->> reach inside", async () => {
    await run(fx.engine, "CREATE TABLE t (doc jsonb)");
    await fx.engine.query("INSERT INTO t VALUES ($1)", [{ a: { b: [1, 2] }, s: "x" }]);
    expect(await fx.engine.query("SELECT doc, doc -> 'a' -> 'b', doc ->> 's' FROM t")).toEqual({
      command: "SELECT 1",
      columns: [
        { name: "doc", type: "jsonb" },
        { name: "?column?", type: "jsonb" },
        { name: "?column?", type: "text" },
      ],
      rows: [[{ a: { b: [1, 2] }, s: "x" }, [1, 2], "x"]],
      rowCount: 1,
    });
    expect((await failureOf(fx.engine.query("INSERT INTO t VALUES ('{bad')")))[0]).toBe("22P02");
  });

  test("bigint keeps integers past 2^53 exact", async () => {
    await run(fx.engine, "CREATE TABLE t (n bigint)", "INSERT INTO t VALUES (9007199254740993)");
    await fx.engine.query("INSERT INTO t VALUES ($1)", [9007199254740995n]);
    expect((await fx.engine.query("SELECT n FROM t ORDER BY n")).rows).toEqual([[9007199254740993n], [9007199254740995n]]);
  });

  test("uuid values are checked and lower-cased, and gen_random_uuid() makes version-4 ones", async () => {
    await run(fx.engine, "CREATE TABLE t (id uuid DEFAULT gen_random_uuid(), v int)", "INSERT INTO t (v) VALUES (1)");
    await fx.engine.query("INSERT INTO t VALUES ($1, 2)", ["A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11"]);
    const r = (await fx.engine.query("SELECT id FROM t ORDER BY v")).rows;
    expect(r[0]![0]).toMatch(/^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$/);
    expect(r[1]).toEqual(["a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11"]);
  });

  test("timestamptz is kept in UTC, printed as Postgres prints it (+00, no trailing zeros), and compares in time order", async () => {
    await run(fx.engine, "CREATE TABLE t (at timestamptz, made timestamptz DEFAULT now())");
    await fx.engine.query("INSERT INTO t (at) VALUES ('2024-05-01 12:00:00+02'), ($1)", [new Date("2024-05-01T09:30:00.250Z")]);
    expect((await fx.engine.query("SELECT at FROM t ORDER BY at")).rows).toEqual([
      ["2024-05-01 09:30:00.25+00"],
      ["2024-05-01 10:00:00+00"],
    ]);
    expect((await fx.engine.query("SELECT count(*) FROM t WHERE made > '2020-01-01'::timestamptz")).rows).toEqual([[2]]);
  });

  test("casts of literals are checked like Postgres's input functions", async () => {
    expect((await fx.engine.query("SELECT '12'::int + 1, '2.5'::numeric, 'on'::boolean, 42::text")).rows).toEqual([[13, 2.5, true, "42"]]);
    expect(await failureOf(fx.engine.query("SELECT 'abc'::int"))).toEqual(["22P02", 'invalid input syntax for type integer: "abc"', 8]);
    expect(await failureOf(fx.engine.query("SELECT '99999999999'::int"))).toEqual([
      "22003",
      'value "99999999999" is out of range for type integer',
      8,
    ]);
  });

  test("a parameter takes the type of the column it is compared with", async () => {
    await run(fx.engine, "CREATE TABLE t (n int, ok boolean)", "INSERT INTO t VALUES (5, true)");
    expect((await fx.engine.query("SELECT n FROM t WHERE n = $1 AND ok = $2", ["5", true])).rows).toEqual([[5]]);
    expect((await failureOf(fx.engine.query("SELECT n FROM t WHERE n = $1", ["five"])))[0]).toBe("22P02");
  });

  test("the wrong number of parameters is 08P01", async () => {
    expect(await failureOf(fx.engine.query("SELECT $1::int, $2::int", [1]))).toEqual([
      "08P01",
      'bind message supplies 1 parameters, but prepared statement "" requires 2',
      0,
    ]);
  });

  test("varchar(n) and char(n) refuse longer values with 22001", async () => {
    await run(fx.engine, "CREATE TABLE t (a varchar(3), b char(2))", "INSERT INTO t VALUES ('abc', 'xy')");
    expect(await failureOf(fx.engine.query("INSERT INTO t VALUES ('abcd', 'x')"))).toEqual([
      "22001",
      "value too long for type character varying(3)",
      0,
    ]);
    expect(await failureOf(fx.engine.query("UPDATE t SET b = 'xyz'"))).toEqual(["22001", "value too long for type character(2)", 0]);
  });

  test("EXTRACT and date_trunc read timestamptz values", async () => {
    await run(fx.engine, "CREATE TABLE t (at timestamptz)", "INSERT INTO t VALUES ('2024-05-01 12:34:56.789+02')");
    expect(
      (await fx.engine.query("SELECT EXTRACT(YEAR FROM at), EXTRACT(hour FROM at), EXTRACT(epoch FROM at), date_trunc('hour', at) FROM t")).rows,
    ).toEqual([[2024, 10, 1714559696.789, "2024-05-01 10:00:00+00"]]);
  });

  test("a timestamptz plus or minus a literal interval moves by calendar units", async () => {
    await run(fx.engine, "CREATE TABLE t (at timestamptz)", "INSERT INTO t VALUES ('2024-05-01 12:00:00+00')");
    expect(
      (await fx.engine.query("SELECT at - interval '1 day', at + '2 hours 30 minutes'::interval, at + interval '1 mon', at - INTERVAL '3' DAY FROM t")).rows,
    ).toEqual([["2024-04-30 12:00:00+00", "2024-05-01 14:30:00+00", "2024-06-01 12:00:00+00", "2024-04-28 12:00:00+00"]]);
    expect(await failureOf(fx.engine.query("SELECT interval '1 fortnight'"))).toEqual([
      "22007",
      'invalid input syntax for type interval: "1 fortnight"',
      17,
    ]);
  });

  test("jsonb paths (#>, #>>) and key existence (?) read inside documents", async () => {
    await run(fx.engine, "CREATE TABLE t (doc jsonb)", `INSERT INTO t VALUES ('{"a": {"b": [10, 20]}, "k": null}')`);
    expect((await fx.engine.query("SELECT doc #> '{a,b}', doc #>> '{a,b,1}', doc ? 'k', doc ? 'zz' FROM t")).rows).toEqual([
      [[10, 20], "20", true, false],
    ]);
  });

  test("a relation's name is its whole row as JSON, for json_agg, row_to_json and to_jsonb", async () => {
    await run(
      fx.engine,
      "CREATE TABLE t (id int, ok boolean, doc jsonb)",
      `INSERT INTO t VALUES (1, true, '{"a": [1]}'), (2, NULL, NULL)`,
    );
    expect((await fx.engine.query("SELECT json_agg(t) FROM t")).rows).toEqual([
      [
        [
          { id: 1, ok: true, doc: { a: [1] } },
          { id: 2, ok: null, doc: null },
        ],
      ],
    ]);
    expect((await fx.engine.query("SELECT row_to_json(x), to_jsonb(x.ok) FROM t x WHERE id = 1")).rows).toEqual([
      [{ id: 1, ok: true, doc: { a: [1] } }, true],
    ]);
    expect((await fx.engine.query("SELECT jsonb_build_object('doc', doc, 'ok', ok) FROM t WHERE id = 1")).rows).toEqual([
      [{ doc: { a: [1] }, ok: true }],
    ]);
  });

  test("numeric(p,s) rounds values written to it to s places", async () => {
    await run(fx.engine, "CREATE TABLE t (id int, price numeric(10,2))", "INSERT INTO t VALUES (1, 19.999), (2, NULL)");
    await fx.engine.query("INSERT INTO t VALUES (3, $1)", [2.345]);
    expect((await fx.engine.query("UPDATE t SET price = price * 1.111 WHERE id = 1 RETURNING price")).rows).toEqual([[22.22]]);
    expect((await fx.engine.query("SELECT id, price FROM t ORDER BY id")).rows).toEqual([
      [1, 22.22],
      [2, null],
      [3, 2.35],
    ]);
  });

  test("a placeholder with no parameters at all is 42P02 at its position, as in a plain Postgres query", async () => {
    expect(await failureOf(fx.engine.query("SELECT 1, $1::int"))).toEqual(["42P02", "there is no parameter $1", 11]);
  });

  test("timestamp minus timestamp is an interval printed as Postgres prints it, and EXTRACT(epoch) reads it", async () => {
    await run(
      fx.engine,
      "CREATE TABLE t (a timestamptz, b timestamptz, d date)",
      "INSERT INTO t VALUES ('2024-05-02 14:00:00.5+00', '2024-05-01 12:00:00+00', '2024-05-03'), ('2024-05-01 12:00:05+00', '2024-05-01 12:00:10+00', NULL)",
    );
    expect(await fx.engine.query("SELECT a - b, EXTRACT(epoch FROM a - b), a - b > interval '1 hour', d - '2024-05-01'::date FROM t")).toEqual({
      command: "SELECT 2",
      columns: [
        { name: "?column?", type: "interval" },
        { name: "extract", type: "numeric" },
        { name: "?column?", type: "bool" },
        { name: "?column?", type: "int4" },
      ],
      rows: [
        ["1 day 02:00:00.5", 93600.5, true, 2],
        ["-00:00:05", -5, false, null],
      ],
      rowCount: 2,
    });
  });

  test("a string literal compared with a typed column takes the column's type, as in Postgres", async () => {
    await run(
      fx.engine,
      "CREATE TABLE t (id uuid, flag boolean, at timestamptz, n int)",
      "INSERT INTO t VALUES ('a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', true, '2024-05-01 10:00:00+00', 5)",
    );
    expect(
      (
        await fx.engine.query(
          "SELECT n FROM t WHERE flag = 't' AND id = 'A0EEBC99-9C0B-4EF8-BB6D-6BB9BD380A11' AND at = '2024-05-01 12:00:00+02' AND flag IN ('yes', 'no')",
        )
      ).rows,
    ).toEqual([[5]]);
    expect(await failureOf(fx.engine.query("SELECT n FROM t WHERE n = 'x'"))).toEqual([
      "22P02",
      'invalid input syntax for type integer: "x"',
      27,
    ]);
  });
});
