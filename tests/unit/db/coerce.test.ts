// Values into Postgres types: text input checked like Postgres's input functions, and JS
// parameters converted to the storage form cave keeps for each type.
import { expect, test } from "bun:test";
import { DbError } from "../../../src/db/errors.ts";
import { coerceParam, formatTimestamp, fromText } from "../../../src/db/plan/coerce.ts";

function errorOf(f: () => unknown): [string, string] {
  try {
    f();
  } catch (e) {
    if (e instanceof DbError) return [e.sqlstate, e.message];
    throw e;
  }
  throw new Error("expected an error");
}

test("integers are range-checked per type and exact past 2^53", () => {
  expect(fromText("int4", " 42 ")).toBe(42);
  expect(fromText("int8", "9007199254740993")).toBe(9007199254740993n);
  expect(errorOf(() => fromText("int2", "40000"))).toEqual(["22003", 'value "40000" is out of range for type smallint']);
  expect(errorOf(() => fromText("int4", "4.5"))).toEqual(["22P02", 'invalid input syntax for type integer: "4.5"']);
});

test("booleans accept Postgres's spellings and nothing else", () => {
  expect(["t", "TRUE", "yes", "on", "1", "f", "false", "no", "off", "0"].map((s) => fromText("bool", s))).toEqual([1, 1, 1, 1, 1, 0, 0, 0, 0, 0]);
  expect(errorOf(() => fromText("bool", "maybe"))).toEqual(["22P02", 'invalid input syntax for type boolean: "maybe"']);
});

test("uuids are normalised to lower case with hyphens", () => {
  expect(fromText("uuid", "{A0EEBC999C0B4EF8BB6D6BB9BD380A11}")).toBe("a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11");
  expect(errorOf(() => fromText("uuid", "a0ee"))).toEqual(["22P02", 'invalid input syntax for type uuid: "a0ee"']);
});

test("timestamptz is converted to UTC with the +00 suffix", () => {
  expect(fromText("timestamptz", "2024-05-01 12:00:00+02")).toBe("2024-05-01 10:00:00.000+00");
  expect(fromText("timestamptz", "2024-05-01")).toBe("2024-05-01 00:00:00.000+00");
  expect(fromText("timestamp", "2024-05-01T08:30:00.5")).toBe("2024-05-01 08:30:00.500");
  expect(formatTimestamp(new Date(Date.UTC(2001, 1, 3, 4, 5, 6, 7)))).toBe("2001-02-03 04:05:06.007+00");
  expect(errorOf(() => fromText("timestamptz", "yesterday-ish"))).toEqual([
    "22P02",
    'invalid input syntax for type timestamp with time zone: "yesterday-ish"',
  ]);
});

test("jsonb input is validated and normalised, json input kept as written", () => {
  expect(fromText("jsonb", '{ "a" : [1, 2] }')).toBe('{"a":[1,2]}');
  expect(fromText("json", '{ "a" : 1 }')).toBe('{ "a" : 1 }');
  expect(errorOf(() => fromText("jsonb", "{a"))).toEqual(["22P02", 'invalid input syntax for type json: "{a"']);
});

test("parameters are converted by the type they were inferred to have", () => {
  expect(coerceParam(true, "bool", 1)).toBe(1);
  expect(coerceParam("off", "bool", 1)).toBe(0);
  expect(coerceParam({ a: 1 }, "jsonb", 1)).toBe('{"a":1}');
  expect(coerceParam(7, "text", 1)).toBe("7");
  expect(coerceParam(new Date(Date.UTC(2020, 0, 1)), "", 1)).toBe("2020-01-01 00:00:00.000+00");
  expect(coerceParam(undefined, "int4", 1)).toBe(null);
  expect(coerceParam(12n, "int8", 1)).toBe(12n);
  expect(errorOf(() => coerceParam(1.5, "int4", 1))).toEqual(["22P02", 'invalid input syntax for type integer: "1.5"']);
});
