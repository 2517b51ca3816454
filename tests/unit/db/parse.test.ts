// The parser front: Postgres-worded syntax errors with positions, and the WASM module loaded
// only when SQL is first parsed.
import { expect, test } from "bun:test";
import { DbError } from "../../../src/db/errors.ts";
import { parseSql, positionIn } from "../../../src/db/parse/parser.ts";

async function syntaxErrorOf(sql: string): Promise<[string, string, number, string]> {
  try {
    await parseSql(sql);
  } catch (e) {
    if (e instanceof DbError) return [e.sqlstate, e.message, e.position, e.code];
    throw e;
  }
  throw new Error("expected a syntax error");
}

test("a misspelt keyword is 42601 at or near the word, at its position", async () => {
  expect(await syntaxErrorOf("SELEC 1")).toEqual(["42601", 'syntax error at or near "SELEC"', 1, "DB_42601"]);
  expect(await syntaxErrorOf("SELECT a FROM t WHERE a = = 1")).toEqual(["42601", 'syntax error at or near "="', 27, "DB_42601"]);
});

test("a statement cut short is a syntax error at end of input", async () => {
  expect(await syntaxErrorOf("SELECT 1 +")).toEqual(["42601", "syntax error at end of input", 11, "DB_42601"]);
});

test("positions count characters across lines", () => {
  expect(positionIn("SELECT\n  x", { line: 2, column: 3 })).toBe(10);
  expect(positionIn("SELECT 'é', y", { line: 1, column: 13 })).toBe(13);
});

test("several statements parse into a list", async () => {
  expect((await parseSql("SELECT 1; SELECT 2;")).statements.length).toBe(2);
});

test("the WASM parser loads on the first parse, not on import", async () => {
  const code = `
    const wasm = await import(${JSON.stringify(`${import.meta.dir}/../../../src/db/parse/wasm.ts`)});
    await import(${JSON.stringify(`${import.meta.dir}/../../../src/db/engine.ts`)});
    const before = wasm.loadedParser() === null;
    const { parseSql } = await import(${JSON.stringify(`${import.meta.dir}/../../../src/db/parse/parser.ts`)});
    await parseSql("SELECT 1");
    console.log(JSON.stringify([before, wasm.loadedParser() !== null]));
  `;
  const p = Bun.spawnSync([process.execPath, "-e", code], { stderr: "pipe" });
  expect([p.exitCode, p.stdout.toString().trim(), p.stderr.toString()]).toEqual([0, "[true,true]", ""]);
});

test("a chain of operators too long for the parser's stack is 54001, and parsing goes on working", async () => {
  const chain = `SELECT ${Array.from({ length: 3000 }, (_, i) => i).join(" + ")}`;
  expect((await syntaxErrorOf(chain)).slice(0, 2)).toEqual(["54001", "stack depth limit exceeded"]);
  expect((await syntaxErrorOf(`SELECT ${"(".repeat(500)}1${")".repeat(500)}`)).slice(0, 2)).toEqual(["54001", "stack depth limit exceeded"]);
  expect((await parseSql("SELECT 1")).statements.length).toBe(1);
});

test("a statement that makes the WASM parser trap is 54001, and the next statement parses", async () => {
  // 900 postfix IS NULLs: short enough to pass the operator guard, deep enough to trap.
  expect((await syntaxErrorOf(`SELECT 1${" IS NULL".repeat(900)}`)).slice(0, 2)).toEqual(["54001", "stack depth limit exceeded"]);
  expect((await parseSql("SELECT 2")).statements.length).toBe(1);
});
