// A policy's USING / WITH CHECK as the user wrote them, found in the statement's text: GET
// /schema and /policy show these (the catalog also keeps the parsed form, which it plans with).
import { describe, expect, test } from "bun:test";
import { clauseText } from "../../../src/db/plan/ddl.ts";

const from = (sql: string) => sql.indexOf("POLICY") + 8;

describe("clauseText", () => {
  test.each([
    ["CREATE POLICY p ON t USING (owner = auth.uid()) WITH CHECK (x > (1))", "USING", "owner = auth.uid()"],
    ["CREATE POLICY p ON t USING (owner = auth.uid()) WITH CHECK (x > (1))", "WITH CHECK", "x > (1)"],
    // the keyword inside a string, a comment or a quoted name does not count
    [
      "CREATE POLICY \"using\" ON t FOR SELECT USING (name = 'a ) USING (' OR /* ) */ true) -- x",
      "USING",
      "name = 'a ) USING (' OR /* ) */ true",
    ],
    // dollar quotes, line breaks inside WITH CHECK, a subquery, a non-ASCII letter before it
    [
      "CREATE POLICY p ON t WITH\n CHECK ($$)$$ = 'é' AND team IN (SELECT team FROM m WHERE u = auth.uid()))",
      "WITH CHECK",
      "$$)$$ = 'é' AND team IN (SELECT team FROM m WHERE u = auth.uid())",
    ],
    ["ALTER POLICY p ON t USING (x = 1 -- no )\n)", "USING", "x = 1 -- no )"],
  ] as const)("%s → %s", (sql, clause, want) => {
    expect(clauseText(sql, from(sql), clause)).toBe(want);
  });

  test("stops at the end of its statement", () => {
    const sql = "CREATE POLICY p ON t USING (true); CREATE POLICY q ON t WITH CHECK (false)";
    expect(clauseText(sql, from(sql), "WITH CHECK")).toBeNull();
  });
});
