// Splitting SQL text at top-level semicolons, for the shell and for migration files.
import { expect, test } from "bun:test";
import { isBlank, splitStatements } from "../../../src/db/script.ts";

test("statements split at semicolons and report the line they start on", () => {
  expect(splitStatements("SELECT 1;\n\nSELECT\n  2;  SELECT 3")).toEqual({
    statements: [
      { text: "SELECT 1", line: 1 },
      { text: "SELECT\n  2", line: 3 },
    ],
    rest: "  SELECT 3",
  });
});

test("a semicolon inside quotes, dollar quotes or comments does not end a statement", () => {
  const text = "INSERT INTO t VALUES ('a;''b', \"c;d\", $$e;f$$, $x$g;h$x$); -- i;j\n/* k;\n l */ SELECT 1;";
  expect(splitStatements(text).statements).toEqual([
    { text: "INSERT INTO t VALUES ('a;''b', \"c;d\", $$e;f$$, $x$g;h$x$)", line: 1 },
    { text: "-- i;j\n/* k;\n l */ SELECT 1", line: 1 },
  ]);
});

test("an unfinished quote keeps the rest of the text in one unfinished statement", () => {
  expect(splitStatements("SELECT 'abc;\ndef;")).toEqual({ statements: [], rest: "SELECT 'abc;\ndef;" });
});

test("statements of only comments are dropped, and blank rests are recognised", () => {
  expect(splitStatements("-- nothing;\n;").statements).toEqual([]);
  expect(isBlank("  -- comment\n /* more */ ")).toBe(true);
  expect(isBlank("SELECT")).toBe(false);
});
