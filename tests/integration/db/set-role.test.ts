// SQL cannot switch a statement's role or claims: they come from the request's JWT (or it is the
// owner). A silent no-op would let a client believe it had switched, so the engine refuses.
import { expect, test } from "bun:test";
import { describeOnEveryStore } from "../../helpers/engine.ts";

const ROLE_CHANGES = [
  "SET ROLE service_role",
  "SET LOCAL ROLE anon",
  "SET SESSION AUTHORIZATION postgres",
  "SET role = 'service_role'",
  'SET request.jwt.claims = \'{"sub":"x"}\'',
];

async function sqlstateOf(run: () => Promise<unknown>): Promise<string | null> {
  try {
    await run();
    return null;
  } catch (e) {
    return (e as { sqlstate?: string }).sqlstate ?? "not a DbError";
  }
}

describeOnEveryStore("switching roles from SQL", (fx) => {
  test("is 42501 for a request role and 0A000 for the owner; other SETs stay accepted", async () => {
    const user = { auth: { role: "authenticated", claims: { sub: "b0000000-0000-4000-8000-000000000001" } } };
    for (const sql of ROLE_CHANGES) {
      expect({ sql, sqlstate: await sqlstateOf(() => fx.engine.query(sql, [], user)) }).toEqual({
        sql,
        sqlstate: "42501",
      });
      expect({ sql, sqlstate: await sqlstateOf(() => fx.engine.query(sql)) }).toEqual({ sql, sqlstate: "0A000" });
    }
    expect((await fx.engine.query("SET search_path = public", [], user)).command).toBe("SET");
    expect((await fx.engine.query("SET statement_timeout = 0")).command).toBe("SET");
  });
});
