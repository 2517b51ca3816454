// The corpus's statements, cut and spliced at random (fixed seed), through the engine: every
// outcome is a result or a DbError with a specific SQLSTATE — never a crash, never XX000.
import { existsSync, readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, expect, test } from "bun:test";
import { Engine } from "../../src/db/engine.ts";
import { DbError } from "../../src/db/errors.ts";
import { openStore } from "../../src/db/store/index.ts";
import { collectFiles, parseSlt } from "./slt.ts";

const CORPUS = process.env.CAVE_SLT_CORPUS ?? join(import.meta.dir, "../../../shared/corpus/sqllogictest");
const TOKENS = ["(", ")", ",", "'", "NULL", "SELECT", "FROM", "::int", "::jsonb", "->", "$1", "*", "-", "||", "ORDER BY 1", "GROUP BY", "OVER ()", "DISTINCT", "CASE", "END", "AND", "NOT", "IN", "1e999", "9223372036854775808", "t1", ";", "UNION", "LIMIT -1", "RETURNING *"];

describe.skipIf(!existsSync(CORPUS))(`mutated statements from ${CORPUS} (skipped when absent)`, () => {
  test("every mutated statement ends in a result or a DbError that is not XX000", async () => {
    let seed = 12345;
    const rnd = () => (seed = (seed * 1103515245 + 12345) & 0x7fffffff) / 0x7fffffff;
    const mutate = (sql: string) => {
      const w = sql.split(/(\s+)/);
      const i = Math.floor(rnd() * w.length);
      const k = rnd();
      if (k < 0.33) w.splice(i, 1);
      else if (k < 0.66) w.splice(i, 0, ` ${TOKENS[Math.floor(rnd() * TOKENS.length)]} `);
      else w.length = i;
      return w.join("");
    };
    const bad: string[] = [];
    for (const f of collectFiles([join(CORPUS, "evidence"), join(CORPUS, "select1.test")])) {
      const engine = await Engine.open(openStore(":memory:"));
      try {
        for (const r of parseSlt(readFileSync(f, "utf8"))) {
          if (!r.sql) continue;
          for (const sql of [r.sql, mutate(r.sql), mutate(r.sql)]) {
            try {
              await engine.query(sql, sql.includes("$1") ? [1] : []);
            } catch (e) {
              if (!(e instanceof DbError)) bad.push(`not a DbError: ${String(e)} :: ${sql}`);
              else if (e.sqlstate === "XX000") bad.push(`XX000 ${e.message} :: ${sql}`);
            }
          }
        }
      } finally {
        engine.close();
      }
    }
    expect(bad).toEqual([]);
  }, 120_000);
});
